"""`smallcut api`: the HTTP surface for shop backends, operators and Prometheus.

One FastAPI app: the /v1 JSON API (cutout, batches, objects), the event webhook of `smallcut events`,
the review page at `/` and `/metrics`. Producer side only: it talks to Redis, S3 and the broker and
never loads the model (no onnxruntime/OpenCV import). Every /v1 route needs the bearer token when
SMALLCUT_API_TOKEN is set; the page's browser calls may carry it in the `smallcut_token` cookie.
"""

import hmac
import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smallcut import keys as keyrules

from .api_common import check_color

log = logging.getLogger(__name__)

TOKEN_COOKIE = "smallcut_token"
_BATCH_ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"


# ---------------------------------------------------------------------- request models
class Options(BaseModel):
    """Cut-out switches (same meaning as `smallcut enqueue --option`)."""

    model_config = ConfigDict(extra="forbid")
    roi: bool = True
    postprocess: bool = True
    mask_only: bool = False
    bg_color: str | list[int] | None = Field(None, description="#rrggbb, #rrggbbaa, 'r,g,b[,a]' or [r,g,b(,a)]")

    @field_validator("bg_color")
    @classmethod
    def _color(cls, value):
        return check_color(value)

    def as_job(self) -> dict:
        return self.model_dump(exclude_none=True)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str | None = Field(None, description="s3://bucket/prefix: every image under it", max_length=2048)
    keys: list[str] | None = Field(None, description="s3://bucket/key URLs", max_length=100_000)
    out: str | None = Field(None, description="s3://bucket/prefix for the PNGs (default: settings)",
                            max_length=2048)
    options: Options = Field(default_factory=Options)
    force: bool = False
    queue: str | None = Field(None, pattern=r"^[A-Za-z0-9_.\-]{1,64}$", description="default: SMALLCUT_QUEUE")


class BatchCreated(BaseModel):
    batch_id: str
    status_url: str
    queued: int | None = None
    refused: int | None = None
    ignored: int | None = None


class Problem(BaseModel):
    error: str


# ---------------------------------------------------------------------- helpers
def token_ok(request, expected: str | None) -> bool:
    """Bearer header or the review page's cookie, compared in constant time."""
    if not expected:
        return True
    header = request.headers.get("authorization") or ""
    value = header[7:].strip() if header.lower().startswith("bearer ") else ""
    value = value or request.cookies.get(TOKEN_COOKIE, "")
    return bool(value) and hmac.compare_digest(value.encode(), expected.encode())


def parse_object_url(url: str, allowed) -> keyrules.S3Url:
    """s3://bucket/key checked by the producer's rules (InvalidKey with the reason otherwise)."""
    u = keyrules.parse_s3_url(url)
    keyrules.validate(u.bucket, u.key, allowed)
    return u


def eta_seconds(summary) -> float | None:
    if summary.is_finished:
        return 0.0
    if not summary.listed or summary.throughput <= 0:
        return None
    return round((summary.total - summary.completed) / summary.throughput, 1)


def batch_view(summary) -> dict:
    d = summary.as_dict()
    d["eta"] = eta_seconds(summary)
    d["progress"] = round(summary.completed / summary.total, 4) if summary.total else (1.0 if summary.listed else 0.0)
    d.pop("job", None)
    job = summary.job or {}
    d["out"] = f"s3://{job['out_bucket']}/{job.get('out_prefix', '')}" if job.get("out_bucket") else None
    d["options"] = job.get("options") or {}
    return d


# ---------------------------------------------------------------------- the app
def make_app(settings, status=None, s3=None, celery_app=None):
    """The API app; clients default to the ones the settings describe (tests pass their own)."""
    from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
    from fastapi.responses import JSONResponse

    from smallcut.status import StatusStore
    from smallcut.storage import make_client

    from . import api_cutout, api_metrics, api_rembg, api_review
    from .api_common import ApiContext
    from .api_limits import BodyLimit
    from .events import Intake, make_router

    status = status or StatusStore.from_settings(settings)
    s3 = s3 or make_client(settings)
    if celery_app is None:
        from workers.celery_app import app as celery_app
    token = settings.api_token.get_secret_value() if settings.api_token else None
    allowed = settings.allowed_buckets

    app = FastAPI(
        title="smallcut", version="1",
        description="Background removal that keeps small objects: single cut-outs, bulk batches, status, review.",
        docs_url="/docs", redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_body=settings.api_max_body)

    def auth(request: Request) -> None:
        if not token_ok(request, token):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(HTTPException)
    async def http_error(_request, exc: HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(keyrules.InvalidKey)
    async def invalid_key(_request, exc: keyrules.InvalidKey):
        return JSONResponse({"error": f"refused: {exc}"}, status_code=400)

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request, exc: RequestValidationError):
        reasons = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse({"error": reasons or "invalid request"}, status_code=422)

    api_metrics.install(app, status, settings)

    errors = {401: {"model": Problem}, 400: {"model": Problem}, 404: {"model": Problem}, 413: {"model": Problem},
              422: {"model": Problem}}
    v1 = dict(dependencies=[Depends(auth)], responses=errors)

    def summary_or_404(batch_id: str):
        summary = status.get_batch(batch_id)
        if summary is None:
            raise HTTPException(404, f"no batch {batch_id}")
        return summary

    @app.post("/v1/batches", status_code=202, response_model=BatchCreated, tags=["batches"], **v1)
    def create_batch(body: BatchRequest):
        """Queue every image under `source`, or the listed `keys`, as one batch."""
        from . import api_batches

        return api_batches.submit(body, settings=settings, status=status, s3=s3, celery_app=celery_app)

    @app.get("/v1/batches", tags=["batches"], **v1)
    def list_batches(limit: int = Query(20, ge=1, le=500)) -> dict:
        """Recent batches, newest first."""
        out = []
        for batch_id in status.recent_batches(limit):
            summary = status.get_batch(batch_id)
            if summary is not None:
                out.append(batch_view(summary))
        return {"batches": out}

    @app.get("/v1/batches/{batch_id}", tags=["batches"], **v1)
    def get_batch(batch_id: str = Path(..., pattern=_BATCH_ID)) -> dict:
        """Counters, throughput (objects/s), ETA (s), created/started/finished (epoch s)."""
        return batch_view(summary_or_404(batch_id))

    @app.get("/v1/batches/{batch_id}/items", tags=["batches"], **v1)
    def batch_items(batch_id: str = Path(..., pattern=_BATCH_ID),
                    state: Literal["queued", "processing", "done", "failed", "skipped"] | None = None,
                    cursor: int = Query(0, ge=0, le=2**63 - 1), limit: int = Query(100, ge=1, le=1000)) -> dict:
        """One page of the batch's objects (optionally of one state); `next_cursor` null: the last page."""
        summary_or_404(batch_id)
        nxt, page = status.batch_items(batch_id, cursor, limit)
        oids = [oid for oid, st in page.items() if state is None or st == state]
        items = []
        for oid in oids:
            obj = status.get_object(oid) or {"state": page[oid]}
            obj.setdefault("bucket", oid.partition("/")[0])
            obj.setdefault("key", oid.partition("/")[2])
            obj["source"] = f"s3://{obj['bucket']}/{obj['key']}"
            if obj.get("batch") not in (None, batch_id):  # the object moved on to a newer batch
                obj["state"] = page[oid]
            items.append(obj)
        return {"items": items, "next_cursor": nxt or None}

    @app.post("/v1/batches/{batch_id}/retry-failed", tags=["batches"], **v1)
    def retry_failed(batch_id: str = Path(..., pattern=_BATCH_ID)) -> dict:
        """Queue the batch's failed objects again, with the batch's output and options."""
        from .enqueue import requeue_failed

        summary_or_404(batch_id)
        n = requeue_failed(batch_id, status=status, celery_app=celery_app, chunk_size=settings.chunk_size)
        return {"batch_id": batch_id, "queued": n}

    @app.get("/v1/objects", tags=["objects"], **v1)
    def get_object(key: str = Query(..., description="s3://bucket/key", max_length=2048)) -> dict:
        """The status of one object: state, batch, attempts, output, error, timings."""
        u = parse_object_url(key, allowed)
        obj = status.get_object(keyrules.object_id(u.bucket, u.key))
        if obj is None:
            raise HTTPException(404, f"no status for {u}")
        return obj

    app.state.ctx = ApiContext(settings=settings, status=status, s3=s3, celery_app=celery_app, token=token)
    app.include_router(api_cutout.router)
    app.include_router(api_rembg.router)
    api_review.install(app, v1, settings=settings, status=status, s3=s3)

    # the event webhook of `smallcut events serve`, same paths, its own token
    events_token = settings.events_token.get_secret_value() if settings.events_token else None
    app.include_router(make_router(Intake(settings, status, celery_app), events_token, settings.events_max_body),
                       include_in_schema=False)
    return app
