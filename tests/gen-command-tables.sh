#!/usr/bin/env bash
# Writes the command tables the policy gate checks ACL rules against, measured on the real
# servers: for each supported version, every command and subcommand (`config|get`) that
# `COMMAND LIST` reports, lowercase and sorted, once for the data server and once for the
# same program in Sentinel mode (a Sentinel has a table of its own: `+get` in its ACL file
# makes it refuse to start). `COMMAND LIST` lists subcommands too; on all four servers it
# equals the names and nested subcommands of `COMMAND INFO` and `COMMAND DOCS`.
#
# Output: OUTDIR/ENGINE-VERSION.commands and OUTDIR/ENGINE-VERSION.sentinel-commands
# (default OUTDIR: src/server, embedded in the binary by src/server/mod.rs). The live test
# `live::*::the_command_tables_match_the_real_server` runs this script into a scratch
# directory and compares; when a server release changes its table, re-run
#   bash tests/gen-command-tables.sh
# and commit the result.
#
# Needs Debian 12's redis-server/redis-tools 7.0 on PATH and the servers of
# tests/install-servers.sh (PREFIX, default /opt/redis-harden-servers, or REDIS_HARDEN_SERVERS).
# Each server runs on a unix socket in a scratch directory (port 0: nothing listens on TCP).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
outdir="${1:-src/server}"
prefix="${REDIS_HARDEN_SERVERS:-/opt/redis-harden-servers}"

# label  server-program  cli-program
servers=(
    "redis-7.0 redis-server redis-cli"
    "redis-8.0 $prefix/bin/redis8-server $prefix/bin/redis8-cli"
    "valkey-8.0 $prefix/bin/valkey80-server $prefix/bin/valkey80-cli"
    "valkey-8.1 $prefix/bin/valkey-server $prefix/bin/valkey-cli"
)

scratch="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

# measure LABEL SERVER CLI MODE OUTFILE: starts SERVER (MODE data or sentinel), writes its
# COMMAND LIST to OUTFILE with a header, stops it.
measure() {
    local label="$1" server="$2" cli="$3" mode="$4" out="$5"
    local sock="$scratch/s.sock" conf="$scratch/$mode.conf" release
    for tool in "$server" "$cli"; do
        if ! command -v "$tool" >/dev/null; then
            echo "gen-command-tables: $tool is missing; install it with: apt-get install -y redis-server redis-tools && bash tests/install-servers.sh" >&2
            exit 1
        fi
    done
    rm -f "$sock"
    printf 'port 0\nunixsocket %s\nunixsocketperm 700\nsave ""\nappendonly no\ndir %s\n' \
        "$sock" "$scratch" >"$conf"
    local args=("$conf")
    if [ "$mode" = sentinel ]; then
        # A Sentinel needs a config file it can rewrite and something to monitor (nothing
        # answers there; the table does not depend on it).
        printf 'sentinel monitor m 127.0.0.1 1 1\n' >>"$conf"
        args+=(--sentinel)
    fi
    "$server" "${args[@]}" >"$scratch/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 250); do
        [ -S "$sock" ] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "gen-command-tables: $server ($mode) exited:" >&2
            cat "$scratch/log" >&2
            exit 1
        fi
        sleep 0.02
    done
    release="$("$server" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')"
    local what="$release"
    [ "$mode" = sentinel ] && what="$release --sentinel"
    {
        echo "# COMMAND LIST of ${server##*/} $what, lowercase, one a line."
        echo "# Regenerate: bash tests/gen-command-tables.sh (a live test compares)."
        timeout 10 "$cli" -s "$sock" COMMAND LIST | tr '[:upper:]' '[:lower:]' | LC_ALL=C sort
    } >"$out.tmp"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    # A server that answered nothing (or an error) would write a near-empty table.
    if [ "$(grep -vc '^#' "$out.tmp")" -lt 50 ]; then
        echo "gen-command-tables: $server ($mode) listed too few commands:" >&2
        cat "$out.tmp" >&2
        exit 1
    fi
    mv "$out.tmp" "$out"
}

mkdir -p "$outdir"
for s in "${servers[@]}"; do
    read -r label server cli <<<"$s"
    measure "$label" "$server" "$cli" data "$outdir/$label.commands"
    measure "$label" "$server" "$cli" sentinel "$outdir/$label.sentinel-commands"
    echo "gen-command-tables: $outdir/$label.commands ($(grep -vc '^#' "$outdir/$label.commands")), $label.sentinel-commands ($(grep -vc '^#' "$outdir/$label.sentinel-commands"))"
done
