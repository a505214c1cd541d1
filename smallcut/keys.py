"""Object key rules shared by producers and workers: s3:// URLs, refusals, output names.

Pure functions: a key is refused here, with a reason a person can act on, before any request is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smallcut.options import IMAGE_SUFFIXES, is_image_name

__all__ = ["IMAGE_SUFFIXES", "InvalidKey", "S3Url", "check_bucket", "check_key", "is_image_key", "is_own_output",
           "object_id", "output_key", "parse_s3_url", "relative_key", "validate"]
MAX_KEY_BYTES = 1024  # S3's limit
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


class InvalidKey(ValueError):
    """A bucket or key that smallcut refuses to touch; str(exc) is the reason."""


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str = ""  # an object key, or a prefix when listing

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(url: str) -> S3Url:
    """'s3://bucket/some/prefix' -> S3Url('bucket', 'some/prefix'); the key part may be empty."""
    if not url.startswith("s3://"):
        raise InvalidKey(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[len("s3://") :].partition("/")
    check_bucket(bucket)
    return S3Url(bucket, key)


def check_bucket(bucket: str, allowed: list[str] | tuple[str, ...] | None = None) -> None:
    if not _BUCKET_RE.match(bucket or ""):
        raise InvalidKey(f"invalid bucket name {bucket!r}")
    if allowed and bucket not in allowed:
        raise InvalidKey(f"bucket {bucket!r} is not in the allowed buckets ({', '.join(allowed)})")


def check_key(key: str) -> None:
    """Refuse keys that could escape a prefix or break logs and headers."""
    if not key:
        raise InvalidKey("empty key")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"key longer than {MAX_KEY_BYTES} bytes")
    bad = next((c for c in key if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise InvalidKey(f"key contains a control character (0x{ord(bad):02x})")
    if ".." in key.split("/"):
        raise InvalidKey("key contains a '..' path segment")
    if key.startswith("/") or key.endswith("/"):
        raise InvalidKey("key starts or ends with '/'")


def validate(bucket: str, key: str, allowed: list[str] | tuple[str, ...] | None = None) -> None:
    """Raise InvalidKey with the reason if (bucket, key) must not be processed."""
    check_bucket(bucket, allowed)
    check_key(key)


def is_image_key(key: str) -> bool:
    return is_image_name(key)


def relative_key(key: str, in_prefix: str) -> str:
    """`key` relative to the listed input prefix, as `aws s3 sync` names its copies.

    'photos/2024/0801.jpg' under 'photos/' or 'photos' -> '2024/0801.jpg'. A prefix that ends inside
    a name ('photos/08') lists 'photos/0801.jpg': that key is relative to the prefix's folder
    ('0801.jpg'). A key outside the prefix (a manifest line) keeps its full path.
    """
    folder = in_prefix.strip("/")
    if not folder:
        return key
    if key.startswith(folder + "/"):
        return key[len(folder) + 1 :]
    parent = folder.rpartition("/")[0]
    if not in_prefix.endswith("/") and key.startswith(folder) and parent:
        return key[len(parent) + 1 :]
    return key


def output_key(key: str, out_prefix: str, in_prefix: str = "") -> str:
    """'<out-prefix>/<key relative to in-prefix, without extension>.png'.

    The output prefix replaces the input prefix: `enqueue s3://catalog/photos/ --out
    s3://cutouts/photos` writes cutouts/photos/0801.png for photos/0801.jpg. With no input prefix
    (events, the default output location) the whole key is kept under the output prefix, so two
    input folders never write to one output name. No output prefix: next to the input.
    """
    rel = relative_key(key, in_prefix)
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    prefix = out_prefix.strip("/")
    return f"{prefix}/{stem}.png" if prefix else f"{stem}.png"


def is_own_output(bucket: str, key: str, out_bucket: str, out_prefix: str) -> bool:
    """True for objects smallcut wrote: an event for them must not start another cutout (no loop)."""
    prefix = out_prefix.strip("/")
    if bucket != out_bucket:
        return False
    if not prefix:
        return key.lower().endswith(".png")
    return key.startswith(prefix + "/")


def object_id(bucket: str, key: str) -> str:
    return f"{bucket}/{key}"


class ScratchConfigError(ValueError):
    """The API's scratch location cannot be made from the settings: `smallcut api` stops at start with
    this message (and the event intake has no scratch prefix to skip)."""


def api_scratch_location(settings) -> tuple[str, str]:
    """(bucket, prefix) where POST /v1/cutout and /api/remove put uploads and their outputs."""
    if settings.api_scratch:
        try:
            u = parse_s3_url(settings.api_scratch)
        except InvalidKey as exc:
            raise ScratchConfigError(f"SMALLCUT_API_SCRATCH={settings.api_scratch!r}: {exc} "
                                     "(use s3://bucket/prefix)") from None
        bucket, prefix = u.bucket, u.key.strip("/")
        source = "SMALLCUT_API_SCRATCH"
    else:
        bucket = settings.output_bucket or (settings.allowed_buckets[0] if settings.allowed_buckets else None)
        if not bucket:
            raise ScratchConfigError("the API has nowhere to put uploads: set SMALLCUT_API_SCRATCH=s3://bucket/prefix "
                                     "(or SMALLCUT_OUTPUT_BUCKET / SMALLCUT_ALLOWED_BUCKETS, whose bucket it then uses "
                                     "with the prefix _api)")
        prefix = "_api"
        source = "SMALLCUT_OUTPUT_BUCKET" if settings.output_bucket else "SMALLCUT_ALLOWED_BUCKETS"
    try:
        check_bucket(bucket, settings.allowed_buckets)
    except InvalidKey as exc:
        raise ScratchConfigError(f"the scratch bucket from {source} is refused: {exc}") from None
    return bucket, prefix
