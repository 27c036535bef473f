package com.acme.billing;

/** The job's own exception class: an invoice that does not fit the schema the job expects. */
public final class SchemaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public SchemaException(String message) {
        super(message);
    }
}
