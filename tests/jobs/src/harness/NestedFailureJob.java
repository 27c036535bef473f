package harness;

import java.io.FileNotFoundException;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-nested-failure: each attempt runs ~3 s (checkpoints every 500 ms complete), then throws a
 * three-level cause chain. Fixed-delay restarts, 2 attempts, 500 ms apart: after the third failure
 * the job ends FAILED and the newest exceptionHistory entry is Flink's
 * "Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy(...)" wrapper whose last
 * "Caused by:" is the FileNotFoundException below.
 */
public final class NestedFailureJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-nested-failure");
        long failAfterMs = Harness.longArg(args, "--fail-after-ms", 3000);
        StreamExecutionEnvironment env =
                Harness.env(
                        "execution.checkpointing.interval", "500 ms",
                        "restart-strategy.type", "fixed-delay",
                        "restart-strategy.fixed-delay.attempts", "2",
                        "restart-strategy.fixed-delay.delay", "500 ms");

        Harness.numbers(env, args)
                .map(new LedgerWriter(failAfterMs))
                .name("ledger-writer")
                .uid("ledger-writer")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    static final class LedgerWriter extends FailAfter {
        private static final long serialVersionUID = 1L;

        LedgerWriter(long afterMs) {
            super(afterMs);
        }

        @Override
        void fail(long n) {
            throw new RuntimeException(
                    "harness: operator failed",
                    new IllegalStateException(
                            "harness: ledger writer gave up",
                            new FileNotFoundException(
                                    "harness root cause: /data/ledger-7 is missing")));
        }
    }
}
