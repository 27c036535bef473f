package harness;

import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.datagen.source.GeneratorFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Shared plumbing for the test jobs. Everything here must compile against both Flink 1.20.x and
 * 2.x, so only APIs present in both are used:
 *  - DataGeneratorSource (ships inside flink-dist in both, no connector jar needed),
 *  - settings as plain string config keys (ConfigOption constants moved between versions),
 *  - sink v2 DiscardingSink, RichMapFunction#open(OpenContext) in the jobs.
 */
final class Harness {
    private Harness() {}

    /** Value of {@code --key value} in args, or def. */
    static String arg(String[] args, String key, String def) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(key)) {
                return args[i + 1];
            }
        }
        return def;
    }

    static long longArg(String[] args, String key, long def) {
        return Long.parseLong(arg(args, key, Long.toString(def)));
    }

    /** The Flink job name: {@code --name NAME}, the Rust tests look jobs up by it. */
    static String name(String[] args, String def) {
        return arg(args, "--name", def);
    }

    /**
     * An environment whose job-level configuration carries the given plain keys (restart
     * strategy, checkpointing). Passing them through Configuration works the same on 1.20 and
     * 2.x, unlike RestartStrategies (removed in 2.0) or setter methods that were renamed.
     */
    static StreamExecutionEnvironment env(String... keyValues) {
        Map<String, String> settings = new HashMap<>();
        for (int i = 0; i + 1 < keyValues.length; i += 2) {
            settings.put(keyValues[i], keyValues[i + 1]);
        }
        StreamExecutionEnvironment env =
                StreamExecutionEnvironment.getExecutionEnvironment(Configuration.fromMap(settings));
        env.setParallelism(1);
        return env;
    }

    /** An endless, rate limited stream 0, 1, 2, ... (resumes from its checkpointed position). */
    static DataStream<Long> numbers(StreamExecutionEnvironment env, String[] args) {
        double rate = Double.parseDouble(arg(args, "--rate", "20"));
        DataGeneratorSource<Long> source =
                new DataGeneratorSource<>(
                        (GeneratorFunction<Long, Long>) n -> n,
                        Long.MAX_VALUE,
                        RateLimiterStrategy.perSecond(rate),
                        Types.LONG);
        return env.fromSource(source, WatermarkStrategy.noWatermarks(), "numbers-source")
                .uid("numbers-source");
    }
}
