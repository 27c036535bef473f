#!/usr/bin/env bash
# The one command that runs every test, on a fresh machine or a warm one:
#   1. tests/env/setup.sh installs Java, Alertmanager and promtool, downloads Flink 2.3.0 and
#      1.20.5 from PyPI, builds the test jobs, starts both clusters and their failing jobs;
#   2. cargo builds the tests meanwhile (the two overlap: downloads are I/O, compiling is CPU);
#   3. cargo test runs unit tests and the integration tests against those real components.
# Clusters are left running for the next run; `tests/env/teardown.sh` stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Before any cargo command: cargo reads /dev/null, which some machines have as a regular file.
tests/env/null-device.sh

command -v cargo >/dev/null || { echo "tests/run.sh: cargo is missing (install Rust with rustup)" >&2; exit 1; }

cargo test --no-run --quiet &
build=$!
if ! tests/env/setup.sh; then
    kill "$build" 2>/dev/null || true
    echo "tests/run.sh: the test environment could not be set up (see above)" >&2
    exit 1
fi
wait "$build"

# shellcheck source=/dev/null
source "${FLINK_CHATOPS_TEST_ENV:-target/test-env}/env.sh"
cargo test "$@"
