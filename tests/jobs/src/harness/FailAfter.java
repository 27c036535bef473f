package harness;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;

/**
 * Passes records through and calls {@link #fail(long)} with the first record seen after
 * {@code afterMs} of this attempt's run time. Time based (not record count based) so that
 * checkpoints reliably complete between two failures whatever the rate.
 */
abstract class FailAfter extends RichMapFunction<Long, Long> {
    private static final long serialVersionUID = 1L;

    private final long afterMs;
    private transient long openedAt;

    FailAfter(long afterMs) {
        this.afterMs = afterMs;
    }

    @Override
    public void open(OpenContext openContext) {
        openedAt = System.currentTimeMillis();
    }

    @Override
    public Long map(Long n) throws Exception {
        if (System.currentTimeMillis() - openedAt >= afterMs) {
            fail(n);
        }
        return n;
    }

    /** Throws the job's failure for record n. */
    abstract void fail(long n) throws Exception;
}
