"""POST /v1/batches: the same intake as `smallcut enqueue`, over HTTP.

A prefix is listed in a background thread (millions of keys must not hold the request open); the
batch exists, with its job, before the answer goes out, so its status URL works at once. An explicit
key list is checked whole first: one refused key refuses the request, with the reason.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

from smallcut import keys as keyrules

from .enqueue import Request, enqueue, new_batch_id, request_from

log = logging.getLogger(__name__)


def _bad(status_code: int, reason: str):
    from fastapi import HTTPException

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


def submit(body, *, settings, status, s3, celery_app) -> dict:
    if (body.source is None) == (body.keys is None):
        raise _bad(422, "give exactly one of 'source' (s3://bucket/prefix) or 'keys' (a list of s3:// URLs)")
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
        status.create_batch(batch, req.job())
        threading.Thread(target=_list_in_background, args=(req, kw), name=f"enqueue-{batch}", daemon=True).start()
        return {"batch_id": batch, "status_url": f"/v1/batches/{batch}"}
    fd, path = tempfile.mkstemp(prefix="smallcut-keys-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(f"{u}\n" for u in urls)
        result = enqueue(Request(**{**req.__dict__, "manifest": Path(path)}), **kw)
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
