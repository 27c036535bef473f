#!/usr/bin/env bash
# Makes sure /dev/null is the null device before anything builds or tests.
#
# Seen on this project's CI machines: /dev/null was a regular file (created by the first
# `>/dev/null` after the device went missing). Everything programs throw away then piles up in it,
# and whatever reads it gets that back: cargo asks rustc about the target with stdin from
# /dev/null, rustc compiles the pile ("cc: error: unrecognized command-line option '-?'", left by
# a build script) and every cargo command in a fresh target folder fails with
# "failed to run `rustc` to learn about target-specific information".
#
# Recreated as the device when it is not one (root can; the CI machines run as root). Otherwise it
# is emptied, which holds until the next build script writes to it, and the warning says so.
set -uo pipefail

[[ -c /dev/null ]] && exit 0
# No redirection to /dev/null below: each one would create the file again before the command runs.
what=$(stat -c %F /dev/null 2>&1 || echo "missing")
if rm -f /dev/null && mknod -m 0666 /dev/null c 1 3 && [[ -c /dev/null ]]; then
    echo "[null-device] /dev/null was a $what, not the null device: recreated it (character device 1,3)" >&2
    exit 0
fi
# Could not recreate it: leave an empty file rather than nothing, so redirections still work.
: >/dev/null
chmod 0666 /dev/null
echo "[null-device] WARNING: /dev/null is a $what, not the null device, and could not be recreated (run as root, or: mknod -m 0666 /dev/null c 1 3); emptied it, but builds that read it may fail" >&2
exit 0
