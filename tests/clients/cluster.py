"""A redis-py RedisCluster client configured from a cluster bundle's client.env alone.

Usage: python3 cluster.py CLIENT_ENV write N       writes N keys, prints which primaries
                                                   (host:port of the node that took each) got them
       python3 cluster.py CLIENT_ENV failover KEY S
                                                   prints the port of the primary holding KEY,
                                                   waits for a line on stdin (that primary was
                                                   killed), then writes KEY with the same client
                                                   until it succeeds or S seconds pass; prints
                                                   the seconds it took and the new owner

Output is one JSON object on stdout. Everything the client needs comes from client.env:
REDIS_URL (credentials and TLS files) and REDIS_CLUSTER_NODES (where to start).
"""

import json
import sys
import time

from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError


def env_file(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            env[key] = value
    return env


def client(env):
    nodes = []
    for host_port in env["REDIS_CLUSTER_NODES"].split(","):
        host, port = host_port.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    # The URL carries user, password, ssl_cert_reqs, ssl_ca_certs, ssl_certfile, ssl_keyfile.
    return RedisCluster(
        url=env["REDIS_URL"],
        startup_nodes=nodes,
        socket_timeout=2,
        socket_connect_timeout=2,
    )


def main():
    env = env_file(sys.argv[1])
    command = sys.argv[2]
    rc = client(env)
    if command == "write":
        owners = {}
        for i in range(int(sys.argv[3])):
            key = f"cluster-test:{i}"
            rc.set(key, str(i))
            assert rc.get(key) == str(i).encode(), key
            node = rc.get_node_from_key(key)
            owners.setdefault(f"{node.host}:{node.port}", 0)
            owners[f"{node.host}:{node.port}"] += 1
        print(json.dumps({"owners": owners}))
    elif command == "failover":
        # One client throughout, as an application has: made before the kill, it must find
        # the promoted replica by itself.
        key, limit = sys.argv[3], float(sys.argv[4])
        rc.set(key, "before-failover")
        print(json.dumps({"port": rc.get_node_from_key(key).port}), flush=True)
        sys.stdin.readline()
        start = time.monotonic()
        errors = []
        while True:
            try:
                rc.set(key, "after-failover")
                assert rc.get(key) == b"after-failover"
                break
            except (RedisError, OSError) as e:
                errors.append(type(e).__name__)
                if time.monotonic() - start > limit:
                    print(json.dumps({"ok": False, "errors": errors[-5:]}))
                    return 1
                time.sleep(0.2)
        print(
            json.dumps(
                {
                    "ok": True,
                    "seconds": round(time.monotonic() - start, 2),
                    "port": rc.get_node_from_key(key).port,
                    "errors": sorted(set(errors)),
                }
            )
        )
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
