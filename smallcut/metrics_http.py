"""A worker's /metrics endpoint in multiprocess mode.

prometheus-client picks its storage when it is first imported, so the directory must be in the
environment before that: call `start_worker_endpoint` in the worker's main process before Celery
forks its children and before anything imports `smallcut.metrics`.
"""

from __future__ import annotations

import os
import tempfile


def prepare_multiprocess() -> str:
    """A fresh PROMETHEUS_MULTIPROC_DIR (stale files of an earlier run would add old counts)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="smallcut-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.unlink(os.path.join(path, name))
    return path


def start_worker_endpoint(port: int, addr: str = "0.0.0.0") -> str:
    """Serve the summed samples of every process writing to the directory (plus GPU gauges), from a thread."""
    path = prepare_multiprocess()
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    from smallcut.gpu_metrics import GpuCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    registry.register(GpuCollector())  # device memory/utilisation, read at scrape time; none without a GPU
    start_http_server(port, addr=addr, registry=registry)
    return path
