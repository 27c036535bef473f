package com.acme.billing;

import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * billing-invoices: a job whose own code (package com.acme.billing, not harness) throws its own
 * exception class. ~--fail-after-ms (default 3000) into every attempt, `parse-invoice` calls
 * InvoiceParser.parse, which throws SchemaException("invoice N: field 'amount' is missing
 * (schema v3)"). Fixed-delay restarts, practically unlimited, 1 s apart: it loops like a poison
 * record in production. Self-contained on purpose (no harness.* classes in its frames).
 */
public final class InvoiceJob {
    public static void main(String[] args) throws Exception {
        String name = arg(args, "--name", "billing-invoices");
        long failAfterMs = Long.parseLong(arg(args, "--fail-after-ms", "3000"));
        Map<String, String> settings = new HashMap<>();
        settings.put("execution.checkpointing.interval", "500 ms");
        settings.put("restart-strategy.type", "fixed-delay");
        settings.put("restart-strategy.fixed-delay.attempts", Integer.toString(Integer.MAX_VALUE));
        settings.put("restart-strategy.fixed-delay.delay", "1 s");
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.getExecutionEnvironment(Configuration.fromMap(settings));
        env.setParallelism(1);
        DataGeneratorSource<Long> source =
                new DataGeneratorSource<>(
                        (GeneratorFunction<Long, Long>) n -> n,
                        Long.MAX_VALUE,
                        RateLimiterStrategy.perSecond(20),
                        Types.LONG);
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers-source")
                .uid("numbers-source")
                .map(new ParseInvoice(failAfterMs))
                .name("parse-invoice")
                .uid("parse-invoice")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    static String arg(String[] args, String key, String def) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(key)) {
                return args[i + 1];
            }
        }
        return def;
    }

    static final class ParseInvoice extends RichMapFunction<Long, Long> {
        private static final long serialVersionUID = 1L;

        private final long failAfterMs;
        private transient long openedAt;

        ParseInvoice(long failAfterMs) {
            this.failAfterMs = failAfterMs;
        }

        @Override
        public void open(OpenContext openContext) {
            openedAt = System.currentTimeMillis();
        }

        @Override
        public Long map(Long n) {
            return InvoiceParser.parse(n, System.currentTimeMillis() - openedAt >= failAfterMs);
        }
    }
}
