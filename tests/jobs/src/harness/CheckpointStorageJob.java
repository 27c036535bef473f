package harness;

import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-checkpoint-storage: checkpoints every second into its own directory
 * ({@code --checkpoint-dir}, a {@code file://} URI the test owns), and tolerates any number of
 * failed checkpoints, so the job keeps RUNNING when that directory stops being writable. The test
 * breaks the directory itself while the job runs (it replaces the job's checkpoint folder with a
 * plain file, which even root cannot create directories under); the failure and the path are
 * then only in the JobManager's log, not in the REST answers.
 */
public final class CheckpointStorageJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-checkpoint-storage");
        String dir = Harness.arg(args, "--checkpoint-dir", null);
        if (dir == null) {
            throw new IllegalArgumentException("--checkpoint-dir is required");
        }
        StreamExecutionEnvironment env =
                Harness.env(
                        "execution.checkpointing.interval", "1 s",
                        "execution.checkpointing.dir", dir,
                        // Flink 1.20 reads the 1.x key; 2.x ignores it.
                        "state.checkpoints.dir", dir,
                        "execution.checkpointing.tolerable-failed-checkpoints", "1000000");

        Harness.numbers(env, args)
                .keyBy(new HealthyJob.ModKey(), org.apache.flink.api.common.typeinfo.Types.LONG)
                .map(new HealthyJob.CountPerKey(0))
                .name("count-per-key")
                .uid("count-per-key")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }
}
