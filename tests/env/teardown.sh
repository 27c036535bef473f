#!/usr/bin/env bash
# Stops both test clusters started by setup.sh. Idempotent: nothing running is not an error.
# Downloads, layouts and jars stay cached; pass --clean to also delete the cluster directories
# (logs, checkpoints, savepoints, job ids) and env.sh.
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

clean=0
case ${1:-} in
    --clean) clean=1 ;;
    "") ;;
    *) die "usage: $0 [--clean]" ;;
esac

# Both clusters at once (stopping one takes several seconds).
for ver in "${FLINK_VERSIONS[@]}"; do
    stop_cluster "$ver" &
done
wait
for ver in "${FLINK_VERSIONS[@]}"; do
    [[ -z $(cluster_pids "$ver") ]] || die "Flink $ver cluster processes survived: $(cluster_pids "$ver" | tr '\n' ' ')"
    if ((clean)); then
        rm -rf "$(cluster_dir "$ver")"
    elif [[ -f $(cluster_dir "$ver")/jobs.state ]]; then
        # The job ids die with the cluster; setup.sh would notice anyway, but be explicit.
        rm -f "$(cluster_dir "$ver")/jobs.state"
    fi
done
if ((clean)); then rm -f "$CACHE/env.sh"; fi
log "Flink test clusters stopped"
