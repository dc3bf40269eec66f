#!/usr/bin/env bash
# Measures the cost of stretching a master key (Argon2id, 64 MiB, t=3, p=1: deliberately slow)
# in a release build, and recomputes known-answer vectors of the derivation with independent
# tools (the reference `argon2` program, OpenSSL and Python) when they are installed.
#
# Usage: tests/bench-masterkey.sh           (needs cargo; argon2, openssl, python3 optional:
#                                            apt-get install -y argon2 openssl python3)
#        RUNS=10 tests/bench-masterkey.sh   (more samples; each run stretches 4 times)
#
# The timings come from the masterkey unit tests, which print how long each stretch took and
# assert nothing about time. The per-secret derivation after the stretch is a few HMAC-SHA256
# calls: microseconds.
set -euo pipefail

cd "$(dirname "$0")/.."
runs=${RUNS:-3}
snap=snapshots/masterkey-test-vectors.snap

cargo test --release --locked --quiet --lib masterkey --no-run 2>/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for _ in $(seq "$runs"); do
    cargo test --release --locked --quiet --lib masterkey -- --nocapture --test-threads=1 \
        2>&1 | grep -o 'took [0-9]* ms' >>"$log"
done
python3 - "$log" <<'EOF' || sed 's/^/stretch: /' "$log"
import statistics, sys
ms = sorted(int(line.split()[1]) for line in open(sys.argv[1]))
print(f"stretch (release, {len(ms)} samples): min {ms[0]} ms, median "
      f"{statistics.median(ms):.0f} ms, max {ms[-1]} ms")
EOF

for tool in argon2 openssl python3 basenc; do
    command -v "$tool" >/dev/null || {
        echo "cross-check skipped: $tool is not installed"
        exit 0
    }
done
key=$(sed -n 's/^master key: //p' "$snap")
want=$(sed -n 's/^stretched: *//p' "$snap")
k=$(printf %s "$key" | argon2 redis-harden/v1/salt/kat -id -v 13 -m 16 -t 3 -p 1 -l 32 -r)
[ "$k" = "$want" ] || { echo "MISMATCH: argon2 gives $k, the snapshot $want" >&2; exit 1; }
fails=0
for env in production staging development testing; do
    for g in 1 2; do
        label=redis-harden/v1/$env/encryption-key/generation-$g
        got=$(printf '\0\0\0\001%s' "$label" |
            openssl dgst -sha256 -mac HMAC -macopt "hexkey:$k" -binary | basenc --base64url)
        want=$(grep -A1 -x "$label" "$snap" | sed -n '2s/^ *//p')
        [ "$got" = "$want" ] || { echo "MISMATCH: $label" >&2; fails=1; }
    done
done
python3 - "$k" "$snap" <<'EOF' || fails=1
import hashlib, hmac, sys
key, snap = bytes.fromhex(sys.argv[1]), open(sys.argv[2]).read().splitlines()
alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def password(label, n):
    out, i = [], 1
    while len(out) < n:
        block = hmac.new(key, i.to_bytes(4, "big") + label.encode(), hashlib.sha256).digest()
        out += [chr(alphabet[b % 62]) for b in block if b < 248]
        i += 1
    return "".join(out[:n])
bad = checked = 0
for label, value in zip(snap, snap[1:]):
    if "/password/" in label:
        checked += 1
        n = int(label.rsplit("length-", 1)[1])
        if password(label, n) != value.strip():
            print("MISMATCH:", label, file=sys.stderr)
            bad = 1
if checked != 24:
    print(f"expected 24 passwords in the snapshot, found {checked}", file=sys.stderr)
    bad = 1
sys.exit(bad)
EOF
[ "$fails" = 0 ] || exit 1
echo "cross-check: the stretched key, 8 Fernet keys and 24 passwords in $snap match argon2 + openssl + python"
