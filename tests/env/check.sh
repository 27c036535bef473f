#!/usr/bin/env bash
# Debug helper: shows what the test clusters from setup.sh look like right now.
set -euo pipefail

# shellcheck source=common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ -f $CACHE/env.sh ]] || die "$CACHE/env.sh not found; run tests/env/setup.sh first"
# shellcheck source=/dev/null
source "$CACHE/env.sh"

show() {
    local url=$1
    echo "== GET $url"
    if body=$(curl -sS --max-time 10 "$url"); then
        if command -v jq >/dev/null 2>&1; then jq . <<<"$body" || echo "$body"; else echo "$body"; fi
    else
        echo "(no answer)"
    fi
}

for base in "$FLINK23_URL" "$FLINK120_URL"; do
    show "$base/overview"
    show "$base/jobs/overview"
done
echo "== env.sh"
cat "$CACHE/env.sh"
