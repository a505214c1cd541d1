"""S3-compatible storage: one client per process, complete-object writes, error classes for retries.

An output is written with a single PutObject (with Content-MD5): S3 and MinIO make it visible whole or
not at all, so a reader never sees half a PNG. Its metadata (source ETag + fingerprint) makes re-runs
skippable without downloading anything.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import quote

META_SOURCE_ETAG = "source-etag"
META_FINGERPRINT = "fingerprint"
META_SOURCE = "source"
META_MODEL = "model"

# S3 error codes that no retry can fix
PERMANENT_CODES = frozenset({
    "403", "404", "400", "NoSuchBucket", "NoSuchKey", "NotFound", "AccessDenied", "InvalidBucketName",
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "InvalidObjectState", "KeyTooLongError",
    "EntityTooLarge", "InvalidArgument", "MethodNotAllowed",
})


class PermanentStorageError(Exception):
    """A storage failure that retrying cannot fix (missing object, no access, object too big)."""


@dataclass(frozen=True)
class Source:
    data: bytes
    etag: str


def make_client(settings):
    """boto3 S3 client from Settings: endpoint, region, credentials, addressing style, bounded retries."""
    import boto3
    from botocore.config import Config

    cfg = Config(
        region_name=settings.s3_region,
        s3={"addressing_style": settings.s3_addressing_style},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=16,
        signature_version="s3v4",
    )
    secret = lambda v: v.get_secret_value() if v is not None else None  # noqa: E731
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=secret(settings.s3_access_key_id),
        aws_secret_access_key=secret(settings.s3_secret_access_key),
        config=cfg,
    )


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {}).get("Code")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(err or status or "") or None
    return None


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, PermanentStorageError):
        return True
    code = error_code(exc)
    return code in PERMANENT_CODES


def describe(exc: BaseException) -> str:
    """Short reason for a status record: the S3 code and message, no stack."""
    code = error_code(exc)
    response = getattr(exc, "response", None) or {}
    msg = response.get("Error", {}).get("Message") if isinstance(response, dict) else None
    if code:
        return f"{code}: {msg or exc}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def head(client, bucket: str, key: str) -> dict | None:
    """HeadObject, or None when the object does not exist."""
    try:
        return client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore ClientError
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def is_current(output_head: dict | None, source_etag: str, fingerprint: str) -> bool:
    """True when an existing output was made from this exact source with these exact parameters."""
    if not output_head:
        return False
    meta = output_head.get("Metadata") or {}
    return meta.get(META_SOURCE_ETAG) == source_etag.strip('"') and meta.get(META_FINGERPRINT) == fingerprint


def download(client, bucket: str, key: str, max_bytes: int) -> Source:
    resp = client.get_object(Bucket=bucket, Key=key)
    size = int(resp.get("ContentLength") or 0)
    if size > max_bytes:
        resp["Body"].close()
        raise PermanentStorageError(f"object is {size} bytes, above the {max_bytes}-byte input limit")
    data = resp["Body"].read()
    return Source(data=data, etag=str(resp.get("ETag", "")).strip('"'))


def upload_png(client, bucket: str, key: str, png: bytes, *, source_etag: str, fingerprint: str,
               source: str, model: str, content_type: str = "image/png") -> str:
    """One PutObject with the MD5 checked server-side; returns the new object's ETag. (Named for the
    PNGs it wrote first; a profile's JPEG, WebP or zip goes the same way with its content type.)"""
    md5 = base64.b64encode(hashlib.md5(png).digest()).decode()
    resp = client.put_object(
        Bucket=bucket, Key=key, Body=png, ContentType=content_type, ContentMD5=md5,
        Metadata={
            META_SOURCE_ETAG: source_etag.strip('"'),
            META_FINGERPRINT: fingerprint,
            META_SOURCE: quote(source, safe="/:"),  # metadata must be ASCII
            META_MODEL: model,
        },
    )
    return str(resp.get("ETag", "")).strip('"')


def iter_objects(client, bucket: str, prefix: str = "", page_size: int = 1000) -> Iterator[dict]:
    """Every object under a prefix, one page in memory at a time (millions of keys are fine)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        yield from page.get("Contents", ())
