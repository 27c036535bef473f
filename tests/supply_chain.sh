#!/usr/bin/env bash
# Tests of the supply-chain check (.ci/supply-chain), run by .ci/run after the check itself:
#   1. on a copy of the RustSec snapshot it passes (the control: the failures below are the
#      database's doing, not a broken setup);
#   2. the same copy plus one made-up advisory against a crate in Cargo.lock (smallvec, in both
#      builds, every version affected) makes it fail, naming the advisory, in both builds;
#   3. an exception in deny.toml that matches nothing (its reason has ended) makes it fail;
#   4. no database at all makes it fail, saying so (never a pass on an empty database).
# The tool is the one .ci/supply-chain installs (it installs it if missing: nothing is skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

SNAPSHOT=${FLINK_CHATOPS_ADVISORY_DB:-../shared/advisory-db}
[[ -d "$SNAPSHOT/crates" ]] || {
    echo "tests/supply_chain.sh: the RustSec snapshot is missing ($SNAPSHOT/crates)" >&2
    exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

passed=0 failed=0
ok() {
    echo "ok: $1"
    passed=$((passed + 1))
}
not_ok() {
    echo "FAILED: $1" >&2
    echo "--- its output:" >&2
    cat "$tmp/out" >&2
    failed=$((failed + 1))
}
# run DB: the check against snapshot DB, its working files in $tmp/work; output in $tmp/out.
run() {
    FLINK_CHATOPS_ADVISORY_DB=$1 FLINK_CHATOPS_SUPPLY_WORK=$tmp/work .ci/supply-chain >"$tmp/out" 2>&1
}

cp -R "$SNAPSHOT" "$tmp/db"
chmod -R u+w "$tmp/db"

# 1. The control.
if run "$tmp/db"; then
    ok "the snapshot as it is passes"
else
    not_ok "the snapshot as it is should pass"
fi

# 2. One made-up advisory. Its date is the snapshot's newest, so the copy is no staler for it.
grep -q '^name = "smallvec"$' Cargo.lock || {
    echo "tests/supply_chain.sh: smallvec is no longer in Cargo.lock; pick another crate" >&2
    exit 1
}
newest=$(grep -rhoE '^date = "[0-9-]+"' "$SNAPSHOT/crates" | sort | tail -n 1)
mkdir -p "$tmp/db/crates/smallvec"
cat >"$tmp/db/crates/smallvec/RUSTSEC-2099-0001.md" <<EOF
\`\`\`toml
[advisory]
id = "RUSTSEC-2099-0001"
package = "smallvec"
$newest
categories = ["memory-corruption"]
keywords = ["test"]

[versions]
patched = [">= 99.0.0"]
\`\`\`

# Made-up advisory for tests/supply_chain.sh

Every released smallvec is "affected"; nothing in deny.toml accepts this id.
EOF
if run "$tmp/db"; then
    not_ok "a made-up advisory against smallvec should fail the check"
elif [[ $(grep -c 'RUSTSEC-2099-0001' "$tmp/out") -ge 2 ]] && grep -q 'the default build fails' "$tmp/out"; then
    ok "a made-up advisory against smallvec fails the check, naming it"
else
    not_ok "the check failed, but not on the made-up advisory"
fi
# The endpoint-only build on its own: the default build failing first must not hide it.
if FLINK_CHATOPS_ADVISORY_DB=$tmp/db FLINK_CHATOPS_SUPPLY_WORK=$tmp/work \
    FLINK_CHATOPS_SUPPLY_ONLY=endpoint-only .ci/supply-chain >"$tmp/out" 2>&1; then
    not_ok "a made-up advisory against smallvec should fail the endpoint-only build too"
elif grep -q 'RUSTSEC-2099-0001' "$tmp/out" && grep -q 'the endpoint-only build fails' "$tmp/out"; then
    ok "the endpoint-only build fails on it too"
else
    not_ok "the endpoint-only build failed, but not on the made-up advisory"
fi

# 3. A stale exception: deny.toml plus an ignore of an advisory no crate of ours has.
sed 's/^ignore = \[/ignore = [\n    { id = "RUSTSEC-2020-0001", reason = "made up: matches nothing" },/' deny.toml >"$tmp/deny.toml"
grep -q 'RUSTSEC-2020-0001' "$tmp/deny.toml" || {
    echo "tests/supply_chain.sh: deny.toml has no 'ignore = [' line to add to" >&2
    exit 1
}
if FLINK_CHATOPS_ADVISORY_DB=$SNAPSHOT FLINK_CHATOPS_SUPPLY_WORK=$tmp/work \
    FLINK_CHATOPS_DENY_CONFIG=$tmp/deny.toml FLINK_CHATOPS_SUPPLY_ONLY=endpoint-only \
    .ci/supply-chain >"$tmp/out" 2>&1; then
    not_ok "an exception that matches nothing should fail the check"
elif grep -q 'advisory-not-detected' "$tmp/out"; then
    ok "an exception that matches nothing fails the check"
else
    not_ok "the check failed, but not on the stale exception"
fi

# 4. No database.
if run "$tmp/nowhere"; then
    not_ok "a missing database should fail the check"
elif grep -q 'advisory database is missing' "$tmp/out"; then
    ok "a missing database fails the check, saying so"
else
    not_ok "the check failed without a database, but did not say so"
fi

echo "supply_chain: $passed passed, $failed failed"
((failed == 0))
