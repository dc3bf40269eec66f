#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs every tool the tests use (a real
# redis-server 7.0, redis-cli, openssl, nft/iptables/ufw, shellcheck, docker-compose,
# redis-py + cryptography, ioredis), then runs `cargo test --locked`. This is the test
# command of README.md; .ci/run calls it after the format and lint checks.
#
# Needs root (package installs; network namespaces in the firewall tests).
# Usage: sudo tests/run.sh [cargo test arguments...]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: run as root: it installs the test prerequisites (apt-get, pip, npm), and the firewall tests create network namespaces" >&2
    exit 2
fi

echo "::: installing test prerequisites"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# redis-server/redis-tools: Debian 12 ships Redis 7.0, the version the bundles target.
# coreutils: `timeout` bounds every client call. git: the .gitignore test. nftables, iptables,
# ufw, shellcheck, iproute2: the firewall tests (rules checked by the real tools, then
# enforced in network namespaces). docker-compose: validates the generated compose files.
# hyperfine: tests/bench.sh (not run here).
apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 \
    redis-server redis-tools openssl coreutils bash git ca-certificates \
    nftables iptables iproute2 ufw shellcheck docker-compose hyperfine
# --- issue 8: the bundle as a safe store ---
# strace: tests/crash.rs kills every writing command at each file-system syscall
# (-e inject=SYSCALL:signal=KILL:when=N); tests/concurrency.rs widens the race between two
# writers with -e inject=...:delay_enter.
apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 strace
# --- end issue 8 ---
if ! command -v node >/dev/null; then
    apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 nodejs npm
fi

# redis-py and cryptography for the Python client test (Fernet + TLS with hostname checks).
pip_args=(--disable-pip-version-check --root-user-action=ignore --quiet)
if python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")))'; then
    # Debian's own python3 refuses pip installs (PEP 668) unless told otherwise.
    pip_args+=(--break-system-packages)
fi
python3 -m pip install "${pip_args[@]}" 'cryptography>=42' 'redis>=5.0'

# --- issue 9: TLS compliance scan ---
# sslyze: tests/tls_compliance.rs scans a live server of every TLS bundle against Mozilla's
# profile of its environment (`--mozilla_config`) and requires "OK - Compliant".
python3 -m pip install "${pip_args[@]}" 'sslyze>=6.0,<7'
# --- end issue 9 ---
# --- issue 13: CLI conventions and docs ---
# man-db: renders `redis-harden man` with `man -l` (tests/cli_conventions.rs).
# jsonschema: validates every example profile against `redis-harden profile schema`.
apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 man-db
python3 -m pip install "${pip_args[@]}" 'jsonschema>=4.18'
# --- end issue 13 ---

# ioredis for the Node client example, exactly as its lock file pins it.
(cd examples/node && npm ci --no-audit --no-fund --loglevel=error)

# --- issue 12 (ecosystem): redis_exporter, promtool, client libraries and frameworks ---
# prometheus-redis-exporter: the exporter test runs Debian's redis_exporter 1.45 from
# exporter.env. prometheus: its promtool lints `certs status --format prometheus`.
# systemd: tests/host_service.rs judges the redis-server.service drop-in with systemd-analyze.
apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 \
    prometheus-redis-exporter prometheus systemd
# Neither service is used by the tests; stop them if the install started them.
if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service prometheus-redis-exporter.service >/dev/null 2>&1 || true
fi
# tests/frameworks.rs: the Python clients and frameworks that take client.env's REDIS_URL,
# pinned (kombu to the 5.4 line Celery 5.4 shipped with: 5.7.0 failed here importing `packaging`). And ioredis
# plus node-redis, exactly as tests/clients/node's lock file pins them.
python3 -m pip install "${pip_args[@]}" 'redis==5.2.1' 'celery==5.4.0' 'kombu==5.4.2' 'Django==5.1.4'
(cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
# --- end issue 12 ---
# --- issue 12 (host service, Sentinel) ---
# redis-sentinel: Debian's redis-sentinel@.service, which tests/host_service.rs judges with a
# topology node's drop-in (systemd-analyze verify and security). Its own service is not used.
apt-get install -y -q --no-install-recommends -o Dpkg::Progress-Fancy=0 redis-sentinel
if [ -d /run/systemd/system ]; then
    systemctl disable --now redis-sentinel.service >/dev/null 2>&1 || true
fi
# valkey: the user Debian's valkey-server package creates and its units run as; the host
# boot tests (tests/host_service.rs, valkey_8_1) run each node as that user. Debian 13's
# packages are only unpacked (tests/install-servers.sh), so their postinst never ran.
if ! id valkey >/dev/null 2>&1; then
    adduser --system --group --home /var/lib/valkey --no-create-home --quiet valkey
fi
# --- end issue 12 (host service, Sentinel) ---

# --- issue 11 (Kubernetes): offline judges of the k8s/ manifests ---
# kubernetes-validate: --strict schema validation (schemas for 1.29 up to the newest bundled);
# checkov: --framework kubernetes --skip-download, 0 failed checks (tests/kubernetes.rs).
python3 -m pip install "${pip_args[@]}" 'kubernetes-validate==1.37.0' 'checkov==3.3.30'
# --- end issue 11 (Kubernetes) ---

# --- issue 10: server families and versions ---------------------------------------------
# Redis 8.0 and Valkey 8.1 (Debian 13's packages) and Valkey 8.0 (bookworm-backports) for the
# live tests, in a private prefix: /opt/redis-harden-servers/bin/{redis8-server,redis8-cli,
# valkey-server,valkey-cli,valkey80-server,valkey80-cli}. Only Debian's archive is contacted
# and nothing in the system changes. See docs/servers.md.
bash tests/install-servers.sh
# --- end issue 10 ---------------------------------------------------------------------------

# The package's own redis-server service is not used: every live test starts its own server
# on a free loopback port. Stop it if the install started it, so it cannot interfere.
if [ -d /run/systemd/system ]; then
    systemctl disable --now redis-server.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/redis-server ]; then
    /etc/init.d/redis-server stop >/dev/null 2>&1 || true
fi

echo "::: tool versions"
cargo --version
rustc --version
redis-server --version
redis-cli --version
/opt/redis-harden-servers/bin/redis8-server --version
/opt/redis-harden-servers/bin/valkey-server --version
/opt/redis-harden-servers/bin/valkey80-server --version
openssl version
timeout --version | head -n 1
git --version
nft --version
iptables --version
ufw --version | head -n 1
shellcheck --version | sed -n 2p
docker-compose --version
node --version
hyperfine --version
strace -V | head -n 1
man --version
prometheus-redis-exporter --version 2>&1 | head -n 1
promtool --version | head -n 1
systemd-analyze --version | head -n 1
python3 -c 'import sys, redis, cryptography; print("python", sys.version.split()[0], "redis-py", redis.__version__, "cryptography", cryptography.__version__)'
python3 -c 'import importlib.metadata as m; print("sslyze", m.version("sslyze"))'
python3 -c 'import celery, kombu, django; print("celery", celery.__version__, "kombu", kombu.__version__, "Django", django.get_version())'
python3 -c 'import importlib.metadata as m; print("jsonschema", m.version("jsonschema"))'

kubernetes-validate --version
checkov --version
echo "::: cargo test"
cargo test --locked "$@"
