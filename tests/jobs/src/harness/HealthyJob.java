package harness;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-healthy: keyed state, a checkpoint every second, runs forever, never fails.
 * The snapshot sleeps (300 ms by default, --snapshot-sleep-ms) so that a savepoint triggered
 * through REST is observable as IN_PROGRESS for a moment.
 */
public final class HealthyJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-healthy");
        long snapshotSleepMs = Harness.longArg(args, "--snapshot-sleep-ms", 300);
        StreamExecutionEnvironment env = Harness.env("execution.checkpointing.interval", "1 s");

        Harness.numbers(env, args)
                .keyBy(new ModKey(), Types.LONG)
                .map(new CountPerKey(snapshotSleepMs))
                .name("count-per-key")
                .uid("count-per-key")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    static final class ModKey implements KeySelector<Long, Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long getKey(Long value) {
            return value % 4;
        }
    }

    /** Counts records per key in keyed ValueState; slow snapshot. */
    static final class CountPerKey extends RichMapFunction<Long, Long>
            implements CheckpointedFunction {
        private static final long serialVersionUID = 1L;

        private final long snapshotSleepMs;
        private transient ValueState<Long> count;

        CountPerKey(long snapshotSleepMs) {
            this.snapshotSleepMs = snapshotSleepMs;
        }

        @Override
        public void open(OpenContext openContext) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public Long map(Long value) throws Exception {
            Long c = count.value();
            long next = c == null ? 1 : c + 1;
            count.update(next);
            return next;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            Thread.sleep(snapshotSleepMs);
        }

        @Override
        public void initializeState(FunctionInitializationContext context) {}
    }
}
