"""The review page: batches with live progress, a before/after gallery, flags and re-run manifests.

Server-rendered HTML with a little vanilla JS (producer/review/*), no build step. Thumbnails are made
on demand from the S3 objects and kept in a small in-process LRU: workers stay on their hot path
(no extra encode and upload per object), nothing extra is stored for the batches nobody looks at, and
a re-run output (new ETag) gets a fresh thumbnail. Flags live in Redis beside the batch
(StatusStore.flag, same TTL as the batch) and download as a manifest `smallcut enqueue --manifest` reads.
The gallery is paged, filtered and ordered here (GET /v1/batches/{id}/review) from the records each
batch keeps of its objects, and GET /v1/image gives the full-size before/after view its pixels.
"""

import hmac
import io
import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from .api_common import AUTH, BATCH_ID, ERRORS, TOKEN_COOKIE, ApiContext, Batch, Ctx, parse_object_url, token_ok

HERE = Path(__file__).resolve().parent / "review"
CACHE_ITEMS = 2048


PREVIEW_DECODE_BYTES = 256 << 20  # a preview never decodes more than this (non-JPEG frames above it: 413)


class Thumbnails:
    """(bucket, key, etag, px) -> (media type, bytes); bounded LRU shared by the app's threads."""

    def __init__(self, s3, max_pixels: int, size: int = CACHE_ITEMS) -> None:
        self.s3 = s3
        self.max_pixels = max_pixels
        self.size = size
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, bucket: str, key: str, px: int) -> tuple[str, bytes]:
        head = self.s3.head_object(Bucket=bucket, Key=key)
        ck = (bucket, key, head.get("ETag", ""), px)
        with self._lock:
            if ck in self._cache:
                self._cache.move_to_end(ck)
                return self._cache[ck]
        data = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        value = make_thumbnail(data, px, self.max_pixels)
        with self._lock:
            self._cache[ck] = value
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return value


def make_thumbnail(data: bytes, px: int, max_pixels: int) -> tuple[str, bytes]:
    """JPEG for opaque images, WebP (with alpha) for cut-outs; longest side `px`.

    Decoded with bounded memory (smallcut.imagesize.decode_reduced: JPEGs at reduced scale inside the
    decoder, other formats refused when their full-size decode would not fit PREVIEW_DECODE_BYTES), so
    a preview of a huge frame neither swells the API process nor answers 500."""
    from smallcut.imagesize import decode_reduced

    img = decode_reduced(data, px, max_pixels=max_pixels, max_decoded_bytes=PREVIEW_DECODE_BYTES, keep_alpha=True)
    out = io.BytesIO()
    if img.mode == "RGBA":
        img.save(out, "WEBP", quality=80, method=2)
        return "image/webp", out.getvalue()
    img.convert("RGB").save(out, "JPEG", quality=80)
    return "image/jpeg", out.getvalue()


def manifest(urls: list[str]) -> str:
    """One s3:// URL per line: the format of `smallcut enqueue --manifest`."""
    return "".join(f"{u}\n" for u in sorted(urls))


@cache
def asset(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------- the page (login-aware, no auth)
pages = APIRouter(include_in_schema=False)


def html(request: Request, ctx: ApiContext, batch_id: str = ""):
    token = ctx.token
    given = request.query_params.get("token")
    if given is not None:  # ?token=... once: kept in an HttpOnly cookie, dropped from the URL
        if not (token and hmac.compare_digest(given.encode(), token.encode())):
            return HTMLResponse("wrong token", status_code=401)
        resp = RedirectResponse(request.url.path, status_code=303)
        resp.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
        return resp
    page = asset("page.html")
    if not token_ok(request, token):
        return HTMLResponse(page.replace("{{BATCH}}", "").replace("{{LOGIN}}", "1"), status_code=401)
    return HTMLResponse(page.replace("{{BATCH}}", batch_id).replace("{{LOGIN}}", ""))


@pages.get("/")
def index(request: Request, ctx: Ctx):
    return html(request, ctx)


@pages.get("/batches/{batch_id}")
def batch_page(request: Request, ctx: Ctx, batch_id: str = PathParam(..., pattern=BATCH_ID)):
    return html(request, ctx, batch_id)


@pages.get("/static/review.js")
def review_js():
    return Response(asset("review.js"), media_type="text/javascript")


@pages.get("/static/review.css")
def review_css():
    return Response(asset("review.css"), media_type="text/css")


# ---------------------------------------------------------------------- the page's API
router = APIRouter(tags=["review"], dependencies=AUTH, responses=ERRORS)


@router.get("/v1/preview", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/webp": {}}}})
async def preview(ctx: Ctx, key: str = Query(..., max_length=2048, description="s3://bucket/key"),
                  px: int | None = Query(None, ge=16, le=1024, description="longest side (default: SMALLCUT_API_PREVIEW_PX)")):
    """A small JPEG (photos) or WebP with alpha (cut-outs) of an object, made on demand."""
    from botocore.exceptions import ClientError
    from PIL import UnidentifiedImageError

    from smallcut.imagesize import ImageRefused
    from smallcut.storage import describe, error_code

    u = parse_object_url(key, ctx.settings.allowed_buckets)
    try:
        media, data = await run_in_threadpool(ctx.thumbnails.get, u.bucket, u.key, px or ctx.settings.api_preview_px)
    except ClientError as exc:
        code = 404 if error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket") else 400
        raise HTTPException(code, describe(exc)) from None
    except ImageRefused as exc:
        too_big = "too large" in str(exc) or "MiB to decode" in str(exc)
        raise HTTPException(413 if too_big else 422, f"no preview: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise HTTPException(422, f"not a readable image: {exc}") from None
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=300"})


@router.get("/v1/batches/{batch_id}/flags")
def list_flags(summary: Batch, ctx: Ctx) -> dict:
    """Flagged source objects of the batch (s3:// URLs)."""
    return {"batch_id": summary.batch, "keys": ctx.status.flagged(summary.batch)}


@router.post("/v1/batches/{batch_id}/flags")
def add_flag(summary: Batch, ctx: Ctx,
             key: str = Body(..., embed=True, max_length=2048, description="s3://bucket/key of the source")) -> dict:
    """Flag a cut-out that looks wrong (its source object is what a re-run needs)."""
    u = parse_object_url(key, ctx.settings.allowed_buckets)
    return {"batch_id": summary.batch, "flagged": ctx.status.flag(summary.batch, str(u))}


@router.delete("/v1/batches/{batch_id}/flags")
def remove_flag(summary: Batch, ctx: Ctx, key: str = Query(..., max_length=2048)) -> dict:
    u = parse_object_url(key, ctx.settings.allowed_buckets)
    return {"batch_id": summary.batch, "flagged": ctx.status.unflag(summary.batch, str(u))}


@router.get("/v1/batches/{batch_id}/flags.txt", response_class=PlainTextResponse)
def flags_manifest(summary: Batch, ctx: Ctx):
    """The flagged keys as a manifest for `smallcut enqueue --manifest FILE` (one s3:// URL per line)."""
    return PlainTextResponse(manifest(ctx.status.flagged(summary.batch)), headers={
        "Content-Disposition": f'attachment; filename="{summary.batch}-flagged.txt"'})


# ---------------------------------------------------------------------- the gallery at catalog scale
REVIEW_PAGE_MAX = 500
TERMINAL_STATES = ("done", "failed", "skipped")


def total_ms(record: dict) -> float:
    """Wall time of one cut-out: every stage but the idempotency check (the `head` stage)."""
    return sum(v for k, v in (record.get("timings") or {}).items() if k != "head")


def review_page(status, batch_id: str, *, state: str | None, flagged: bool | None, sort: str,
                offset: int, limit: int) -> dict:
    """One page of a batch's objects, filtered and ordered here so the page never loads a whole catalog.

    Each object is shown with the record it ended with in this batch (StatusStore.batch_records), so
    a later batch of the same keys does not change what this batch's page shows.
    """
    states = status.batch_states(batch_id)
    marks = {url.removeprefix("s3://") for url in status.flagged(batch_id)}
    oids = [oid for oid, st in states.items() if (state is None or st == state)
            and (flagged is None or (oid in marks) == flagged)]
    if sort == "key":
        oids.sort()
        page = oids[offset:offset + limit]
        records = status.batch_records(batch_id, page)
    else:  # ordered by a recorded value: read the records of every candidate, chunk by chunk
        records = {}
        for i in range(0, len(oids), 1000):
            records.update(status.batch_records(batch_id, oids[i:i + 1000]))
        if sort == "slowest":
            oids = sorted((o for o in oids if records.get(o, {}).get("timings")), key=lambda o: -total_ms(records[o]))
        else:  # the smallest cut-out region relative to its frame: where small objects vanish first
            oids = sorted((o for o in oids if records.get(o, {}).get("objects")),
                          key=lambda o: records[o].get("min_object_frac", 1.0))
        page = oids[offset:offset + limit]
    items = []
    for oid in page:
        st = states[oid]
        obj = records.get(oid) if st in TERMINAL_STATES else None
        if obj is None:  # under way: the live record, when it is this batch's
            live = status.get_object(oid) or {}
            obj = live if live.get("batch") == batch_id else {}
        bucket, _, key = oid.partition("/")
        obj = {**obj, "state": st, "bucket": bucket, "key": key, "source": f"s3://{oid}", "flagged": oid in marks}
        if obj.get("timings"):
            obj["total_ms"] = round(total_ms(obj), 1)
        items.append(obj)
    return {"batch_id": batch_id, "total": len(oids), "batch_total": len(states), "offset": offset,
            "limit": limit, "items": items}


@router.get("/v1/batches/{batch_id}/review")
def review(summary: Batch, ctx: Ctx,
           state: Literal["queued", "processing", "done", "failed", "skipped"] | None = None,
           flagged: bool | None = Query(None, description="true: only flagged objects; false: only unflagged"),
           sort: Literal["key", "slowest", "smallest"] = "key",
           offset: int = Query(0, ge=0, le=10**9), limit: int = Query(100, ge=1, le=REVIEW_PAGE_MAX)) -> dict:
    """One page of the batch's objects for review: `total` matching, each with the record it ended with
    in this batch (a later batch of the same keys does not change it)."""
    return review_page(ctx.status, summary.batch, state=state, flagged=flagged, sort=sort, offset=offset,
                       limit=limit)


_IMAGE_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"),
                (b"BM", "image/bmp"))


def sniff_image(head: bytes) -> str | None:
    for magic, media in _IMAGE_MAGIC:
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.get("/v1/image", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
                       415: {"description": "the object is not an image a browser shows"}})
async def full_image(ctx: Ctx, key: str = Query(..., max_length=2048, description="s3://bucket/key")):
    """The object itself, full size, for the before/after view; only images (checked by their bytes),
    so an HTML object in a bucket is never served on the API's origin."""
    from botocore.exceptions import ClientError

    from smallcut.storage import describe, error_code

    u = parse_object_url(key, ctx.settings.allowed_buckets)

    def read() -> bytes:
        head = ctx.s3.head_object(Bucket=u.bucket, Key=u.key)
        if head.get("ContentLength", 0) > ctx.settings.max_input_bytes:
            raise HTTPException(413, f"object above SMALLCUT_MAX_INPUT_BYTES ({ctx.settings.max_input_bytes})")
        return ctx.s3.get_object(Bucket=u.bucket, Key=u.key)["Body"].read()

    try:
        data = await run_in_threadpool(read)
    except ClientError as exc:
        code = 404 if error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket") else 400
        raise HTTPException(code, describe(exc)) from None
    media = sniff_image(data[:16])
    if media is None:
        raise HTTPException(415, "not an image a browser shows (JPEG, PNG, WebP, GIF, BMP)")
    return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=300",
                                                     "X-Content-Type-Options": "nosniff",
                                                     "Content-Security-Policy": "sandbox"})
