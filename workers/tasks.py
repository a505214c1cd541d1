"""Celery tasks: thin wrappers that hand a job to the pipeline and schedule retries it asks for."""

from __future__ import annotations

import logging
import time

from billiard.exceptions import TimeLimitExceeded

from smallcut.job import InvalidJob, Job
from smallcut.settings import get_settings

from .celery_app import TASK_CHUNK, TASK_KEY, app, get_engine, get_lease_keeper, get_s3, get_status, worker_name
from .pipeline import Context, fail_unfinished, is_transient, run_job

logger = logging.getLogger(__name__)


def _named_keys(message) -> Job | None:
    """The batch, bucket and keys of a message that is not a valid job, when those parts are readable:
    the keys it names can then end failed with the reason instead of staying queued."""
    if not isinstance(message, dict):
        return None
    try:
        return Job.from_message({k: message[k] for k in ("batch", "bucket", "keys", "key") if k in message})
    except InvalidJob:
        return None


def _run(task, message: dict) -> dict:
    """Run a job under a lease: held before any key is touched, given back when the job ends in any
    way Python sees (done, retry scheduled, failed). A process that is killed keeps it, and its
    expiry tells the reapers to requeue the keys (workers/leases.py)."""
    try:
        job = Job.from_message(message)
    except InvalidJob as exc:
        # retrying cannot fix the message: its keys end failed with the reason, the task ends normally
        reason = f"refused: {exc}"[:500]
        named = _named_keys(message)
        logger.error("task %s: %s", task.request.id, reason)
        failed = fail_unfinished(named, reason, get_status(), worker_name()) if named else []
        return {"keys": 0, "failed": len(failed), "error": reason}
    s = get_settings()
    # tries and the retry budget's start travel in the job, so a job requeued by a reaper (a new task,
    # Celery's count back at 0) keeps them
    ctx = Context(settings=s, status=get_status(), s3=get_s3(), engine_getter=get_engine, worker=worker_name(),
                  retries=task.request.retries if job.tries is None else job.tries, task_id=task.request.id or "",
                  retry_since=job.retry_since or time.time())
    keeper, lease = get_lease_keeper(), None
    try:
        lease = keeper.hold({"job": job.to_message(), "queue": (task.request.delivery_info or {}).get("routing_key"),
                             "holder": ctx.worker, "task_id": ctx.task_id})
        result = _run_held(task, job, ctx)
    except Exception as exc:  # not BaseException: a SystemExit from a terminated child keeps the lease
        if lease is None:  # Redis unreachable before anything ran: retry the whole job later
            _retry_whole(task, job, ctx, exc)
        keeper.drop(lease)
        raise
    keeper.drop(lease)
    return result


def _retry_whole(task, job: Job, ctx: Context, exc: Exception):
    """Raise the retry of the whole job (transient error, budget left) or `exc` itself."""
    delay = ctx.next_retry() if is_transient(exc) else None
    if delay is None:
        raise exc
    raise task.retry(args=[ctx.retry_job(job).to_message()], exc=exc, countdown=delay) from exc


def _run_held(task, job: Job, ctx: Context) -> dict:
    try:
        outcome = run_job(job, ctx)
    except Exception as exc:
        # the status store itself was unreachable (keys could not even be marked): retry the whole job
        _retry_whole(task, job, ctx, exc)
    if outcome.retry:
        raise task.retry(args=[ctx.retry_job(job, outcome.retry).to_message()], countdown=outcome.countdown)
    return {"keys": len(job.keys)}


class PipelineTask(app.Task):
    """Records a task that died as a whole, so no key is left `processing` forever.

    Celery calls on_failure in the child for an unhandled error, and in the worker's main process for
    a hard time limit kill (the child is gone by then).
    """

    # no count limit from Celery: the retry budget and SMALLCUT_MAX_RETRIES (Context.next_retry) decide
    max_retries = None

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        job = _named_keys(args[0] if args else kwargs.get("job"))
        if job is None:
            return
        reason = f"task failed: {type(exc).__name__}: {exc}"
        if isinstance(exc, TimeLimitExceeded):
            reason = f"hard time limit ({get_settings().time_limit}s) exceeded"
        try:
            fail_unfinished(job, reason[:500], get_status(), worker_name())
        except Exception:  # noqa: BLE001 - Redis down too: the status stays as it was, the log says why
            logger.exception("could not record the failure of task %s", task_id)


@app.task(name=TASK_KEY, bind=True, base=PipelineTask)
def process_key(self, job: dict) -> dict:
    """One object (event-driven uploads; a message of an older producer names it as `key`)."""
    return _run(self, job)


@app.task(name=TASK_CHUNK, bind=True, base=PipelineTask)
def process_chunk(self, job: dict) -> dict:
    """A chunk of keys of one bucket (bulk runs): I/O overlaps with compute inside the chunk."""
    return _run(self, job)
