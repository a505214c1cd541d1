"""Per-key work of a task: validate, skip if current, download, cut out, upload, record status.

A job is a `smallcut.job.Job` (batch, bucket, keys, where the outputs go, options, force). `run_job`
never raises for a single key's failure: each key ends `done`, `skipped` or `failed` with a reason, or
is returned for a retry (transient S3/Redis errors) that the task schedules with backoff.
A chunk overlaps I/O with compute: downloads run ahead in a small thread pool, uploads trail behind,
the engine runs on the task's own thread.

`JobRun` holds one run of one job; each step is one method with one contract:

  validate(item)          the key and the output bucket may be touched, the key is not an output of
                          smallcut; sets item.out_key (the first profile's output). Raises InvalidKey
                          with the reason.
  start(item)             marks the key processing (attempts + 1); refuses a key whose worker died on
                          every delivery. Returns the key's previous state in the batch.
  skip_if_current(item)   True when every profile's output exists for this source ETag and these
                          options: the key is then recorded skipped (or done again, on a redelivery)
                          and ends there.
  download(item)          the source bytes and ETag into item.source (bounded by max_input_bytes).
  cut_out(item)           the engine's result into item.result and its profiles' files into item.made
                          (workers/outputs.py); the input bytes are freed.
  upload(item)            each file written whole, with its fingerprint metadata and content type,
                          after it is registered as an output (so its own upload event is recognised
                          as one); item.outputs lists them for the status.
  record(item, state)     the key's final state with its fields, metrics and one log line.

Any step may raise: `guarded` turns the error into the key's `failed` state with the reason, or a
retry of that key when the error is transient and the retry budget allows it.
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from celery.exceptions import SoftTimeLimitExceeded

from smallcut import keys as keyrules
from smallcut import metrics, storage
from smallcut.job import Job, JobOptions
from smallcut.status import State, StatusStore, now

from .memory_gate import large_image_slot

if TYPE_CHECKING:  # the engine (OpenCV, onnxruntime) loads in the worker child, on first use
    from botocore.client import BaseClient

    from smallcut.settings import Settings
    from workers.engine import CutoutOptions, CutoutResult, Engine

log = logging.getLogger(__name__)
key_log = logging.getLogger("smallcut.pipeline")  # one record per finished key

EXTRA_DELIVERIES = 3  # redeliveries (worker lost) tolerated beyond the retries before giving up


@dataclass
class Context:
    """What a job needs from its process: clients, the engine, settings, and where it runs."""

    settings: Settings
    status: StatusStore
    s3: BaseClient
    engine_getter: Callable[[], Engine]  # the process's engine, loaded on first call
    worker: str
    retries: int = 0  # tries of this job's keys before this one (transient errors, retried)
    task_id: str = ""  # the Celery task's id, for the per-key log line
    retry_since: float = field(default_factory=time.time)  # when the first try of this job's keys began
    _delay: float | None = None

    def retry_elapsed(self) -> float:
        return max(0.0, time.time() - self.retry_since)

    def next_retry(self) -> float | None:
        """Seconds to wait before the next try, or None when retrying is over: the retry budget
        (SMALLCUT_RETRY_BUDGET seconds since the first try) would be spent before it starts, or
        SMALLCUT_MAX_RETRIES tries were made. One delay per run, shared by the keys it retries."""
        s = self.settings
        if self.retries >= s.max_retries:
            return None
        if self._delay is None:
            self._delay = backoff(self.retries, s.retry_backoff, s.retry_backoff_max)
        if self.retry_elapsed() + self._delay > s.retry_budget:
            return None
        return self._delay

    def retry_job(self, job: Job, keys: list[str] | None = None) -> Job:
        """The job for the next try: the same (or only `keys`), with the try count and the budget's
        start carried."""
        again = job.again(self.retries + 1, self.retry_since)
        return again if keys is None else again.with_keys(keys)

    def engine_on_gpu(self) -> bool:
        """Whether the loaded engine runs on CUDA/TensorRT (then batching keys pays off)."""
        session = getattr(getattr(self.engine_getter(), "net", None), "session", None)
        providers = session.get_providers() if session is not None else []
        return any(p in providers for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))


@dataclass
class Item:
    key: str
    oid: str
    out_key: str = ""
    source: storage.Source | None = None
    timings: dict[str, float] = field(default_factory=dict)
    result: CutoutResult | None = None
    made: list = field(default_factory=list)  # its files (workers/render.Rendered), one per profile and object
    outputs: list[dict] = field(default_factory=list)  # what the status lists of them once uploaded
    ended: bool = False  # a final state (or a retry) is recorded


@dataclass
class JobOutcome:
    retry: list[str] = field(default_factory=list)
    countdown: float = 0.0  # seconds before the retry of `retry`
    reasons: dict[str, str] = field(default_factory=dict)


def backoff(retries: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: base * 2^n, capped, scaled by a random factor in [0.5, 1]."""
    return min(cap, base * (2 ** retries)) * random.uniform(0.5, 1.0)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: network trouble, throttling, 5xx, a Redis blip. Never bad input or 4xx."""
    from botocore.exceptions import BotoCoreError, ClientError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(exc, (keyrules.InvalidKey, storage.PermanentStorageError)):
        return False
    if isinstance(exc, ClientError):
        return not storage.is_permanent(exc)
    return isinstance(exc, (BotoCoreError, RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError))


def log_finished(batch: str, key: str, state: str, worker: str, *, task_id: str = "",
                 timings: dict | None = None, error: str = "") -> None:
    """The one log record of a finished key; its fields become JSON fields with SMALLCUT_LOG_JSON."""
    failed = state == State.FAILED.value
    key_log.log(logging.WARNING if failed else logging.INFO, "%s %s%s", key, state, f": {error}" if error else "",
            extra={"batch": batch, "key": key, "task_id": task_id or None, "state": state, "worker": worker,
                   "timings": {k: round(v, 2) for k, v in (timings or {}).items()}, "error": error or None})


def job_options(job: Job | Mapping[str, Any], settings: Settings) -> CutoutOptions:
    """The job's engine options; what it leaves out comes from this worker's SMALLCUT_ROI / _POSTPROCESS /
    _SHADOW. A message dict is read as Job.from_message reads its `options`."""
    from workers.engine import CutoutOptions

    chosen = job.options if isinstance(job, Job) else JobOptions.model_validate(job.get("options") or {})
    defaults = {"roi": settings.roi, "postprocess": settings.postprocess, "shadow": settings.shadow}
    return CutoutOptions.from_dict({**defaults, **chosen.as_dict()})


class JobRun:
    """One run of one job: the keys' steps (the module's docstring gives each one's contract), the
    chunk's schedule (`run`), and the outcome the task acts on."""

    def __init__(self, job: Job, ctx: Context) -> None:
        s = ctx.settings
        self.job, self.ctx, self.settings = job, ctx, s
        self.out_bucket = job.out_bucket or s.output_bucket or job.bucket
        self.out_prefix = s.out_prefix if job.out_prefix is None else job.out_prefix
        self.options = job_options(job, s)
        from . import outputs  # OpenCV: in the worker child, like the engine

        # the job's output profiles and whether frames split into objects (else SMALLCUT_PROFILES)
        self.outputs = outputs
        self.plan = outputs.Plan.for_job(job.options.as_dict(), self.options, s.profiles)
        self.outcome = JobOutcome()
        self.items = [Item(key=k, oid=keyrules.object_id(job.bucket, k)) for k in job.keys]

    # ------------------------------------------------------------------ the schedule
    def run(self) -> JobOutcome:
        s = self.settings
        items = self.items
        group_size = s.engine_batch or (4 if self.ctx.engine_on_gpu() else 1)
        pending = list(items)
        with ThreadPoolExecutor(max_workers=max(1, s.io_threads), thread_name_prefix="smallcut-io") as pool:
            downloads = {id(item): pool.submit(self.guarded, self.prepare, item) for item in items}
            uploads = []
            try:
                for start in range(0, len(items), group_size):
                    group = items[start : start + group_size]
                    for item in group:
                        downloads[id(item)].result()
                    ready = [item for item in group if not item.ended and item.source is not None]
                    if len(ready) > 1:
                        self.cut_out_group(ready)
                    else:
                        for item in ready:
                            self.guarded(self.cut_out, item)
                    for item in group:
                        if not item.ended and item.result is not None:
                            uploads.append(pool.submit(self.guarded, self.finish, item))
                        pending.remove(item)
                for fut in uploads:
                    fut.result()
            except SoftTimeLimitExceeded:
                # this key took too long: fail it; keys not reached yet go back to the queue
                current, rest = (pending[0], pending[1:]) if pending else (None, [])
                if current is not None and not current.ended:
                    self.fail(current, f"soft time limit ({s.soft_time_limit}s) exceeded")
                for item in rest:
                    if not item.ended:
                        self.fail(item, "not reached before the soft time limit", TimeoutError("soft time limit"))
        return self.outcome

    def prepare(self, item: Item) -> None:
        """The I/O thread's part before the engine: validate, start, skip if current, download."""
        self.validate(item)
        previous = self.start(item)
        if self.skip_if_current(item, previous):
            return
        self.download(item)

    def finish(self, item: Item) -> None:
        """The I/O thread's part after the engine: upload, then record the key done."""
        self.upload(item)
        r, made = item.result, item.made
        item.result, item.made = None, []
        # every output is listed, so a record never keeps the list of an earlier run with other profiles
        extra: dict[str, Any] = {"outputs": item.outputs}
        if not made:  # a split frame with no object: nothing written
            extra["output"] = ""
        self.record(item, State.DONE, error="", timings={k: round(v, 2) for k, v in item.timings.items()},
                    width=r.width, height=r.height, rois=r.rois, passes=r.passes, bytes=sum(len(m.data) for m in made),
                    objects=r.objects, min_object_frac=r.min_object_frac, **extra)

    # ------------------------------------------------------------------ the steps
    def validate(self, item: Item) -> None:
        s, bucket = self.settings, self.job.bucket
        try:
            keyrules.validate(bucket, item.key, s.allowed_buckets)
            keyrules.check_bucket(self.out_bucket, s.allowed_buckets)
        except keyrules.InvalidKey as exc:
            raise keyrules.InvalidKey(f"refused: {exc}") from None
        if (keyrules.is_own_output(bucket, item.key, self.out_bucket, self.out_prefix)
                or self.ctx.status.is_output(bucket, item.key)):
            # a cutout of a cutout: one more round for nothing, under a doubled prefix
            raise keyrules.InvalidKey(f"refused: s3://{bucket}/{item.key} is an output of smallcut")
        item.out_key = self.plan.primary_key(item.key, self.out_prefix, self.job.in_prefix)

    def start(self, item: Item) -> str:
        ctx, job = self.ctx, self.job
        previous, attempts = ctx.status.transition(job.batch, item.oid, State.PROCESSING, {
            "worker": ctx.worker, "started_at": now(), "bucket": job.bucket, "key": item.key, "batch": job.batch,
            "output": f"s3://{self.out_bucket}/{item.out_key}"})
        if int(attempts) > ctx.retries + 1 + EXTRA_DELIVERIES:
            raise storage.PermanentStorageError(f"gave up after {attempts} deliveries (the worker died on every one)")
        return previous

    def skip_if_current(self, item: Item, previous: str) -> bool:
        engine_fp = self.ctx.engine_getter().output_fingerprint(self.options)
        if self.job.force:
            return False
        s3, bucket = self.ctx.s3, self.job.bucket
        t0 = time.perf_counter()
        checks = [(storage.head(s3, self.out_bucket, k), self.plan.fingerprint(engine_fp, p))
                  for k, p in self.plan.check_keys(item.key, self.out_prefix, self.job.in_prefix)]
        if all(e is not None and (e.get("Metadata") or {}).get(storage.META_FINGERPRINT) == f for e, f in checks):
            src = storage.head(s3, bucket, item.key)
            if src is None:
                raise storage.PermanentStorageError(f"NoSuchKey: s3://{bucket}/{item.key} does not exist")
            if all(storage.is_current(e, str(src.get("ETag", "")), f) for e, f in checks):
                item.timings["head"] = (time.perf_counter() - t0) * 1000
                # a redelivery of a key this batch already finished stays done; else it is a skip
                again = previous == State.DONE.value
                self.record(item, State.DONE if again else State.SKIPPED, error="", timings=item.timings,
                            reason="redelivered: output already written" if again
                            else "output exists for this source ETag and parameters")
                return True
        item.timings["head"] = (time.perf_counter() - t0) * 1000
        return False

    def download(self, item: Item) -> None:
        t0 = time.perf_counter()
        item.source = storage.download(self.ctx.s3, self.job.bucket, item.key, self.settings.max_input_bytes)
        item.timings["download"] = (time.perf_counter() - t0) * 1000

    def cut_out(self, item: Item) -> None:
        engine = self.ctx.engine_getter()
        t0 = time.perf_counter()
        with large_image_slot(cutout_estimate(item.source.data), self.settings.image_memory_budget) as gated:
            if gated:  # a key that ran in the host's large-image slot, and how long it waited for it
                item.timings["memory_wait"] = (time.perf_counter() - t0) * 1000
            with metrics.IN_FLIGHT.track_inprogress():
                # the cut-out and its profiles' files (a `render` stage in the timings when there are any)
                item.result, item.made = self.outputs.cutout(engine, item.source.data, self.options, self.plan)
        item.source = storage.Source(data=b"", etag=item.source.etag)  # free the input early
        item.timings.update(item.result.timings)

    def cut_out_group(self, group: list[Item]) -> None:
        """Several keys' network passes batched (GPU); each key still ends on its own."""
        engine = self.ctx.engine_getter()
        estimate = sum(cutout_estimate(item.source.data) for item in group)
        with large_image_slot(estimate, self.settings.image_memory_budget), metrics.IN_FLIGHT.track_inprogress():
            results = engine.cutout_many([item.source.data for item in group], self.plan.run_options)
        for item, res in zip(group, results):
            def take(it: Item, res=res) -> None:
                if isinstance(res, Exception):
                    raise res
                it.result = res
                it.made = self.outputs.from_result(res, self.options, self.plan, it.source.data)  # from its PNG
                it.source = storage.Source(data=b"", etag=it.source.etag)
                it.timings.update(res.timings)

            self.guarded(take, item)

    def upload(self, item: Item) -> None:
        engine, job = self.ctx.engine_getter(), self.job
        engine_fp = engine.output_fingerprint(self.options)
        t0 = time.perf_counter()
        for out in item.made:
            out_key = self.plan.key(item.key, self.out_prefix, job.in_prefix, out.profile, out.obj)
            self.ctx.status.mark_output(self.out_bucket, out_key)  # before the write: its event may come at once
            storage.upload_png(self.ctx.s3, self.out_bucket, out_key, out.data, source_etag=item.source.etag,
                               fingerprint=self.plan.fingerprint(engine_fp, out.profile, out.obj),
                               source=f"s3://{job.bucket}/{item.key}", model=engine.model_id,
                               content_type=out.profile.content_type)
            item.outputs.append(self.outputs.describe(out, f"s3://{self.out_bucket}/{out_key}"))
        item.timings["upload"] = (time.perf_counter() - t0) * 1000

    def record(self, item: Item, state: State, **fields) -> None:
        ctx, batch = self.ctx, self.job.batch
        fields.setdefault("finished_at", now())
        ctx.status.transition(batch, item.oid, state, {"worker": ctx.worker, **fields})
        item.ended = True
        metrics.observe_object(state.value, fields.get("error", ""), fields.get("timings"))
        log_finished(batch, item.key, state.value, ctx.worker, task_id=ctx.task_id,
                     timings=fields.get("timings") or item.timings, error=fields.get("error", ""))

    # ------------------------------------------------------------------ errors
    def fail(self, item: Item, reason: str, exc: BaseException | None = None) -> None:
        """The key ends failed with the reason (and is dead-lettered), or, for a transient error with
        retry budget left, goes back to queued for the retry the task schedules."""
        ctx, job, outcome = self.ctx, self.job, self.outcome
        if exc is not None and is_transient(exc):
            delay = ctx.next_retry()
            if delay is not None:
                outcome.retry.append(item.key)
                outcome.reasons[item.key] = reason
                outcome.countdown = delay
                ctx.status.transition(job.batch, item.oid, State.QUEUED, {
                    "error": f"retry {ctx.retries + 1} in {delay:.1f} s ({ctx.retry_elapsed():.0f} of "
                             f"{self.settings.retry_budget} s retry budget spent): {reason}"})
                item.ended = True
                return
            reason = f"gave up after {ctx.retries + 1} tries in {ctx.retry_elapsed():.0f} s: {reason}"
        self.record(item, State.FAILED, error=reason)
        ctx.status.dead_letter({"batch": job.batch, "bucket": job.bucket, "key": item.key, "reason": reason})

    def guarded(self, step: Callable[[Item], Any], item: Item) -> None:
        """Run one step of one key; any error ends that key (failed or retry), never the task."""
        try:
            step(item)
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # noqa: BLE001 - every error becomes a status with its reason
            from workers.engine import DecodeError

            if isinstance(exc, (keyrules.InvalidKey, DecodeError, storage.PermanentStorageError)):
                reason = str(exc)
            elif not is_transient(exc) and storage.error_code(exc) is None:
                log.exception("%s: unexpected error", item.oid)
                reason = f"internal error: {type(exc).__name__}: {exc}"
            else:
                reason = storage.describe(exc)
            self.fail(item, reason[:500], exc)


def run_job(job: Job | Mapping[str, Any], ctx: Context) -> JobOutcome:
    """Run one job (a Job, or the message dict of one) to its outcome; see JobRun."""
    return JobRun(job if isinstance(job, Job) else Job.from_message(job), ctx).run()


def cutout_estimate(data: bytes) -> int:
    """Peak memory one cutout of `data` will take, from its header (0 when the header is unreadable:
    the decode then fails with the precise reason)."""
    from smallcut.imagesize import ImageRefused, probe

    try:
        return probe(data).cutout_bytes
    except ImageRefused:
        return 0


def fail_unfinished(job: Job, reason: str, status: StatusStore, worker: str) -> list[str]:
    """After a task died as a whole (hard time limit, unexpected error, a message that is not a valid
    job): keys of the job that are still queued or processing in its batch end failed with the reason,
    and go to the dead-letter list."""
    failed = []
    for key in job.keys:
        oid = keyrules.object_id(job.bucket, key)
        obj = status.get_object(oid) or {}
        if obj.get("batch") == job.batch and obj.get("state") in (State.QUEUED.value, State.PROCESSING.value):
            status.transition(job.batch, oid, State.FAILED, {"error": reason, "finished_at": now(), "worker": worker})
            status.dead_letter({"batch": job.batch, "bucket": job.bucket, "key": key, "reason": reason})
            metrics.observe_object(State.FAILED.value, reason)
            log_finished(job.batch, key, State.FAILED.value, worker, error=reason)
            failed.append(key)
    return failed
