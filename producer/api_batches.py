"""The batch routes: POST/GET /v1/batches, one batch, its items, retry-failed, and GET /v1/objects.

POST /v1/batches is the same intake as `smallcut enqueue`, over HTTP. A prefix is listed in a
background thread (millions of keys must not hold the request open); the batch exists, with its job,
before the answer goes out, so its status URL works at once. An explicit key list is checked whole
first: one refused key refuses the request, with the reason.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path as FilePath
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from smallcut import keys as keyrules

from .api_common import AUTH, ERRORS, SHADOW_MODES, Batch, Ctx, check_color, check_shadow, parse_object_url
from .enqueue import Request, enqueue, new_batch_id, request_from

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- request and answer models
class Options(BaseModel):
    """Cut-out switches (same meaning as `smallcut enqueue --option`)."""

    model_config = ConfigDict(extra="forbid")
    roi: bool = True
    postprocess: bool = True
    mask_only: bool = False
    bg_color: str | list[int] | None = Field(None, description="#rrggbb, #rrggbbaa, 'r,g,b[,a]' or [r,g,b(,a)]")
    # checked in submit() so that a wrong value answers 400 with the reason, like the other refusals
    shadow: str = Field("remove", max_length=16, json_schema_extra={"enum": list(SHADOW_MODES)},
                        description="remove: cut cast shadows away; keep: keep them with the object")

    profiles: list[str | dict] | None = Field(
        None, max_length=16, description="output profiles: preset names (amazon-main, zip, ...), specs "
                                         "('name=thumb,format=jpg,scale=80%') or objects of profile fields; "
                                         "default: the workers' SMALLCUT_PROFILES (docs/profiles.md)")
    split_objects: bool = Field(False, description="one output per object in the frame, with its box and area")

    @field_validator("bg_color")
    @classmethod
    def _color(cls, value):
        return check_color(value)

    @field_validator("profiles")
    @classmethod
    def _profiles(cls, value):
        # checked whole here (a ValueError naming the profile's field answers 422), carried as fields
        from smallcut import profiles

        if not value:
            return None
        return profiles.to_job(profiles.from_job(value))

    def as_job(self) -> dict:
        from smallcut import profiles

        job = self.model_dump(exclude_none=True, exclude={"profiles", "split_objects"})
        return {**job, **profiles.job_fields(profiles.from_job(self.profiles), self.split_objects)}


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


# ---------------------------------------------------------------------- routes
router = APIRouter(dependencies=AUTH, responses=ERRORS)


@router.post("/v1/batches", status_code=202, response_model=BatchCreated, tags=["batches"])
def create_batch(body: BatchRequest, ctx: Ctx):
    """Queue every image under `source`, or the listed `keys`, as one batch."""
    return submit(body, settings=ctx.settings, status=ctx.status, s3=ctx.s3, celery_app=ctx.celery_app)


@router.get("/v1/batches", tags=["batches"])
def list_batches(ctx: Ctx, limit: int = Query(20, ge=1, le=500)) -> dict:
    """Recent batches, newest first."""
    out = []
    for batch_id in ctx.status.recent_batches(limit):
        summary = ctx.status.get_batch(batch_id)
        if summary is not None:
            out.append(batch_view(summary))
    return {"batches": out}


@router.get("/v1/batches/{batch_id}", tags=["batches"])
def get_batch(summary: Batch) -> dict:
    """Counters, throughput (objects/s), ETA (s), created/started/finished (epoch s)."""
    return batch_view(summary)


@router.get("/v1/batches/{batch_id}/items", tags=["batches"])
def batch_items(summary: Batch, ctx: Ctx,
                state: Literal["queued", "processing", "done", "failed", "skipped"] | None = None,
                cursor: int = Query(0, ge=0, le=2**63 - 1), limit: int = Query(100, ge=1, le=1000)) -> dict:
    """One page of the batch's objects (optionally of one state); `next_cursor` null: the last page."""
    batch_id = summary.batch
    nxt, page = ctx.status.batch_items(batch_id, cursor, limit)
    oids = [oid for oid, st in page.items() if state is None or st == state]
    items = []
    for oid in oids:
        obj = ctx.status.get_object(oid) or {"state": page[oid]}
        obj.setdefault("bucket", oid.partition("/")[0])
        obj.setdefault("key", oid.partition("/")[2])
        obj["source"] = f"s3://{obj['bucket']}/{obj['key']}"
        if obj.get("batch") not in (None, batch_id):  # the object moved on to a newer batch
            obj["state"] = page[oid]
        items.append(obj)
    return {"items": items, "next_cursor": nxt or None}


@router.post("/v1/batches/{batch_id}/retry-failed", tags=["batches"])
def retry_failed(summary: Batch, ctx: Ctx) -> dict:
    """Queue the batch's failed objects again, with the batch's output and options."""
    from .enqueue import requeue_failed

    n = requeue_failed(summary.batch, status=ctx.status, celery_app=ctx.celery_app, chunk_size=ctx.settings.chunk_size)
    return {"batch_id": summary.batch, "queued": n}


@router.get("/v1/objects", tags=["objects"])
def get_object(ctx: Ctx, key: str = Query(..., description="s3://bucket/key", max_length=2048)) -> dict:
    """The status of one object: state, batch, attempts, output, error, timings."""
    u = parse_object_url(key, ctx.settings.allowed_buckets)
    obj = ctx.status.get_object(keyrules.object_id(u.bucket, u.key))
    if obj is None:
        raise HTTPException(404, f"no status for {u}")
    return obj


# ---------------------------------------------------------------------- intake


def _bad(status_code: int, reason: str) -> HTTPException:
    return HTTPException(status_code, reason)


def _check_storage(s3, bucket: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from smallcut.storage import describe

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        raise _bad(400, f"bucket {bucket!r}: {describe(exc)}") from None
    except BotoCoreError as exc:
        raise _bad(503, f"object storage unreachable: {exc}") from None


def submit(body: BatchRequest, *, settings, status, s3, celery_app) -> dict:
    if (body.source is None) == (body.keys is None):
        raise _bad(422, "give exactly one of 'source' (s3://bucket/prefix) or 'keys' (a list of s3:// URLs)")
    try:
        check_shadow(body.options.shadow)
    except ValueError as exc:
        raise _bad(400, f"options.shadow: {exc}") from None
    allowed = settings.allowed_buckets
    opts = dict(queue=body.queue or settings.queue, chunk_size=settings.chunk_size, force=body.force,
                options=body.options.as_job())
    if body.source is not None:
        req = request_from(body.source, body.out, settings, **opts)
        keyrules.check_bucket(req.source.bucket, allowed)
        if req.source.key:
            keyrules.check_key(req.source.key.rstrip("/") or "x")
    else:
        if not body.keys:
            raise _bad(422, "'keys' is empty")
        urls = []
        for url in body.keys:
            u = keyrules.parse_s3_url(url)
            try:
                keyrules.validate(u.bucket, u.key, allowed)
            except keyrules.InvalidKey as exc:
                raise keyrules.InvalidKey(f"{url!r}: {exc}") from None
            urls.append(u)
        req = request_from(f"s3://{urls[0].bucket}/", body.out, settings, **opts)
    keyrules.check_bucket(req.out_bucket, allowed)
    _check_storage(s3, req.out_bucket)
    batch = new_batch_id()
    req = Request(**{**req.__dict__, "batch": batch})
    kw = dict(settings=settings, status=status, s3=s3, celery_app=celery_app)
    if body.source is not None:
        _check_storage(s3, req.source.bucket)
        status.create_batch(batch, req.spec().to_template())
        threading.Thread(target=_list_in_background, args=(req, kw), name=f"enqueue-{batch}", daemon=True).start()
        return {"batch_id": batch, "status_url": f"/v1/batches/{batch}"}
    fd, path = tempfile.mkstemp(prefix="smallcut-keys-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(f"{u}\n" for u in urls)
        result = enqueue(Request(**{**req.__dict__, "manifest": FilePath(path)}), **kw)
    finally:
        os.unlink(path)
    return {"batch_id": batch, "status_url": f"/v1/batches/{batch}", "queued": result.queued,
            "refused": result.refused, "ignored": result.ignored}


def _list_in_background(req: Request, kw: dict) -> None:
    try:
        result = enqueue(req, **kw)
        log.info("batch %s: %d queued, %d refused, %d ignored", result.batch, result.queued, result.refused,
                 result.ignored)
    except Exception:  # noqa: BLE001 - the request has returned; the log is where this can go
        log.exception("batch %s: listing s3://%s/%s failed", req.batch, req.source.bucket, req.source.key)
        kw["status"].set_listed(req.batch)  # what was queued can still finish
