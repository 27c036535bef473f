package harness;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.Partitioner;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-slow-operator: a textbook bottleneck. The source offers more records than
 * {@code slow-operator} can take (it sleeps {@code --sleep-ms}, default 10, per record), so the
 * source is back-pressured and the slow operator ~100% busy, while {@code discard-sink}
 * downstream idles. The slow operator runs in its own task (chaining disabled) with
 * {@code --parallelism} subtasks (default 2); {@code --hot-share} (default 0.5) is the share of
 * records routed to subtask 0, so 0.9 makes subtask 0 hot and subtask 1 mostly idle (skew).
 * {@code --keyed true} routes by key instead, with the hot share on key 0 (a hot key).
 * No checkpointing: nothing here needs state, and aligned barriers would crawl behind the
 * back-pressure.
 */
public final class SlowOperatorJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-slow-operator");
        long sleepMs = Harness.longArg(args, "--sleep-ms", 10);
        int parallelism = (int) Harness.longArg(args, "--parallelism", 2);
        double hotShare = Double.parseDouble(Harness.arg(args, "--hot-share", "0.5"));
        boolean keyed = Boolean.parseBoolean(Harness.arg(args, "--keyed", "false"));
        StreamExecutionEnvironment env = Harness.env();

        DataStream<Long> numbers = Harness.numbers(env, args);
        DataStream<Long> routed =
                keyed
                        ? numbers.keyBy(new HotKey(hotShare), Types.LONG)
                        : numbers.partitionCustom(new HotFirst(hotShare), new Identity());
        routed.map(new Sleepy(sleepMs))
                .returns(Types.LONG)
                .setParallelism(parallelism)
                .disableChaining()
                .name("slow-operator")
                .uid("slow-operator")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    static final class Identity implements KeySelector<Long, Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long getKey(Long value) {
            return value;
        }
    }

    /**
     * Keyed routing with one hot key: of every 100 records, the first {@code hotShare * 100} get
     * key 0 (one key group, so one subtask, whichever Flink's hash picks); the rest their own value.
     */
    static final class HotKey implements KeySelector<Long, Long> {
        private static final long serialVersionUID = 1L;

        private final double hotShare;

        HotKey(double hotShare) {
            this.hotShare = hotShare;
        }

        @Override
        public Long getKey(Long value) {
            return value % 100 < hotShare * 100 ? 0L : value;
        }
    }

    /** Of every 100 records, the first {@code hotShare * 100} go to partition 0, the rest round robin. */
    static final class HotFirst implements Partitioner<Long> {
        private static final long serialVersionUID = 1L;

        private final double hotShare;

        HotFirst(double hotShare) {
            this.hotShare = hotShare;
        }

        @Override
        public int partition(Long key, int numPartitions) {
            if (numPartitions < 2) {
                return 0;
            }
            if (key % 100 < hotShare * 100) {
                return 0;
            }
            return 1 + (int) (key % (numPartitions - 1));
        }
    }

    /** Sleeps per record: busy time, not CPU, so the shared test machine does not suffer. */
    static final class Sleepy implements MapFunction<Long, Long> {
        private static final long serialVersionUID = 1L;

        private final long sleepMs;

        Sleepy(long sleepMs) {
            this.sleepMs = sleepMs;
        }

        @Override
        public Long map(Long value) throws Exception {
            Thread.sleep(sleepMs);
            return value;
        }
    }
}
