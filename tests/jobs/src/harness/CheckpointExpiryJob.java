package harness;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-checkpoint-expiry: checkpoint every 1 s with a 1 s timeout, but the snapshot takes 3 s
 * (--snapshot-sleep-ms), so every checkpoint EXPIRES ("Checkpoint expired before completing.").
 * Tolerable failed checkpoints is huge, so the job itself keeps RUNNING.
 */
public final class CheckpointExpiryJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-checkpoint-expiry");
        long snapshotSleepMs = Harness.longArg(args, "--snapshot-sleep-ms", 3000);
        StreamExecutionEnvironment env =
                Harness.env(
                        "execution.checkpointing.interval", "1 s",
                        // Flink's minimum checkpoint timeout is 10 ms; 1 s is well above it.
                        "execution.checkpointing.timeout", "1 s",
                        "execution.checkpointing.tolerable-failed-checkpoints", "1000000");

        Harness.numbers(env, args)
                .map(new SlowSnapshot(snapshotSleepMs))
                .name("slow-snapshot")
                .uid("slow-snapshot")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    static final class SlowSnapshot implements MapFunction<Long, Long>, CheckpointedFunction {
        private static final long serialVersionUID = 1L;

        private final long snapshotSleepMs;

        SlowSnapshot(long snapshotSleepMs) {
            this.snapshotSleepMs = snapshotSleepMs;
        }

        @Override
        public Long map(Long value) {
            return value;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            Thread.sleep(snapshotSleepMs);
        }

        @Override
        public void initializeState(FunctionInitializationContext context) {}
    }
}
