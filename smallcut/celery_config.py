"""What producers and workers agree on to talk through the broker: task names and Celery's settings.

Producers publish tasks by name with `producer_app()` and never import `workers` (which carries the
engine's process lifecycle); workers build their app from the same `celery_config`.
"""

from __future__ import annotations

from functools import lru_cache

from smallcut.settings import Settings, get_settings

TASK_KEY = "smallcut.process_key"
TASK_CHUNK = "smallcut.process_chunk"


def celery_config(s: Settings) -> dict:
    """Everything Celery needs, as one dict (see design notes: durability with the Redis broker)."""
    from kombu import Exchange, Queue

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


def make_producer_app(settings: Settings | None = None):
    """A Celery app that publishes smallcut's tasks by name (it registers none itself)."""
    from celery import Celery

    app = Celery("smallcut", set_as_current=False)
    app.conf.update(celery_config(settings or get_settings()))
    return app


@lru_cache(maxsize=1)
def producer_app():
    """This process's publishing app, built from its settings on first use."""
    return make_producer_app()
