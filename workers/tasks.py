"""Celery tasks: thin wrappers that hand a job to the pipeline and schedule retries it asks for."""

from __future__ import annotations

from smallcut.settings import get_settings

from .celery_app import TASK_CHUNK, TASK_KEY, app, get_engine, get_s3, get_status, worker_name
from .pipeline import Context, backoff, is_transient, run_job


def _run(task, job: dict) -> dict:
    s = get_settings()
    ctx = Context(settings=s, status=get_status(), s3=get_s3(), engine_getter=get_engine,
                  worker=worker_name(), retries=task.request.retries)
    try:
        outcome = run_job(job, ctx)
    except Exception as exc:
        # the status store itself was unreachable (keys could not even be marked): retry the whole job
        if not is_transient(exc) or task.request.retries >= s.max_retries:
            raise
        raise task.retry(exc=exc, countdown=backoff(task.request.retries, s.retry_backoff, s.retry_backoff_max),
                         max_retries=s.max_retries) from exc
    if outcome.retry:
        countdown = backoff(task.request.retries, s.retry_backoff, s.retry_backoff_max)
        retry_job = {**job, "keys": outcome.retry}
        retry_job.pop("key", None)
        raise task.retry(args=[retry_job], countdown=countdown, max_retries=s.max_retries)
    return {"keys": len(job["keys"])}


@app.task(name=TASK_KEY, bind=True)
def process_key(self, job: dict) -> dict:
    """One object (event-driven uploads)."""
    if "keys" not in job:
        job = {**job, "keys": [job["key"]]}
    return _run(self, job)


@app.task(name=TASK_CHUNK, bind=True)
def process_chunk(self, job: dict) -> dict:
    """A chunk of keys of one bucket (bulk runs): I/O overlaps with compute inside the chunk."""
    return _run(self, job)
