"""Logging setup: plain text for people, or one JSON object per line for log collectors.

JSON lines carry the pipeline's context (batch, key, task id, state, stage timings) as fields, so a
fleet's logs can be filtered per batch or key without parsing messages. Credentials in URLs are
masked in every line as a safety net: settings keep secrets in SecretStr, but an exception text can
still quote a broker or Redis URL.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# record attributes copied into the JSON object when a log call passes them in `extra`
EXTRA_FIELDS = ("batch", "key", "task_id", "state", "worker", "timings", "error", "duration_ms")

# scheme://user:password@ -> scheme://user:***@ (user may be empty: redis://:password@host)
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^:/@\s\"']*):([^@\s/\"']+)@")
# ?token=... in a logged request line (the review page's first visit carries the API token that way)
_QUERY_SECRETS = re.compile(r"(?i)([?&](?:token|access_token|api_key|password)=)[^&\s\"']+")


def redact(text: str) -> str:
    """Mask the password of every URL with credentials, and secret query values, in `text`."""
    return _QUERY_SECRETS.sub(r"\1***", _CREDENTIALS.sub(r"\1\2:***@", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (ISO-8601 UTC), level, logger, msg, and the pipeline's fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class RedactingFormatter(logging.Formatter):
    """The plain format, with URL credentials masked too."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: int | str, json: bool = False) -> None:
    """Root handler on stderr, JSON lines or plain text. Like basicConfig, a no-op when the root
    logger already has handlers (a second call, or a test's capture)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else RedactingFormatter(PLAIN_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
