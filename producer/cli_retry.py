"""`smallcut retry-failed BATCH_ID`: send the batch's failed objects again."""

from __future__ import annotations

import argparse

from .cli_common import guarded


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("batch", help="batch id")
    p.add_argument("--queue", default=None, help="queue (default: the batch's)")
    p.add_argument("--wait", action="store_true", help="show progress until the batch finishes again")


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from smallcut.settings import get_settings
    from smallcut.status import StatusStore
    from smallcut.celery_config import producer_app

    from . import report
    from .enqueue import requeue_failed

    settings = get_settings()
    status = StatusStore.from_settings(settings)
    console = Console()
    try:
        n = requeue_failed(args.batch, status=status, celery_app=producer_app(), queue=args.queue, chunk_size=settings.chunk_size)
    except KeyError:
        console.print(f"no batch {args.batch}")
        return 1
    console.print(f"batch {args.batch}: {n} failed objects queued again")
    if args.wait and n:
        summary = report.wait(status, args.batch)
        console.print(report.summary_table(summary, report.failures(status, args.batch)))
        return 0 if summary.failed == 0 else 1
    return 0


run = guarded(_run)
