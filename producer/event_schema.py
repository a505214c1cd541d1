"""The one schema of S3/MinIO notifications, for the webhook and the Redis list alike.

Accepted shapes: {"Records": [record, ...]} (S3, MinIO webhook), MinIO's Redis access format
{"Event": [record, ...], "EventTime": ...}, or a list of either. A record is checked where smallcut
reads it (eventName, s3.bucket.name, s3.object.key/size/eTag/userMetadata); anything else in it is
ignored. Records that are not "object created" are passed through unchecked beyond their name, since
nothing is done with them. `parse_notification` raises `EventRejected` with a reason a person can
read; the webhook answers it with 400, the Redis list consumer moves the entry to its dead-letter list.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MAX_RECORDS = 1000  # per notification; MinIO and S3 send one


class EventRejected(ValueError):
    """A notification that does not fit the schema; str(exc) is the reason."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=4096)


class S3Bucket(_Lenient):
    name: str = Field(min_length=1, max_length=255)


class S3Object(_Lenient):
    key: str = Field(min_length=1, max_length=3 * 1024)  # URL-encoded: up to 3 bytes per byte of a 1024-byte key
    size: int | None = Field(default=None, ge=0)
    eTag: str | None = None
    etag: str | None = None
    sequencer: str | None = None
    userMetadata: dict[str, Any] | None = None

    @field_validator("key")
    @classmethod
    def _decodable(cls, v: str) -> str:
        key = unquote_plus(v, errors="strict")
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("key is not valid UTF-8 (lone surrogate)") from None
        return v

    @field_validator("eTag", "etag", "sequencer")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("not valid UTF-8 (lone surrogate)") from None
        return v

    @property
    def decoded_key(self) -> str:
        return unquote_plus(self.key)


class S3Entity(_Lenient):
    bucket: S3Bucket
    object: S3Object


class Record(_Lenient):
    eventName: str = Field(max_length=256)
    s3: S3Entity | None = None

    @property
    def is_created(self) -> bool:
        return self.eventName.removeprefix("s3:").startswith("ObjectCreated:")


class _CreatedRecord(Record):
    s3: S3Entity


class Notification(_Lenient):
    Records: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_RECORDS)
    Event: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_RECORDS)


def _reason(exc: ValidationError, where: str) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "body"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}{loc}: {first.get('msg', 'invalid')}{more}"


def parse_notification(payload: Any) -> list[Record]:
    """Validated records of one notification (every kind of event; callers keep the ones they want)."""
    if isinstance(payload, list):
        if len(payload) > MAX_RECORDS:
            raise EventRejected(f"more than {MAX_RECORDS} notifications in one body")
        return [rec for i, item in enumerate(payload) for rec in _parse_one(item, f"[{i}].")]
    return _parse_one(payload, "")


def _parse_one(payload: Any, where: str) -> list[Record]:
    if not isinstance(payload, dict):
        raise EventRejected(f"{where or 'body'}: expected an S3 notification object, got {type(payload).__name__}")
    try:
        note = Notification.model_validate(payload)
    except ValidationError as exc:
        raise EventRejected(_reason(exc, where)) from None
    raw = note.Records if note.Records is not None else note.Event
    if raw is None:
        raise EventRejected(f"{where or 'body'}: no 'Records' (S3, MinIO webhook) or 'Event' (MinIO Redis target) list")
    field = "Records" if note.Records is not None else "Event"
    out = []
    for i, item in enumerate(raw):
        at = f"{where}{field}.{i}."
        try:
            rec = Record.model_validate(item)
            if rec.is_created:
                rec = _CreatedRecord.model_validate(item)
        except ValidationError as exc:
            raise EventRejected(_reason(exc, at)) from None
        except (ValueError, TypeError) as exc:  # a validator's own error outside pydantic's wrapping
            raise EventRejected(f"{at}: {exc}") from None
        out.append(rec)
    return out
