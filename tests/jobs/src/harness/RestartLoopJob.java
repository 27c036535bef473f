package harness;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-restart-loop: every attempt runs ~2.5 s (a few 500 ms checkpoints complete), then throws
 * IllegalStateException("harness restart loop: poison record N"). Fixed-delay restarts, 1 s apart,
 * practically unlimited: the job alternates RUNNING/RESTARTING forever, numRestarts grows and
 * exceptionHistory fills with real entries. {@code --bare true} throws a bare
 * {@code RuntimeException("task failed")} instead (a task failure that names no cause), from an
 * operator named {@code bare-failure-map}.
 */
public final class RestartLoopJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-restart-loop");
        long failAfterMs = Harness.longArg(args, "--fail-after-ms", 2500);
        boolean bare = Boolean.parseBoolean(Harness.arg(args, "--bare", "false"));
        StreamExecutionEnvironment env =
                Harness.env(
                        "execution.checkpointing.interval", "500 ms",
                        "restart-strategy.type", "fixed-delay",
                        "restart-strategy.fixed-delay.attempts", Integer.toString(Integer.MAX_VALUE),
                        "restart-strategy.fixed-delay.delay", "1 s");

        Harness.numbers(env, args)
                .map(new Poison(failAfterMs, bare))
                .name(bare ? "bare-failure-map" : "poison-map")
                .uid("poison-map")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    static final class Poison extends FailAfter {
        private static final long serialVersionUID = 1L;

        private final boolean bare;

        Poison(long afterMs, boolean bare) {
            super(afterMs);
            this.bare = bare;
        }

        @Override
        void fail(long n) {
            if (bare) {
                throw new RuntimeException("task failed");
            }
            throw new IllegalStateException("harness restart loop: poison record " + n);
        }
    }
}
