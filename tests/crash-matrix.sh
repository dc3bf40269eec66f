#!/usr/bin/env bash
# Reruns one crash point of tests/crash.rs by hand and leaves the scratch directory to look at.
#
# Usage: tests/crash-matrix.sh [-s 'SETUP VERB']... SYSCALL N VERB...
#   -s 'init'            a command that prepares the bundle (repeatable; none = fresh bundle)
#   SYSCALL N            kill the command on entering the Nth call of SYSCALL (rename, write...)
#   VERB...              the command, e.g. rotate passwords --finish
# Every command gets `--env production --out bundle`. Example, the 3rd rename of a password
# rotation:
#   tests/crash-matrix.sh -s init rename 3 rotate passwords
#
# Prints what the kill left (files that differ from before, anything staged), then re-runs
# the command and runs `check`. Uses the debug binary (cargo build first).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${REDIS_HARDEN:-$root/target/debug/redis-harden}"
base=(--env production --out bundle)
setups=()
while [ "${1:-}" = "-s" ]; do
    setups+=("$2")
    shift 2
done
if [ $# -lt 3 ]; then
    sed -n '2,13p' "${BASH_SOURCE[0]}" >&2
    exit 2
fi
syscall="$1" n="$2"
shift 2
command -v strace >/dev/null || { echo "strace is missing: apt-get install -y strace" >&2; exit 2; }

work="$(mktemp -d)"
cd "$work"
for s in "${setups[@]}"; do
    # shellcheck disable=SC2086 # a setup is several words on purpose
    "$bin" $s "${base[@]}" >/dev/null
done
[ -d bundle ] && cp -a bundle bundle.before

echo "::: $* killed at $syscall #$n in $work"
set +e
strace -f -qq -o /dev/null -e "trace=$syscall" -e "inject=$syscall:signal=KILL:when=$n" \
    "$bin" "$@" "${base[@]}" >/dev/null 2>&1
status=$?
set -e
[ "$status" -eq 137 ] || echo "(not killed: exit $status; N is past the last call)"

echo "::: left behind (vs. before)"
if [ -d bundle.before ]; then
    diff -rq bundle.before bundle || true
else
    find bundle -mindepth 1 2>/dev/null | sort || true
fi
find bundle -name '*.tmp*' -o -name '.txn' 2>/dev/null | sed 's/^/staged: /' || true

echo "::: re-run"
set +e
"$bin" "$@" "${base[@]}"
echo "exit $?"
echo "::: check"
"$bin" check "${base[@]}"
echo "exit $?"
find bundle -name '*.tmp*' -o -name '.txn' | sed 's/^/left after the re-run: /'
echo "::: scratch directory kept: $work"
