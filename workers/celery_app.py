"""The Celery app: configuration as data, and the model's lifecycle in worker processes.

Imports neither the engine nor onnxruntime: producers import this module to publish tasks by name.
The model is loaded in each prefork child (`worker_process_init`) or lazily on first use (solo and
threads pools), never in the forking parent: CUDA and ONNX Runtime sessions do not survive fork.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from celery import Celery
from celery.signals import worker_process_init, worker_ready
from kombu import Exchange, Queue

from smallcut.settings import Settings, get_settings

log = logging.getLogger(__name__)

TASK_KEY = "smallcut.process_key"
TASK_CHUNK = "smallcut.process_chunk"


def celery_config(s: Settings) -> dict:
    """Everything Celery needs, as one dict (see design notes: durability with the Redis broker)."""
    from smallcut.redisconn import tls_options

    return {
        "broker_url": s.broker,
        # rediss://: verify the server (kombu alone would not); no result backend to configure (none used)
        "broker_use_ssl": tls_options(s, s.broker) or None,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        # unacked messages of a lost worker come back after visibility_timeout; sweep for them often
        # enough (kombu's default sweep is ~100 s apart) that recovery takes about that long, not more
        "broker_transport_options": {
            "visibility_timeout": s.visibility_timeout,
            "unacked_restore_interval": min(30, max(1, s.visibility_timeout // 10)),
            "unacked_restore_throttle": 1,
        },
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,  # status lives in smallcut's own Redis hashes
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_proc_alive_timeout": 120,  # children load the model before reporting ready
        # the soft limit raises inside the task (the key fails with a reason, the chunk's rest is retried);
        # the hard one kills the child. With both set, Celery arms the hard timer only after the soft one.
        "task_soft_time_limit": s.soft_time_limit or None,  # 0: none
        "task_time_limit": s.time_limit or None,
        "task_default_queue": s.queue,
        "task_queues": [Queue(q, Exchange(q, type="direct"), routing_key=q) for q in (s.gpu_queue, s.cpu_queue)],
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": True,  # Flower
        "task_send_sent_event": True,
        "enable_utc": True,
    }


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
    log.info("model %s loaded in %s", engine.model_id, worker_name())
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
