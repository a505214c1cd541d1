"""Event-driven intake: S3/MinIO "object created" notifications in, one queued task per new object out.

Two doors, one intake:
- an HTTP endpoint for MinIO's webhook target (and anything that POSTs S3-format records), with a
  bearer token and a body size limit: `make_router()` is a FastAPI router an API can mount;
- a consumer of MinIO's Redis notification target (`format=access`: JSON entries appended to a list).
Both ignore smallcut's own outputs (no loop when input and output share a bucket) and de-duplicate
repeated notifications for the same object version.
"""


import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass

from smallcut import keys as keyrules
from smallcut.job import JobSpec

from .event_schema import EventRejected, parse_notification

log = logging.getLogger(__name__)

WEBHOOK_PATHS = ("/events", "/")
HEALTH_PATH = "/healthz"


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str  # URL-decoded
    etag: str
    size: int
    event: str
    has_own_metadata: bool  # carries smallcut's output metadata (MinIO includes userMetadata)


def parse(payload) -> list[ObjectCreated]:
    """ObjectCreated records only (MinIO: 's3:ObjectCreated:Put', AWS: 'ObjectCreated:Put').

    Raises EventRejected (with the reason) for a payload that does not fit the notification schema."""
    out = []
    for rec in parse_notification(payload):
        if not rec.is_created:
            continue
        obj = rec.s3.object
        meta = {str(k).lower() for k in (obj.userMetadata or {})}
        out.append(ObjectCreated(
            bucket=rec.s3.bucket.name,
            key=obj.decoded_key,
            etag=str(obj.eTag or obj.etag or obj.sequencer or "").strip('"'),
            size=obj.size or 0,
            event=rec.eventName,
            has_own_metadata="x-amz-meta-source-etag" in meta or "source-etag" in meta,
        ))
    return out


def api_scratch(settings) -> tuple[str, str] | None:
    """Where `POST /v1/cutout` puts uploads and outputs (smallcut.keys.api_scratch_location, the API's
    own rule), or None when the API could not run with these settings."""
    try:
        return keyrules.api_scratch_location(settings)
    except keyrules.ScratchConfigError:
        return None


def loop_reason(settings, ev: ObjectCreated, status=None) -> str | None:
    """Why an event is for an object smallcut wrote (or handles elsewhere), or None for new input.

    From the bucket and prefix rules and the workers' register of outputs, not from metadata alone:
    events from AWS, or from MinIO targets without user metadata, carry none."""
    if ev.has_own_metadata:
        return "carries smallcut's output metadata"
    if keyrules.is_own_output(ev.bucket, ev.key, settings.output_bucket or ev.bucket, settings.out_prefix):
        return f"under the output prefix {settings.out_prefix!r}"
    scratch = api_scratch(settings)
    if scratch and ev.bucket == scratch[0] and (not scratch[1] or ev.key.startswith(scratch[1] + "/")):
        return "in the API's scratch prefix (the API queues its own uploads; its outputs are under out/)"
    if status is not None and status.is_output(ev.bucket, ev.key):
        return "written by a worker as an output (any bucket or prefix a job named)"
    return None


def is_transient(exc: BaseException) -> bool:
    """Redis or the broker unreachable: the event is fine, only the moment is wrong."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, OperationalError, ConnectionError, TimeoutError))


def events_batch_id() -> str:
    """Event-driven work is grouped per UTC day: `smallcut status events-YYYYMMDD`."""
    return time.strftime("events-%Y%m%d", time.gmtime())


class Intake:
    """Turns notifications into queued tasks; thread-safe (one lock: events are not a hot path)."""

    def __init__(self, settings, status, celery_app, queue: str | None = None) -> None:
        self.settings = settings
        self.status = status
        self.app = celery_app
        self.queue = queue or settings.queue
        self._lock = threading.Lock()
        self._batch_created = ""

    def handle(self, payload) -> dict[str, int]:
        """Queue the new objects of one notification; EventRejected when it does not fit the schema
        (nothing is queued then)."""
        from smallcut.celery_config import TASK_KEY

        s = self.settings
        counts = {"queued": 0, "ignored": 0, "duplicate": 0, "refused": 0}
        events = parse(payload)
        # event-driven objects take the settings' output location and the workers' default options
        spec = JobSpec(out_bucket=s.output_bucket, out_prefix=s.out_prefix, queue=self.queue)
        with self._lock:
            batch = events_batch_id()
            for ev in events:
                if not keyrules.is_image_key(ev.key) or loop_reason(s, ev, self.status):
                    counts["ignored"] += 1
                    continue
                token = f"{ev.bucket}/{ev.key}@{ev.etag or ev.size}"
                if not self.status.first_sighting(token, s.events_dedupe_ttl):
                    counts["duplicate"] += 1
                    continue
                if batch != self._batch_created:
                    self._batch_created = batch
                    self.status.create_batch(batch, spec.to_template())
                try:
                    keyrules.validate(ev.bucket, ev.key, s.allowed_buckets)
                except keyrules.InvalidKey as exc:
                    self.status.refuse_once(batch, ev.bucket, ev.key, f"refused: {exc}")
                    counts["refused"] += 1
                    continue
                self.status.queue_once(batch, ev.bucket, ev.key, extra={"event": ev.event, "source_etag": ev.etag})
                self.app.send_task(TASK_KEY, args=[spec.job(batch, ev.bucket, [ev.key]).to_message()], queue=self.queue)
                counts["queued"] += 1
        if counts["queued"] or counts["refused"]:
            log.info("events: %s", counts)
        return counts


# ---------------------------------------------------------------------- HTTP (webhook target)
def check_token(header: str | None, expected: str | None) -> bool:
    """`Authorization: Bearer <token>` (MinIO adds 'Bearer ' to a single-word token)."""
    if not expected:
        return True
    if not header:
        return False
    value = header.split(" ", 1)[1] if header.lower().startswith("bearer ") else header
    return hmac.compare_digest(value.strip().encode(), expected.encode())


def make_router(intake: Intake, token: str | None, max_body: int):
    """FastAPI router: POST /events (and /), HEAD for MinIO's liveness probe, GET /healthz."""
    from fastapi import APIRouter, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    router = APIRouter()

    async def receive(request: Request):
        if not check_token(request.headers.get("authorization"), token):
            return JSONResponse({"error": "missing or wrong bearer token"}, status_code=401)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body:
            return JSONResponse({"error": f"body above {max_body} bytes"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return JSONResponse({"error": f"body above {max_body} bytes"}, status_code=413)
        try:
            payload = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": f"not JSON: {exc}"}, status_code=400)
        except RecursionError:
            return JSONResponse({"error": "not JSON: nested too deeply"}, status_code=400)
        try:
            counts = await run_in_threadpool(intake.handle, payload)
        except EventRejected as exc:
            return JSONResponse({"error": f"not an S3 notification: {exc}"}, status_code=400)
        except Exception as exc:  # noqa: BLE001 - never a 500: the sender learns whether retrying helps
            if is_transient(exc):  # Redis or the broker unreachable: MinIO keeps the event and retries
                log.warning("events: cannot queue now: %s", exc)
                return JSONResponse({"error": f"cannot queue now, retry later: {type(exc).__name__}"}, status_code=503)
            log.exception("events: event refused by an unexpected error")
            return JSONResponse({"error": f"event refused: {type(exc).__name__}: {exc}"[:500]}, status_code=422)
        return JSONResponse(counts)

    async def probe():
        return JSONResponse({})

    async def health():
        return {"ok": True}

    for path in WEBHOOK_PATHS:
        router.add_api_route(path, receive, methods=["POST"])
        router.add_api_route(path, probe, methods=["HEAD"])
    router.add_api_route(HEALTH_PATH, health, methods=["GET"])
    return router


# ---------------------------------------------------------------------- Redis list (MinIO Redis target)
class RedisListConsumer(threading.Thread):
    """Moves each entry to `<key>:processing` while it is handled (nothing lost if we die mid-way).

    An entry that cannot be handled for a reason retrying will not fix (not JSON, not the schema, an
    unexpected error) moves to `<key>:dead` with the reason, so the entries behind it keep flowing;
    only Redis or the broker being unreachable puts it back at the head of the list."""

    DEAD_MAX = 10_000

    def __init__(self, redis_client, key: str, intake: Intake, stop: threading.Event | None = None) -> None:
        super().__init__(name="smallcut-events-redis", daemon=True)
        self.r = redis_client
        self.key = key
        self.processing = f"{key}:processing"
        self.dead = f"{key}:dead"
        self.intake = intake
        self.stop_event = stop or threading.Event()

    def recover(self) -> int:
        """Entries a previous consumer took but did not finish go back to the head of the list."""
        n = 0
        while self.r.lmove(self.processing, self.key, "RIGHT", "LEFT") is not None:
            n += 1
        return n

    def dead_letter(self, raw, reason: str) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        log.warning("events: entry moved to %s: %s", self.dead, reason)
        pipe = self.r.pipeline()
        pipe.lpush(self.dead, json.dumps({"entry": text[:65536], "reason": reason[:1000], "at": time.time()}))
        pipe.ltrim(self.dead, 0, self.DEAD_MAX - 1)
        pipe.lrem(self.processing, 1, raw)
        pipe.execute()

    def drain_once(self, timeout: float = 1.0) -> bool:
        raw = self.r.blmove(self.key, self.processing, timeout, "LEFT", "RIGHT")
        if raw is None:
            return False
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            self.dead_letter(raw, f"not JSON: {exc}")
            return True
        except RecursionError:
            self.dead_letter(raw, "not JSON: nested too deeply")
            return True
        try:
            self.intake.handle(payload)
        except EventRejected as exc:
            self.dead_letter(raw, f"not an S3 notification: {exc}")
            return True
        except Exception as exc:
            if not is_transient(exc):
                log.exception("events: unexpected error handling an entry")
                self.dead_letter(raw, f"unexpected error: {type(exc).__name__}: {exc}")
                return True
            log.warning("events: cannot queue now (%s); the entry goes back to the list", exc)
            self.r.lmove(self.processing, self.key, "RIGHT", "LEFT")
            self.stop_event.wait(1.0)
            return True
        self.r.lrem(self.processing, 1, raw)
        return True

    def run(self) -> None:
        recovered = self.recover()
        if recovered:
            log.info("events: %d unfinished entries recovered from %s", recovered, self.processing)
        while not self.stop_event.is_set():
            try:
                self.drain_once()
            except Exception:  # Redis down: wait and try again, never die
                log.exception("events: Redis list consumer error")
                self.stop_event.wait(2.0)
                try:  # an entry taken when Redis went away waits in :processing: put it back
                    self.recover()
                except Exception:  # noqa: BLE001 - still down: next round
                    pass


def notification_client(settings):
    """A Redis client for MinIO's notification list: the list is MinIO's, not smallcut's status, so it
    gets its own client (same server and TLS options as the status store)."""
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError, TimeoutError
    from redis.retry import Retry

    from smallcut import redisconn

    return redisconn.client(settings, decode_responses=True, socket_timeout=30, socket_connect_timeout=10,
                            health_check_interval=30, retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 5),
                            retry_on_error=[ConnectionError, TimeoutError])


def make_app(settings, intake: Intake, redis_key: str | None = None):
    """The standalone receiver: the router plus the Redis list consumer for the app's lifetime."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    token = settings.events_token.get_secret_value() if settings.events_token else None

    @asynccontextmanager
    async def lifespan(_app):
        consumer = None
        if redis_key:
            consumer = RedisListConsumer(notification_client(settings), redis_key, intake)
            consumer.start()
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop_event.set()
                consumer.join(timeout=5)

    app = FastAPI(title="smallcut events", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(make_router(intake, token, settings.events_max_body))
    return app
