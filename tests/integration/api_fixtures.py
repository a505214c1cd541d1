"""Real `smallcut api` and `smallcut worker` processes for the API, review-page and metrics tests.

The API queues on its own queue (`api`), served by one worker with /metrics on: its counters then
count exactly the work of these tests, whatever else the suite runs at the same time.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

API_QUEUE = "api"
TOKEN = "test-token-7f3a"
MAX_BODY = 3 * 1024 * 1024
SCRATCH = "s3://inbox/apiscratch"
FETCH_MAX_BYTES = 1_500_000  # GET /api/remove?url=: fetched bodies above this are refused


@dataclass(frozen=True)
class Api:
    url: str
    metrics_url: str  # the worker's /metrics
    log: Path  # the API process's stderr (JSON lines)

    def client(self, token: str | None = TOKEN, timeout: float = 120):
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def wait_http(url: str, proc, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


@pytest.fixture(scope="session")
def api(stack, env, s3):
    from smallcut import localstack

    workdir = Path(stack.dir)
    api_port, metrics_port = localstack.free_port(), localstack.free_port()
    api_env = {**env, "SMALLCUT_QUEUE": API_QUEUE, "SMALLCUT_API_TOKEN": TOKEN, "SMALLCUT_API_MAX_BODY": str(MAX_BODY),
               "SMALLCUT_API_SCRATCH": SCRATCH, "SMALLCUT_API_CUTOUT_TIMEOUT": "90",
               "SMALLCUT_LOG_JSON": "true", "SMALLCUT_API_FETCH_HOSTS": "localhost",
               "SMALLCUT_API_FETCH_MAX_BYTES": str(FETCH_MAX_BYTES), "SMALLCUT_API_FETCH_TIMEOUT": "4"}
    metrics_dir = workdir / "metrics-apiworker"
    worker = localstack.start_worker(env, workdir, "apiworker", concurrency=2, queues=API_QUEUE, extra_env={
        "SMALLCUT_METRICS_PORT": str(metrics_port), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)})
    server = localstack._spawn([sys.executable, "-m", "smallcut.cli", "api", "--port", str(api_port)],
                               workdir / "api.log", {**os.environ, **api_env})
    try:
        wait_http(f"http://127.0.0.1:{metrics_port}/metrics", worker)  # queued work waits for the children
        wait_http(f"http://127.0.0.1:{api_port}/healthz", server)
        yield Api(url=f"http://127.0.0.1:{api_port}", metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
                  log=workdir / "api.log")
    finally:
        localstack.stop(server.pid)
        localstack.stop(worker.pid)
        server.wait(timeout=30)
        worker.wait(timeout=30)


_SAMPLE = re.compile(r'^(\w+)(?:\{([^}]*)\})? ([0-9.eE+\-]+|NaN|\+Inf)$')


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text format -> {(name, labels): value}."""
    import httpx

    out = {}
    for line in httpx.get(url, timeout=10).text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def sample(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
