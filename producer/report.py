"""Terminal output for batches: a live progress bar while waiting, a summary table at the end."""

from __future__ import annotations

import time

from smallcut.status import BatchSummary


def elapsed_text(summary: BatchSummary) -> str:
    """The batch's elapsed time, as both the progress bar and the summary table show it: one
    measurement (BatchSummary.elapsed, from the first object started to the last finished, the span
    the throughput is computed over), never the terminal's own clock next to it."""
    if summary.started is None and not summary.is_finished:
        return "waiting for a worker"
    return f"{summary.elapsed:.1f} s"


def wait(status, batch: str, *, show: bool = True, timeout: float | None = None, poll: float = 0.5,
         outage_patience: float = 600.0) -> BatchSummary:
    """Poll the batch counters until every object is done, skipped or failed (or the timeout).

    Redis restarting under a waiting command is an outage to sit out (the workers do too), for up to
    `outage_patience` seconds; a batch that is gone is said plainly, not raised as a KeyError."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from .cli_common import CommandFailed

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    deadline = None if timeout is None else time.monotonic() + timeout
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("done {task.fields[done]} · skipped {task.fields[skipped]} · failed {task.fields[failed]}"),
               TextColumn("{task.fields[elapsed]}")]
    with Progress(*columns, disable=not show, transient=False) as progress:
        task = progress.add_task(batch, total=None, done=0, skipped=0, failed=0, elapsed="")
        unreachable_since = None
        while True:
            try:
                summary = status.get_batch(batch)
            except (RedisConnectionError, RedisTimeoutError):
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > outage_patience:
                    raise
                progress.update(task, description=f"{batch} (Redis unreachable, waiting)")
                time.sleep(max(poll, 1.0))
                continue
            if unreachable_since is not None:
                unreachable_since = None
                progress.update(task, description=batch)
            if summary is None:
                import sys

                print(f"error: batch {batch} is no longer in Redis (its status expired, or Redis lost its data: "
                      "see docs/operations.md)", file=sys.stderr)
                raise CommandFailed(batch)
            progress.update(task, total=summary.total if summary.listed else None, completed=summary.completed,
                            done=summary.done, skipped=summary.skipped, failed=summary.failed,
                            elapsed=elapsed_text(summary))
            if summary.is_finished or (deadline is not None and time.monotonic() > deadline):
                return summary
            time.sleep(poll)


def summary_table(summary: BatchSummary, failures: list[dict] | None = None):
    from rich.table import Table

    table = Table(title=f"batch {summary.batch}", show_header=True)
    for col in ("total", "done", "skipped", "failed", "pending", "elapsed", "throughput"):
        table.add_column(col, justify="right")
    table.add_row(str(summary.total), str(summary.done), str(summary.skipped), str(summary.failed),
                  str(summary.total - summary.completed), elapsed_text(summary), f"{summary.throughput:.2f} img/s")
    if not failures:
        return table
    from rich.console import Group

    fail_table = Table(title="failed", show_header=True)
    fail_table.add_column("object")
    fail_table.add_column("reason")
    for f in failures:
        fail_table.add_row(f"s3://{f.get('bucket', '')}/{f.get('key', '')}", f.get("error", ""))
    return Group(table, fail_table)


def failures(status, batch: str, limit: int = 20) -> list[dict]:
    out = []
    for oid in status.failed_ids(batch)[:limit]:
        obj = status.get_object(oid)
        if obj:
            out.append(obj)
    return out
