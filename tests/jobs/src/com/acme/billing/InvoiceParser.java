package com.acme.billing;

/**
 * The job's own code that fails: record numbers stand in for invoices, and every record after
 * the switch is "missing its amount". The throw below is the frame the bot must show
 * (com.acme.billing.InvoiceParser.parse(InvoiceParser.java:LINE)); keep it on its own line.
 */
final class InvoiceParser {
    private InvoiceParser() {}

    static long parse(long n, boolean broken) {
        if (broken) {
            throw new SchemaException("invoice " + n + ": field 'amount' is missing (schema v3)");
        }
        return n;
    }
}
