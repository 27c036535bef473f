# shellcheck shell=bash
# Shared by setup.sh, teardown.sh and check.sh: paths, versions, ports, logging, stopping a cluster.
# Sourced, not executed.

# Repository root (this file lives in tests/env/).
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Everything the environment downloads, builds or runs lives here (target/ is gitignored).
CACHE=${FLINK_CHATOPS_TEST_ENV:-$REPO_ROOT/target/test-env}
# Absolute, because it ends up in Flink's config, in env.sh and in process command lines.
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

# The two Flink versions under test. TAG is the suffix used in env.sh variable names.
# shellcheck disable=SC2034 # used by the sourcing scripts
FLINK_VERSIONS=(2.3.0 1.20.5)

# Pid files are named flink-$FLINK_IDENT_STRING-<daemon>.pid and it defaults to $USER, which is
# often unset in CI containers: pin it so setup and teardown always agree on the file names.
export FLINK_IDENT_STRING=chatops

log() { printf '[%s %(%H:%M:%S)T] %s\n' "$(basename "$0")" -1 "$*" >&2; }
die() {
    printf '\n%s: ERROR: %s\n' "$(basename "$0")" "$*" >&2
    exit 1
}

flink_tag() {
    case $1 in
        2.3.0) echo 23 ;;
        1.20.5) echo 120 ;;
        *) die "unknown Flink version $1" ;;
    esac
}

# REST port of a version's cluster (overridable, e.g. to run two checkouts side by side).
flink_rest_port() {
    case $1 in
        2.3.0) echo "${FLINK23_PORT:-28081}" ;;
        1.20.5) echo "${FLINK120_PORT:-28082}" ;;
    esac
}

# The JobManager RPC port must be fixed (the TaskManager finds the JobManager through it); every
# other port (blob server, TaskManager RPC/data, metrics query service) is left at 0 = ephemeral.
# Derived from the REST port so overriding the REST port also moves this one.
flink_rpc_port() {
    case $1 in
        2.3.0) echo "${FLINK23_RPC_PORT:-$(($(flink_rest_port "$1") + 1000))}" ;;
        1.20.5) echo "${FLINK120_RPC_PORT:-$(($(flink_rest_port "$1") + 1000))}" ;;
    esac
}

flink_url() { echo "http://127.0.0.1:$(flink_rest_port "$1")"; }
flink_home() { echo "$CACHE/dist/flink-$1"; }
cluster_dir() { echo "$CACHE/clusters/$1"; }

# Pids recorded in a cluster's pid files that are still alive AND still belong to this cluster.
# (The JVM command line carries -Dlog.file=<cluster dir>/log/...; checking it avoids killing an
# unrelated process that got a recycled pid.)
cluster_pids() {
    local cdir f pid
    cdir=$(cluster_dir "$1")
    for f in "$cdir"/pid/*.pid; do
        [[ -f $f ]] || continue
        while read -r pid; do
            [[ $pid =~ ^[0-9]+$ ]] || continue
            if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$cdir/log/"; then
                echo "$pid"
            fi
        done <"$f"
    done
}

# Stops a version's cluster: the official scripts first (same FLINK_CONF_DIR, so the same pid
# dir), then whatever is left by pid (SIGTERM, up to 15 s, SIGKILL). Idempotent.
stop_cluster() {
    local ver=$1 home cdir pids pid i
    home=$(flink_home "$ver")
    cdir=$(cluster_dir "$ver")
    [[ -d $cdir/pid ]] || return 0
    pids=$(cluster_pids "$ver")
    if [[ -z $pids ]]; then
        rm -f "$cdir"/pid/*.pid
        return 0
    fi
    log "stopping Flink $ver cluster (pids: $(echo "$pids" | tr '\n' ' '))"
    if [[ -x $home/bin/taskmanager.sh && -f $cdir/conf/config.yaml ]]; then
        # stop-all: every instance in the pid file, not just the newest one. Both at once: each
        # script spends seconds in a JVM parsing config.yaml before it sends its SIGTERM.
        FLINK_CONF_DIR=$cdir/conf "$home/bin/taskmanager.sh" stop-all >&2 9>&- &
        FLINK_CONF_DIR=$cdir/conf "$home/bin/jobmanager.sh" stop-all >&2 9>&- &
        wait || true
    fi
    for pid in $(cluster_pids "$ver"); do
        kill "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 30; i++)); do
        [[ -z $(cluster_pids "$ver") ]] && break
        sleep 0.5
    done
    for pid in $(cluster_pids "$ver"); do
        log "pid $pid did not stop on SIGTERM, sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$cdir"/pid/*.pid
}
