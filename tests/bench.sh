#!/usr/bin/env bash
# Times `redis-harden init --env production` (a whole bundle: CA, server and client
# certificates, secrets, redis.conf, users.acl, client.env) on a fresh directory each run,
# against an openssl shell recipe that makes only the same three ECDSA P-256 certificates.
#
# Usage: tests/bench.sh            (from anywhere; needs cargo, hyperfine, openssl and python3)
#        RUNS=500 tests/bench.sh   (more runs; the default is 200 per command)
# Target: init under 10 ms.
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in cargo hyperfine openssl python3; do
    command -v "$tool" >/dev/null || {
        echo "bench: $tool is not installed (apt-get install -y hyperfine openssl python3)" >&2
        exit 2
    }
done

runs=${RUNS:-200}
cargo build --release --locked --quiet
bin=$PWD/target/release/redis-harden

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# hyperfine runs commands without a shell (-N): no spaces in these paths.
out=$work/bundle
osl=$work/openssl-bundle

# The same three certificates as `init` makes: a CA (pathlen 0, 1825 days), a server leaf
# with SANs localhost and 127.0.0.1 (serverAuth + clientAuth, 90 days) and a client leaf
# (clientAuth, 90 days), all ECDSA P-256. OpenSSL 3's `req -x509 -CA` signs in one process
# per certificate, the fewest processes such a recipe can use.
cat >"$work/openssl-recipe.sh" <<'EOF'
set -eu
mkdir -p "$1/tls"
cd "$1/tls"
umask 077
key="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc"
openssl req -x509 $key -keyout ca.key -out ca.crt -days 1825 \
    -subj "/CN=redis production CA/O=redis-harden" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -x509 -CA ca.crt -CAkey ca.key $key -keyout server.key -out server.crt -days 90 \
    -subj "/CN=localhost/O=redis-harden" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" 2>/dev/null
openssl req -x509 -CA ca.crt -CAkey ca.key $key -keyout client.key -out client.crt -days 90 \
    -subj "/CN=app/O=redis-harden" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=clientAuth" 2>/dev/null
EOF

# Sanity: both produce certificates that verify, so the comparison is like for like.
"$bin" init --env production --out "$out" >/dev/null
bash "$work/openssl-recipe.sh" "$osl"
for d in "$out" "$osl"; do
    openssl verify -purpose sslserver -CAfile "$d/tls/ca.crt" "$d/tls/server.crt" >/dev/null
    openssl verify -purpose sslclient -CAfile "$d/tls/ca.crt" "$d/tls/client.crt" >/dev/null
done

echo "redis-harden $("$bin" --version | cut -d' ' -f2), $(openssl version | cut -d' ' -f1-2), $(hyperfine --version), $(nproc) cores"
hyperfine -N --warmup 10 --runs "$runs" \
    --export-json "$work/results.json" \
    --command-name "redis-harden init --env production" \
    --prepare "rm -rf $out" \
    "$bin init --env production --out $out" \
    --command-name "openssl recipe (3 certificates only)" \
    --prepare "rm -rf $osl" \
    "bash $work/openssl-recipe.sh $osl"

# init's commit flushes the disk once (one syncfs for the staged files and the journal; the
# renames are not flushed, see docs/bundle.md), and a syncfs also waits for whatever else the
# machine has written: its timing is disk-bound with a long tail, so the median is the
# steadier figure, printed beside the mean. Compare with a quiet machine (`uptime`).
echo
echo "| command | mean ± σ (ms) | median (ms) | min (ms) | max (ms) | runs |"
echo "|---|---:|---:|---:|---:|---:|"
python3 - "$work/results.json" <<'EOF'
import json, sys
ms = lambda v: f"{v * 1000:.1f}"
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"| {r['command']} | {ms(r['mean'])} ± {ms(r['stddev'])} | {ms(r['median'])} "
          f"| {ms(r['min'])} | {ms(r['max'])} | {len(r['times'])} |")
EOF
