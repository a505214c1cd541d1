"""Which failures are retried (transient) and which end a key at once (permanent), and the backoff."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError

from smallcut import storage
from smallcut.keys import InvalidKey
from workers.pipeline import backoff, is_transient


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize("exc", [
    client_error("SlowDown", 503), client_error("InternalError", 500), client_error("RequestTimeout", 400),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), ReadTimeoutError(endpoint_url="http://x"),
    RedisConnectionError("down"), ConnectionResetError(),
])
def test_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    client_error("NoSuchKey", 404), client_error("NoSuchBucket", 404), client_error("AccessDenied", 403),
    client_error("404", 404), storage.PermanentStorageError("too big"), InvalidKey("bad"), ValueError("bug"),
])
def test_permanent(exc):
    assert not is_transient(exc)


def test_backoff_grows_with_jitter_and_is_capped():
    for n in range(8):
        d = backoff(n, 2.0, 60)
        assert min(60, 2.0 * 2 ** n) * 0.5 <= d <= min(60, 2.0 * 2 ** n)
    assert len({round(backoff(3, 2.0, 60), 6) for _ in range(20)}) > 1


def test_storage_describes_errors():
    assert storage.describe(client_error("NoSuchKey", 404)).startswith("NoSuchKey")
    assert storage.is_current({"Metadata": {"source-etag": "abc", "fingerprint": "f"}}, '"abc"', "f")
    assert not storage.is_current({"Metadata": {"source-etag": "abc", "fingerprint": "g"}}, "abc", "f")
    assert not storage.is_current(None, "abc", "f")
