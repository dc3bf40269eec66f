#!/usr/bin/env python3
"""Python clients and frameworks against a redis-harden bundle, configured by client.env alone.

    python3 tests/clients/frameworks.py MODE

The variables of client.env are in the environment (as after `set -a; . ./client.env`);
nothing here reads REDIS_TLS_*: every client gets REDIS_URL and nothing else.

MODE: redis-py (Redis.from_url), django (the built-in RedisCache), celery (broker and result
backend, with a real worker), lock (redis-py's Lock). Prints "ok: ..." and exits 0, or prints
the error and exits 1.
"""

import os
import sys
import uuid

URL = os.environ["REDIS_URL"]
KEY = "frameworks:" + uuid.uuid4().hex


def redis_py():
    import redis

    r = redis.Redis.from_url(URL, socket_timeout=10)
    r.set(KEY, b"v", ex=60)
    assert r.get(KEY) == b"v"
    r.delete(KEY)
    return f"redis-py {redis.__version__} from_url SET/GET"


def django():
    import django as dj
    from django.conf import settings

    settings.configure(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": URL,
            }
        }
    )
    dj.setup()
    from django.core.cache import cache

    cache.set(KEY, {"n": 1}, 60)
    assert cache.get(KEY) == {"n": 1}, cache.get(KEY)
    cache.delete(KEY)
    return f"Django {dj.get_version()} RedisCache set/get"


def celery():
    import celery as cel
    from celery.contrib.testing.worker import start_worker

    app = cel.Celery("frameworks", broker=URL, backend=URL)
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_connection_max_retries = 1
    app.conf.task_default_queue = KEY

    @app.task
    def add(x, y):
        return x + y

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        got = add.delay(2, 3).get(timeout=30)
    assert got == 5, got
    return f"Celery {cel.__version__} task through the broker, result through the backend"


def lock():
    import redis

    r = redis.Redis.from_url(URL, socket_timeout=10)
    with r.lock(KEY, timeout=30, blocking_timeout=5):
        assert r.exists(KEY)
    assert not r.exists(KEY), "the lock outlived its release"
    return f"redis-py {redis.__version__} Lock acquired and released"


def main():
    mode = sys.argv[1]
    run = {"redis-py": redis_py, "django": django, "celery": celery, "lock": lock}[mode]
    try:
        said = run()
    except Exception as e:  # every failure, with its type: the test matches on it
        print(f"error: {type(e).__name__}: {e}")
        sys.exit(1)
    print(f"ok: {said}")


if __name__ == "__main__":
    main()
