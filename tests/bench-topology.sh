#!/usr/bin/env bash
# Times `redis-harden init` of a 100-node Redis Cluster bundle (50 shards x 1 replica: 100
# node certificates and keys, 100 redis.conf files, per-node firewall rules, cluster-create.sh)
# on a fresh directory each run, beside a standalone bundle for scale.
#
# Usage: tests/bench-topology.sh            (needs cargo, hyperfine and python3)
#        RUNS=50 tests/bench-topology.sh    (more runs; the default is 20 per command)
#        TMPDIR=/dev/shm tests/bench-topology.sh   (on tmpfs, where fsync costs nothing)
# Target: the 100-node init under 300 ms.
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in cargo hyperfine python3; do
    command -v "$tool" >/dev/null || {
        echo "bench-topology: $tool is not installed (apt-get install -y hyperfine python3)" >&2
        exit 2
    }
done

runs=${RUNS:-20}
cargo build --release --locked --quiet
bin=$PWD/target/release/redis-harden

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# hyperfine runs commands without a shell (-N): no spaces in these paths.
out=$work/cluster
one=$work/standalone
cluster=(--env production --set topology.kind=cluster --set topology.shards=50
    --set topology.replicas_per_shard=1)

# Sanity: the bundle has what the numbers claim, 100 node configs and 100 node certificates.
"$bin" init "${cluster[@]}" --out "$out" >/dev/null
confs=$(find "$out/nodes" -name redis.conf | wc -l)
certs=$(find "$out/nodes" -name node.crt | wc -l)
if [ "$confs" -ne 100 ] || [ "$certs" -ne 100 ]; then
    echo "bench-topology: expected 100 node configs and certificates, found $confs and $certs" >&2
    exit 1
fi
files=$(find "$out" -type f | wc -l)
rm -rf "$out"

echo "redis-harden $("$bin" --version | cut -d' ' -f2), $(hyperfine --version), $(nproc) cores, $files files per cluster bundle, TMPDIR=${TMPDIR:-/tmp}"
hyperfine -N --warmup 3 --runs "$runs" \
    --export-json "$work/results.json" \
    --command-name "init, cluster of 100 nodes (50 shards x 1 replica)" \
    --prepare "rm -rf $out" \
    "$bin init ${cluster[*]} --out $out" \
    --command-name "init, standalone" \
    --prepare "rm -rf $one" \
    "$bin init --env production --out $one"

# init fsyncs every key, certificate and secret: disk-bound with a long tail, so the median
# is printed beside the mean.
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
