#!/usr/bin/env bash
# Installs the servers the live tests boot besides Debian 12's own redis-server 7.0:
# Redis 8.0 and Valkey 8.1 from Debian 13 ("trixie") packages, unpacked into a private prefix
# and started through trixie's own dynamic loader, and Valkey 8.0 from bookworm-backports
# (built for this release: it runs on the system's own libraries). Nothing in /etc/apt, dpkg's database or the
# system's libraries changes; only Debian's archive is contacted. Idempotent: a complete prefix
# is left alone.
#
# Result (names the tests use; see docs/servers.md):
#   PREFIX/bin/redis8-server  PREFIX/bin/redis8-cli     Redis 8.0 (trixie's redis-server)
#   PREFIX/bin/valkey-server  PREFIX/bin/valkey-cli     Valkey 8.1
#   PREFIX/bin/valkey-sentinel                          Valkey 8.1's Sentinel (valkey-sentinel)
#   PREFIX/bin/valkey80-server PREFIX/bin/valkey80-cli  Valkey 8.0 (bookworm-backports)
# Each is a wrapper that `exec`s the loader, so the wrapper's PID is the server's.
#
# Usage: tests/install-servers.sh [PREFIX]   (default /opt/redis-harden-servers; or set
# REDIS_HARDEN_SERVERS). Needs no root when PREFIX is writable.
set -euo pipefail

prefix="${1:-${REDIS_HARDEN_SERVERS:-/opt/redis-harden-servers}}"
wrappers=(redis8-server redis8-cli valkey-server valkey-cli valkey-sentinel valkey80-server valkey80-cli)
# What the packages need at run time beyond themselves (Lua is linked in statically).
# valkey-sentinel: its valkey-sentinel@.service (Debian's unit for a Valkey Sentinel, which
# tests/host_service.rs judges with a node's drop-in) and /usr/bin/valkey-sentinel (a link to
# the server program, which runs as a Sentinel under that name).
packages=(valkey-server valkey-sentinel valkey-tools redis-server redis-tools libc6 libgcc-s1
    libstdc++6 libatomic1 libssl3t64 libjemalloc2 liblzf1 libsystemd0 libcap2 libzstd1 zlib1g)
# Files a complete prefix has besides the wrappers (a prefix made before they were added is
# made again).
units=(valkey-server.service valkey-server@.service valkey-sentinel@.service)

complete() {
    local w
    for w in "${wrappers[@]}"; do
        [ -x "$prefix/bin/$w" ] || return 1
    done
    for w in "${units[@]}"; do
        [ -f "$prefix/root/usr/lib/systemd/system/$w" ] || return 1
    done
    [ -f "$prefix/.complete" ]
}

if complete; then
    echo "install-servers: $prefix already complete"
    exit 0
fi

# Work in a scratch directory next to the prefix; the prefix appears only when whole.
mkdir -p "$(dirname "$prefix")"
work="$(mktemp -d "$(dirname "$prefix")/.redis-harden-servers.XXXXXX")"
trap 'rm -rf "$work"' EXIT
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/etc/preferences.d" \
    "$apt_dir/etc/apt.conf.d" "$apt_dir/debs" "$apt_dir/debs-valkey80" "$work/stage/root" \
    "$work/stage/root-valkey80" "$work/stage/bin"
: >"$apt_dir/status"
cat >"$apt_dir/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main
EOF
cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/etc/sources.list.d";
Dir::Etc::Preferences "$apt_dir/etc/preferences";
Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
Dir::Etc::Parts "$apt_dir/etc/apt.conf.d";
Dir::State "$apt_dir";
Dir::State::Lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir/cache";
Dir::Cache::Archives "$apt_dir/cache/archives";
APT::Architecture "amd64";
APT::Get::AllowUnauthenticated "false";
// The scratch directory belongs to whoever runs this; apt need not drop to _apt.
APT::Sandbox::User "$(id -un)";
EOF
mkdir -p "$apt_dir/etc/sources.list.d"
export APT_CONFIG="$apt_dir/apt.conf"

echo "install-servers: fetching trixie's package lists (private apt configuration)"
apt-get update -q -o Dpkg::Progress-Fancy=0 >/dev/null
echo "install-servers: downloading ${packages[*]}"
(cd "$apt_dir/debs" && apt-get download -q "${packages[@]}" >/dev/null)
for deb in "$apt_dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$work/stage/root"
done
echo "install-servers: downloading valkey-server and valkey-tools from bookworm-backports"
(cd "$apt_dir/debs-valkey80" &&
    apt-get download -q valkey-server/bookworm-backports valkey-tools/bookworm-backports >/dev/null)
for deb in "$apt_dir"/debs-valkey80/*.deb; do
    dpkg-deb -x "$deb" "$work/stage/root-valkey80"
done

root="$prefix/root"
lib="$root/usr/lib/x86_64-linux-gnu"
wrap() { # NAME BINARY
    cat >"$work/stage/bin/$1" <<EOF
#!/bin/sh
# $1: Debian 13's $2 through its own loader and libraries (tests/install-servers.sh).
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$root/usr/bin/$2" "\$@"
EOF
    chmod 0755 "$work/stage/bin/$1"
}
wrap redis8-server redis-server
wrap redis8-cli redis-cli
wrap valkey-server valkey-server
wrap valkey-cli valkey-cli
wrap valkey-sentinel valkey-sentinel
# Valkey 8.0 is built for Debian 12: no loader of its own is needed.
for w in server cli; do
    cat >"$work/stage/bin/valkey80-$w" <<EOF
#!/bin/sh
# valkey80-$w: bookworm-backports' valkey-$w 8.0 (tests/install-servers.sh).
exec "$prefix/root-valkey80/usr/bin/valkey-$w" "\$@"
EOF
    chmod 0755 "$work/stage/bin/valkey80-$w"
done
touch "$work/stage/.complete"

rm -rf "$prefix"
mv "$work/stage" "$prefix"

for w in redis8-server valkey-server valkey80-server; do
    "$prefix/bin/$w" --version
done
echo "install-servers: installed into $prefix"
