"""`smallcut worker`: one Celery worker in the foreground (what a fleet node runs).

prefork (default) loads the model once in each child process; `--pool solo` runs one process with
the model loaded on first use (one process per GPU).
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", "-c", type=int, default=None, help="worker processes (default: SMALLCUT_CONCURRENCY)")
    p.add_argument("--queues", "-Q", default=None,
                   help="comma-separated queues to consume (default: SMALLCUT_QUEUE; e.g. gpu or cpu or gpu,cpu)")
    p.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"], help="execution pool")
    p.add_argument("--loglevel", "-l", default="INFO", help="log level")
    p.add_argument("--hostname", "-n", default=None, help="node name (default: smallcut@<host>)")
    p.add_argument("--max-tasks-per-child", type=int, default=None, help="recycle children (reloads the model)")


def build_argv(args: argparse.Namespace, settings) -> list[str]:
    argv = [
        "worker",
        f"--concurrency={args.concurrency or settings.concurrency}",
        f"--queues={args.queues or settings.queue}",
        f"--pool={args.pool}",
        f"--loglevel={args.loglevel}",
        f"--hostname={args.hostname or 'smallcut@%h'}",
        "--without-mingle",
        "--without-gossip",
    ]
    if args.max_tasks_per_child:
        argv.append(f"--max-tasks-per-child={args.max_tasks_per_child}")
    return argv


def share_cores(settings, concurrency: int, pool: str) -> None:
    """CPU inference: each prefork child gets cores/concurrency ONNX threads unless set explicitly,
    so N children do not oversubscribe the machine (children inherit the environment)."""
    import os

    from smallcut.settings import get_settings

    if settings.intra_op_threads or pool != "prefork" or concurrency <= 1:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ["SMALLCUT_INTRA_OP_THREADS"] = str(max(1, cores // concurrency))
    get_settings.cache_clear()


def run(args: argparse.Namespace) -> int:
    from smallcut.settings import get_settings

    settings = get_settings()
    share_cores(settings, args.concurrency or settings.concurrency, args.pool)
    if settings.metrics_port > 0:  # before Celery forks and before prometheus-client is imported
        from smallcut.metrics_http import start_worker_endpoint

        start_worker_endpoint(settings.metrics_port)

    from .celery_app import app

    app.worker_main(build_argv(args, get_settings()))
    return 0
