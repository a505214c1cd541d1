"""The review page: batches with live progress, a before/after gallery, flags and re-run manifests.

Server-rendered HTML with a little vanilla JS (producer/review/*), no build step. Thumbnails are made
on demand from the S3 objects and kept in a small in-process LRU: workers stay on their hot path
(no extra encode and upload per object), nothing extra is stored for the batches nobody looks at, and
a re-run output (new ETag) gets a fresh thumbnail. Flags live in Redis beside the batch
(`batch:<id>:flagged`, same TTL) and download as a manifest `smallcut enqueue --manifest` reads.
"""

import hmac
import io
import threading
from collections import OrderedDict
from pathlib import Path

HERE = Path(__file__).resolve().parent / "review"
CACHE_ITEMS = 2048


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
    """JPEG for opaque images, WebP (with alpha) for cut-outs; longest side `px`."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    img = Image.open(io.BytesIO(data))
    if img.format == "JPEG":
        img.draft("RGB", (px, px))  # decode at 1/2..1/8 scale: fast on large photos
    img.thumbnail((px, px))
    out = io.BytesIO()
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img.convert("RGBA").save(out, "WEBP", quality=80, method=2)
        return "image/webp", out.getvalue()
    img.convert("RGB").save(out, "JPEG", quality=80)
    return "image/jpeg", out.getvalue()


def manifest(urls: list[str]) -> str:
    """One s3:// URL per line: the format of `smallcut enqueue --manifest`."""
    return "".join(f"{u}\n" for u in sorted(urls))


def install(app, v1: dict, *, settings, status, s3) -> None:
    from fastapi import Body, HTTPException, Path as PathParam, Query, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

    from .api import _BATCH_ID, TOKEN_COOKIE, parse_object_url, token_ok

    thumbs = Thumbnails(s3, settings.max_pixels)
    allowed = settings.allowed_buckets
    token = settings.api_token.get_secret_value() if settings.api_token else None
    page = (HERE / "page.html").read_text(encoding="utf-8")
    script = (HERE / "review.js").read_text(encoding="utf-8")
    style = (HERE / "review.css").read_text(encoding="utf-8")

    def flags_key(batch_id: str) -> str:
        return f"{status.batch_key(batch_id)}:flagged"

    def html(request: Request, batch_id: str = ""):
        given = request.query_params.get("token")
        if given is not None:  # ?token=... once: kept in an HttpOnly cookie, dropped from the URL
            if not (token and hmac.compare_digest(given.encode(), token.encode())):
                return HTMLResponse("wrong token", status_code=401)
            resp = RedirectResponse(request.url.path, status_code=303)
            resp.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
            return resp
        if not token_ok(request, token):
            return HTMLResponse(page.replace("{{BATCH}}", "").replace("{{LOGIN}}", "1"), status_code=401)
        return HTMLResponse(page.replace("{{BATCH}}", batch_id).replace("{{LOGIN}}", ""))

    @app.get("/", include_in_schema=False)
    def index(request: Request):
        return html(request)

    @app.get("/batches/{batch_id}", include_in_schema=False)
    def batch_page(request: Request, batch_id: str = PathParam(..., pattern=_BATCH_ID)):
        return html(request, batch_id)

    @app.get("/static/review.js", include_in_schema=False)
    def review_js():
        return Response(script, media_type="text/javascript")

    @app.get("/static/review.css", include_in_schema=False)
    def review_css():
        return Response(style, media_type="text/css")

    @app.get("/v1/preview", tags=["review"], response_class=Response,
             dependencies=v1["dependencies"],
             responses={**v1["responses"], 200: {"content": {"image/jpeg": {}, "image/webp": {}}}})
    async def preview(key: str = Query(..., max_length=2048, description="s3://bucket/key"),
                      px: int = Query(settings.api_preview_px, ge=16, le=1024)):
        """A small JPEG (photos) or WebP with alpha (cut-outs) of an object, made on demand."""
        from botocore.exceptions import ClientError
        from PIL import UnidentifiedImageError

        from smallcut.storage import describe, error_code

        u = parse_object_url(key, allowed)
        try:
            media, data = await run_in_threadpool(thumbs.get, u.bucket, u.key, px)
        except ClientError as exc:
            code = 404 if error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket") else 400
            raise HTTPException(code, describe(exc)) from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise HTTPException(422, f"not a readable image: {exc}") from None
        return Response(data, media_type=media, headers={"Cache-Control": "private, max-age=300"})

    def summary_or_404(batch_id: str) -> None:
        if status.get_batch(batch_id) is None:
            raise HTTPException(404, f"no batch {batch_id}")

    @app.get("/v1/batches/{batch_id}/flags", tags=["review"], **v1)
    def list_flags(batch_id: str = PathParam(..., pattern=_BATCH_ID)) -> dict:
        """Flagged source objects of the batch (s3:// URLs)."""
        summary_or_404(batch_id)
        return {"batch_id": batch_id, "keys": sorted(status.r.smembers(flags_key(batch_id)))}

    @app.post("/v1/batches/{batch_id}/flags", tags=["review"], **v1)
    def add_flag(batch_id: str = PathParam(..., pattern=_BATCH_ID),
                 key: str = Body(..., embed=True, max_length=2048, description="s3://bucket/key of the source")) -> dict:
        """Flag a cut-out that looks wrong (its source object is what a re-run needs)."""
        summary_or_404(batch_id)
        u = parse_object_url(key, allowed)
        pipe = status.r.pipeline()
        pipe.sadd(flags_key(batch_id), str(u))
        pipe.expire(flags_key(batch_id), status.ttl)
        pipe.scard(flags_key(batch_id))
        count = pipe.execute()[-1]
        return {"batch_id": batch_id, "flagged": count}

    @app.delete("/v1/batches/{batch_id}/flags", tags=["review"], **v1)
    def remove_flag(batch_id: str = PathParam(..., pattern=_BATCH_ID),
                    key: str = Query(..., max_length=2048)) -> dict:
        summary_or_404(batch_id)
        u = parse_object_url(key, allowed)
        status.r.srem(flags_key(batch_id), str(u))
        return {"batch_id": batch_id, "flagged": status.r.scard(flags_key(batch_id))}

    @app.get("/v1/batches/{batch_id}/flags.txt", tags=["review"], response_class=PlainTextResponse, **v1)
    def flags_manifest(batch_id: str = PathParam(..., pattern=_BATCH_ID)):
        """The flagged keys as a manifest for `smallcut enqueue --manifest FILE` (one s3:// URL per line)."""
        summary_or_404(batch_id)
        body = manifest(list(status.r.smembers(flags_key(batch_id))))
        return PlainTextResponse(body, headers={
            "Content-Disposition": f'attachment; filename="{batch_id}-flagged.txt"'})
