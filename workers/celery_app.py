"""The workers' Celery app and the model's lifecycle in worker processes.

The task names and Celery settings come from smallcut.celery_config, which producers use to publish
tasks by name without importing this package. The model is loaded in each prefork child (`worker_process_init`) or lazily on first use (solo and
threads pools), never in the forking parent: CUDA and ONNX Runtime sessions do not survive fork.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from smallcut.celery_config import TASK_CHUNK, TASK_KEY, celery_config  # noqa: F401 - the names workers register
from smallcut.settings import Settings, get_settings

log = logging.getLogger(__name__)


def make_app(settings: Settings | None = None) -> Celery:
    s = settings or get_settings()
    celery = Celery("smallcut", set_as_current=True)
    celery.conf.update(celery_config(s))
    celery.conf.include = ["workers.tasks"]
    return celery


app = make_app()


# ---------------------------------------------------------------------- per-process resources
_lock = threading.RLock()  # factories may build other resources
_resources: dict = {}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _per_process(name: str, factory):
    """One object per process: rebuilt when the pid changes (a fork never inherits a live one)."""
    pid = os.getpid()
    item = _resources.get(name)
    if item is not None and item[0] == pid:
        return item[1]
    with _lock:
        item = _resources.get(name)
        if item is None or item[0] != pid:
            item = (pid, factory())
            _resources[name] = item
    return item[1]


def get_status():
    from smallcut.status import StatusStore

    return _per_process("status", lambda: StatusStore.from_settings(get_settings()))


def get_s3():
    from smallcut.storage import make_client

    return _per_process("s3", lambda: make_client(get_settings()))


def _load_engine():
    import time

    from smallcut import metrics
    from workers.engine import Engine

    t0 = time.perf_counter()
    engine = Engine.from_settings(get_settings())
    metrics.MODEL_LOAD_SECONDS.observe(time.perf_counter() - t0)
    precision = next((p for p in ("int8", "fp16") if f":{p}-" in engine.model_id), "fp32")  # engine.py's model_id
    log.info("model %s loaded in %s, precision %s", engine.model_id, worker_name(), precision)
    try:
        get_status().record_model_load(worker_name())
    except Exception:  # the count is observability; a Redis hiccup must not stop the worker
        log.warning("could not record the model load", exc_info=True)
    return engine


def get_engine():
    return _per_process("engine", _load_engine)


def _make_keeper():
    from smallcut.leases import LeaseStore

    from .leases import LeaseKeeper

    s = get_settings()
    status = get_status()

    def send(job: dict, queue: str | None) -> None:
        app.send_task(TASK_CHUNK, args=[job], queue=queue or s.queue)

    return LeaseKeeper(LeaseStore(status.r, s.lease_ttl), status, send, s.reap_interval)


def get_lease_keeper():
    """This process's lease heartbeat and reaper (threads start on first use)."""
    return _per_process("leases", _make_keeper)


@worker_process_init.connect
def _load_in_child(**_kwargs) -> None:
    get_engine()
    get_lease_keeper().start()  # every prefork child reaps, busy or idle


@worker_ready.connect
def _reap_in_solo_worker(sender=None, **_kwargs) -> None:
    # prefork children reap (above); solo and threads pools run tasks in this process: reap here
    pool = getattr(getattr(sender, "controller", None), "pool", None) or getattr(sender, "pool", None)
    if "prefork" not in type(pool).__module__:
        get_lease_keeper().start()
