package harness;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.Serializable;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-serialization: each attempt runs ~2 s, then the map function really serialises an
 * object graph containing a non-serializable LegacyHttpClient with java.io.ObjectOutputStream.
 * The resulting java.io.NotSerializableException: harness.LegacyHttpClient is thrown wrapped in
 * RuntimeException("harness: could not serialize enrichment cache entry for record N").
 * Fixed-delay restarts, 1 s apart, practically unlimited (restart loop).
 */
public final class SerializationFailureJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-serialization");
        long failAfterMs = Harness.longArg(args, "--fail-after-ms", 2000);
        StreamExecutionEnvironment env =
                Harness.env(
                        "execution.checkpointing.interval", "500 ms",
                        "restart-strategy.type", "fixed-delay",
                        "restart-strategy.fixed-delay.attempts", Integer.toString(Integer.MAX_VALUE),
                        "restart-strategy.fixed-delay.delay", "1 s");

        Harness.numbers(env, args)
                .map(new CacheWriter(failAfterMs))
                .name("enrichment-cache")
                .uid("enrichment-cache")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    /** Serializable itself, but holds a field that is not. */
    static final class CacheEntry implements Serializable {
        private static final long serialVersionUID = 1L;
        final long record;
        final LegacyHttpClient client;

        CacheEntry(long record, LegacyHttpClient client) {
            this.record = record;
            this.client = client;
        }
    }

    static final class CacheWriter extends FailAfter {
        private static final long serialVersionUID = 1L;

        CacheWriter(long afterMs) {
            super(afterMs);
        }

        @Override
        void fail(long n) {
            CacheEntry entry = new CacheEntry(n, new LegacyHttpClient("http://ledger.invalid"));
            try (ObjectOutputStream out = new ObjectOutputStream(new ByteArrayOutputStream())) {
                out.writeObject(entry); // throws java.io.NotSerializableException
            } catch (IOException e) {
                throw new RuntimeException(
                        "harness: could not serialize enrichment cache entry for record " + n, e);
            }
            throw new IllegalStateException("harness: LegacyHttpClient unexpectedly serialized");
        }
    }
}
