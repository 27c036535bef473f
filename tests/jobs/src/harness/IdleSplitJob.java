package harness;

import org.apache.flink.api.common.eventtime.SerializableTimestampAssigner;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;

/**
 * harness-idle-split: event time held back by an idle input. Two sources with wall-clock event
 * time feed one keyed operator: {@code orders-source} emits {@code --rate} records/s, while
 * {@code returns-source} emits {@code --idle-records} (default 1) and then nothing (its rate is
 * "per checkpoint" and the job never checkpoints), so its split's watermark stops at its last
 * record. No idleness is declared, so {@code event-time-counter}'s input watermark (the minimum
 * of its inputs) stays there while the busy source's watermark follows the clock.
 */
public final class IdleSplitJob {
    public static void main(String[] args) throws Exception {
        String name = Harness.name(args, "harness-idle-split");
        double rate = Double.parseDouble(Harness.arg(args, "--rate", "20"));
        int idleRecords = (int) Harness.longArg(args, "--idle-records", 1);
        StreamExecutionEnvironment env = Harness.env();

        WatermarkStrategy<Long> eventTime =
                WatermarkStrategy.<Long>forMonotonousTimestamps().withTimestampAssigner(new WallClock());
        DataStream<Long> busy =
                env.fromSource(
                                new DataGeneratorSource<>(
                                        new Identity(), Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG),
                                eventTime,
                                "orders-source")
                        .uid("orders-source");
        DataStream<Long> idle =
                env.fromSource(
                                new DataGeneratorSource<>(
                                        new Identity(),
                                        Long.MAX_VALUE,
                                        RateLimiterStrategy.perCheckpoint(idleRecords),
                                        Types.LONG),
                                eventTime,
                                "returns-source")
                        .uid("returns-source");
        busy.union(idle)
                .keyBy(new HealthyJob.ModKey(), Types.LONG)
                .map(new Pass())
                .name("event-time-counter")
                .uid("event-time-counter")
                .sinkTo(new DiscardingSink<>())
                .name("discard-sink")
                .uid("discard-sink");
        env.execute(name);
    }

    static final class Identity implements GeneratorFunction<Long, Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long map(Long n) {
            return n;
        }
    }

    static final class WallClock implements SerializableTimestampAssigner<Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public long extractTimestamp(Long element, long recordTimestamp) {
            return System.currentTimeMillis();
        }
    }

    static final class Pass implements MapFunction<Long, Long> {
        private static final long serialVersionUID = 1L;

        @Override
        public Long map(Long value) {
            return value;
        }
    }
}
