"""Real servers for the integration suite, started once per session.

A Redis-protocol server (valkey-server or redis-server) and moto's S3 server on free 127.0.0.1
ports, and one real `smallcut worker` process (prefork, 2 children, 1 ONNX thread each).
Tests use their own prefixes and batch ids, so they share the servers without interfering.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import photos

IN_BUCKET, OUT_BUCKET, SHARED_BUCKET, OTHER_BUCKET = "inbox", "outbox", "shared", "elsewhere"
ALLOWED = f"{IN_BUCKET},{OUT_BUCKET},{SHARED_BUCKET}"


def photo(n: int) -> bytes:
    """A small photo: ECSSD image n when the data set is next to the repo, else a generated photo of
    one salient object (tests/photos.py)."""
    return photos.photo_path(n).read_bytes()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from smallcut import localstack

    workdir = tmp_path_factory.mktemp("stack")
    state = localstack.up(workdir, workers=0)
    yield state
    localstack.down(workdir)


@pytest.fixture(scope="session")
def env(stack) -> dict[str, str]:
    """Environment for every smallcut subprocess of the suite."""
    return {
        **stack.env,
        "SMALLCUT_ALLOWED_BUCKETS": ALLOWED,
        "SMALLCUT_QUEUE": "cpu",
        "SMALLCUT_PROVIDERS": "CPUExecutionProvider",
        "SMALLCUT_INTRA_OP_THREADS": "1",
        "SMALLCUT_RETRY_BACKOFF": "0.2",
        "SMALLCUT_MAX_RETRIES": "2",
        "SMALLCUT_OUT_PREFIX": "cutouts",
    }


def settings_of(env: dict[str, str]):
    """The Settings a smallcut process started with `env` would read (and nothing from .env)."""
    from smallcut.settings import Settings

    return Settings(_env_file=None, **{k.removeprefix("SMALLCUT_").lower(): v for k, v in env.items()})


@pytest.fixture(scope="session")
def settings(env):
    return settings_of(env)


@pytest.fixture(scope="session")
def s3(settings):
    from smallcut.storage import make_client

    client = make_client(settings)
    for b in (IN_BUCKET, OUT_BUCKET, SHARED_BUCKET, OTHER_BUCKET):
        client.create_bucket(Bucket=b)
    return client


@pytest.fixture(scope="session")
def status(settings):
    from smallcut.status import StatusStore

    return StatusStore.from_settings(settings)


@pytest.fixture(scope="session")
def celery_app(settings):
    from workers.celery_app import make_app

    return make_app(settings)


@pytest.fixture(scope="session")
def worker(stack, env, s3):
    """One real worker process: `smallcut worker --concurrency 2` (prefork)."""
    with running_worker(env, Path(stack.dir), "testworker", concurrency=2, queues="cpu,gpu") as proc:
        yield proc


@contextmanager
def running_worker(env: dict[str, str], workdir: Path, name: str, *, concurrency: int, queues: str):
    """A real `smallcut worker` process, up (answering pings) on entry, stopped and reaped on exit."""
    from smallcut import localstack
    from smallcut.redisconn import tls_options

    url = env["SMALLCUT_REDIS_URL"]
    proc = localstack.start_worker(env, workdir, name, concurrency=concurrency, queues=queues)
    try:
        localstack.wait_for_workers(url, 1, timeout=120, pids=[proc.pid], broker_use_ssl=tls_options(settings_of(env), url))
        yield proc
    finally:
        localstack.stop(proc.pid)
        proc.wait(timeout=30)


def smallcut(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `smallcut` command line with the suite's environment."""
    return subprocess.run([sys.executable, "-m", "smallcut.cli", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


def wait_for_object(status, oid: str, states=("done", "failed", "skipped"), timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = status.get_object(oid)
        if obj and obj["state"] in states:
            return obj
        time.sleep(0.2)
    raise AssertionError(f"{oid} did not reach {states}: {status.get_object(oid)}")


def last_json_line(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


from .api_fixtures import api  # noqa: E402,F401 - one API server + worker for the whole session (test_api*.py)


@pytest.fixture(scope="module")
def proxy(settings):
    """A fault-injecting TCP proxy in front of the suite's S3 server (one per test module)."""
    from tests.faultproxy import FaultProxy

    port = int(settings.s3_endpoint_url.rsplit(":", 1)[1])
    with FaultProxy(port) as p:
        yield p
