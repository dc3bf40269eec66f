#!/usr/bin/env python3
"""Connect to a redis-harden deployment with redis-py using nothing but client.env.

    pip install redis cryptography
    python3 examples/python/client.py deploy/production/client.env [KEY]

Without an argument the variables are read from the environment (e.g. after
`set -a; . ./client.env; set +a`). KEY defaults to "example:python"; it must match the app
user's acl.app.keys.

The value is encrypted with the Fernet key from client.env before it is stored: Redis (and
its RDB files and replicas) only ever see ciphertext.
"""

import os
import sys

import redis
from cryptography.fernet import Fernet


def read_env_file(path):
    """KEY=value lines; comments and blank lines skipped. A value in double quotes loses them
    (REDIS_URL is quoted for its `&`s), as a shell, systemd or python-dotenv would do."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                env[key] = value
    return env


def connect(env):
    # The URL carries the user, its password, host, port and database; rediss:// means TLS.
    kwargs = {"socket_timeout": 10, "socket_connect_timeout": 10}
    if env.get("REDIS_TLS_CA_FILE"):
        kwargs.update(
            # Verify the chain against our CA, and that the URL's host is in the server
            # certificate (redis-py's defaults have changed across versions: be explicit).
            ssl_ca_certs=env["REDIS_TLS_CA_FILE"],
            ssl_cert_reqs="required",
            ssl_check_hostname=True,
            # The client certificate, for servers that require mTLS.
            ssl_certfile=env["REDIS_TLS_CERT_FILE"],
            ssl_keyfile=env["REDIS_TLS_KEY_FILE"],
        )
    return redis.Redis.from_url(env["REDIS_URL"], **kwargs)


def main():
    env = read_env_file(sys.argv[1]) if len(sys.argv) > 1 else os.environ
    key = sys.argv[2] if len(sys.argv) > 2 else "example:python"
    if "REDIS_URL" not in env:
        sys.exit("error: REDIS_URL is not set (pass the path to client.env)")

    fernet = Fernet(env["REDIS_ENCRYPTION_KEY"].encode())
    secret = b"card 4111 1111 1111 1111"
    r = connect(env)
    try:
        r.set(key, fernet.encrypt(secret), ex=60)
        stored = r.get(key)
        if stored == secret or fernet.decrypt(stored) != secret:
            sys.exit(f"error: read back {stored!r}")
        r.delete(key)
    except redis.exceptions.RedisError as e:
        # Certificate and AUTH failures included: the message says which.
        sys.exit(f"error: {e}")
    finally:
        r.close()
    print(f"ok: SET/GET {key} round trip, value encrypted with REDIS_ENCRYPTION_KEY")


if __name__ == "__main__":
    main()
