"""Bulk enqueue: stream keys from a listing or a manifest into chunk tasks of one batch.

Keys are never all in memory: the listing is paginated and chunks are sent as they fill, so a prefix
of millions of objects costs one page plus one chunk at a time.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from smallcut import keys as keyrules
from smallcut import storage
from smallcut.job import JobSpec
from smallcut.keys import S3Url


@dataclass(frozen=True)
class Request:
    source: S3Url  # bucket + prefix to list (or the default bucket of manifest lines)
    out_bucket: str
    out_prefix: str
    queue: str
    chunk_size: int
    manifest: Path | None = None
    force: bool = False
    options: dict = field(default_factory=dict)
    batch: str | None = None
    # the part of each key the output prefix replaces (keys.output_key): the listed prefix when an
    # output location was given, else "" (the default output location mirrors the whole key)
    in_prefix: str = ""

    def spec(self) -> JobSpec:
        """What every task of the batch carries besides its keys (and what retry-failed reuses)."""
        return JobSpec(out_bucket=self.out_bucket, out_prefix=self.out_prefix, in_prefix=self.in_prefix,
                       options=self.options, force=self.force, queue=self.queue)


@dataclass
class Result:
    batch: str
    queued: int = 0
    refused: int = 0  # invalid keys: recorded as failed with the reason
    ignored: int = 0  # not images, or smallcut's own outputs


class OutputUnavailable(Exception):
    """The output location cannot take the cutouts; str(exc) says why and what to do."""


# a zero-byte object put and deleted under the output prefix: not an image, so never processed
PROBE_NAME = ".smallcut-write-check"
_MISSING = ("404", "NoSuchBucket", "NotFound")
_DENIED = ("403", "AccessDenied", "AllAccessDisabled", "AccountProblem")


def check_output(s3, bucket: str, prefix: str) -> None:
    """Refuse a batch whose cutouts could not be written, before any key is downloaded: the bucket
    exists and this identity may put objects under the prefix (put + delete of a probe object).

    Other errors (network, throttling) propagate unchanged: they are not a verdict on the bucket.
    """
    from botocore.exceptions import ClientError

    where = f"s3://{bucket}/{prefix.strip('/')}"
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = storage.error_code(exc)
        if code in _MISSING:
            raise OutputUnavailable(f"output bucket {bucket!r} does not exist: create it or give another --out "
                                    "(nothing was queued)") from None
        if code in _DENIED:
            raise OutputUnavailable(f"no access to output bucket {bucket!r} ({storage.describe(exc)}); "
                                    "nothing was queued") from None
        raise
    key = "/".join(p for p in (prefix.strip("/"), f"{PROBE_NAME}-{secrets.token_hex(4)}") if p)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    except ClientError as exc:
        if storage.error_code(exc) in _MISSING + _DENIED:
            raise OutputUnavailable(f"cannot write to {where} ({storage.describe(exc)}): the worker's "
                                    "uploads would fail the same way; nothing was queued") from None
        raise
    try:
        s3.delete_object(Bucket=bucket, Key=key)
    except ClientError:  # put without delete rights: the zero-byte probe stays, the batch can still run
        pass


def new_batch_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def request_from(source: str, out: str | None, settings, **kw) -> Request:
    src = keyrules.parse_s3_url(source)
    if out:
        dst = keyrules.parse_s3_url(out)
        out_bucket, out_prefix, in_prefix = dst.bucket, dst.key.strip("/"), src.key
    else:
        out_bucket, out_prefix, in_prefix = settings.output_bucket or src.bucket, settings.out_prefix, ""
    kw.setdefault("queue", settings.queue)
    kw.setdefault("chunk_size", settings.chunk_size)
    return Request(source=src, out_bucket=out_bucket, out_prefix=out_prefix, in_prefix=in_prefix, **kw)


def listed_keys(s3, src: S3Url) -> Iterator[tuple[str, str]]:
    for obj in storage.iter_objects(s3, src.bucket, src.key):
        yield src.bucket, obj["Key"]


def manifest_keys(path: Path, default_bucket: str) -> Iterator[tuple[str, str]]:
    """One key per line: 's3://bucket/key' or a key in the default bucket; '#' comments, blanks skipped."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith("s3://"):
                url = keyrules.parse_s3_url(line)
                yield url.bucket, url.key
            else:
                yield default_bucket, line


def chunked(items: Iterable[tuple[str, str]], size: int, tail: int | None = None) -> Iterator[tuple[str, list[str]]]:
    """(bucket, [keys]) groups of at most `size` keys of one bucket, in input order.

    The last `tail` keys (default 2 x size) go out one per task: a batch otherwise ends with one
    worker finishing a full chunk while the others sit idle (20 keys in chunks of 8 on two workers
    take 12 image-times instead of 10). Keys are held back only `tail` deep, so a listing of
    millions still streams.
    """
    tail = 2 * size if tail is None else tail
    held: deque[tuple[str, str]] = deque()
    bucket, keys = None, []
    for item in items:
        held.append(item)
        if len(held) <= tail:
            continue
        b, k = held.popleft()
        if keys and (b != bucket or len(keys) >= size):
            yield bucket, keys
            keys = []
        bucket = b
        keys.append(k)
    if keys:
        yield bucket, keys
    for b, k in held:
        yield b, [k]


def enqueue(req: Request, *, settings, status, s3, celery_app, on_progress=None) -> Result:
    """List (or read) keys, refuse bad ones with a status, send one chunk task per `chunk_size` keys."""
    from smallcut.celery_config import TASK_CHUNK

    result = Result(batch=req.batch or new_batch_id())
    spec = req.spec()
    if req.manifest is None:
        s3.head_bucket(Bucket=req.source.bucket)  # fail before creating a batch: no bucket, no access
    check_output(s3, req.out_bucket, req.out_prefix)
    status.create_batch(result.batch, spec.to_template())
    source = manifest_keys(req.manifest, req.source.bucket) if req.manifest else listed_keys(s3, req.source)

    def accepted() -> Iterator[tuple[str, str]]:
        for bucket, key in source:
            if keyrules.is_own_output(bucket, key, req.out_bucket, req.out_prefix) or not keyrules.is_image_key(key):
                result.ignored += 1
                continue
            try:
                keyrules.validate(bucket, key, settings.allowed_buckets)
            except keyrules.InvalidKey as exc:
                refuse(bucket, key, f"refused: {exc}")
                continue
            yield bucket, key

    def refuse(bucket: str, key: str, reason: str) -> None:
        status.record_refused(result.batch, bucket, key, reason)
        result.refused += 1

    with celery_app.producer_or_acquire() as producer:
        for bucket, keys in chunked(accepted(), max(1, req.chunk_size)):
            # status first: a fast worker must find the object queued, never unknown
            status.mark_queued(result.batch, ((bucket, k) for k in keys))
            celery_app.send_task(TASK_CHUNK, args=[spec.job(result.batch, bucket, keys).to_message()],
                                 queue=req.queue, producer=producer)
            result.queued += len(keys)
            if on_progress:
                on_progress(result)
    status.set_listed(result.batch)
    return result


def requeue_failed(batch: str, *, status, celery_app, queue: str | None = None, chunk_size: int = 8) -> int:
    """Send a batch's failed objects again, each with the output and options it was queued with: the
    batch's job, or the object's own where it has one (the API's single cut-outs share a day's batch,
    each with the caller's options). Returns how many were sent."""
    from smallcut.celery_config import TASK_CHUNK

    summary = status.get_batch(batch)
    if summary is None:
        raise KeyError(batch)
    batch_spec = JobSpec.from_template(summary.job)
    oids = status.failed_ids(batch)
    own = status.object_jobs(batch, oids)
    groups: dict[str, tuple[JobSpec, list[tuple[str, str]]]] = {}  # one group per distinct job
    for oid in oids:
        spec = JobSpec.from_template(own[oid]) if oid in own else batch_spec
        bucket, _, key = oid.partition("/")
        groups.setdefault(json.dumps(spec.to_template(), sort_keys=True), (spec, []))[1].append((bucket, key))
    with celery_app.producer_or_acquire() as producer:
        for spec, items in groups.values():
            for bucket, keys in chunked(items, chunk_size):
                status.mark_queued(batch, ((bucket, k) for k in keys), count=False)
                celery_app.send_task(TASK_CHUNK, args=[spec.job(batch, bucket, keys).to_message()],
                                     queue=queue or spec.queue, producer=producer)
    status.reopen(batch)
    return len(oids)
