"""Event-driven runs: MinIO-format notifications through the webhook and the Redis list target,
into the real `smallcut events serve` process and a real worker."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from smallcut import localstack

from .conftest import SHARED_BUCKET, photo, wait_for_object

pytestmark = pytest.mark.integration

TOKEN = "test-events-token"
REDIS_LIST = "minio-events"


def minio_record(bucket: str, key: str, etag: str, size: int, name: str = "s3:ObjectCreated:Put", meta=None) -> dict:
    """One record as MinIO sends it (keys URL-encoded, form style)."""
    return {
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": "2026-11-24T10:00:00.000Z",
        "eventName": name, "userIdentity": {"principalId": "minio"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "contentType": "image/jpeg",
                          "userMetadata": meta or {"content-type": "image/jpeg"}, "sequencer": "17F0A1B2C3D4E5F6"}},
    }


@pytest.fixture(scope="module")
def receiver(stack, env, worker):
    """`smallcut events serve` with a token, consuming the Redis list too; input and output share a bucket."""
    port = localstack.free_port()
    ev_env = {**env, "SMALLCUT_EVENTS_TOKEN": TOKEN, "SMALLCUT_EVENTS_MAX_BODY": "65536",
              "SMALLCUT_OUTPUT_BUCKET": SHARED_BUCKET}
    proc = localstack._spawn(
        [sys.executable, "-m", "smallcut.cli", "events", "serve", "--port", str(port), "--redis-list", REDIS_LIST],
        Path(stack.dir) / "events.log", {**os.environ, **ev_env})
    try:
        localstack.wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        localstack.stop(proc.pid)
        proc.wait(timeout=30)


def post(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def upload(s3, key: str, data: bytes) -> dict:
    s3.put_object(Bucket=SHARED_BUCKET, Key=key, Body=data)
    head = s3.head_object(Bucket=SHARED_BUCKET, Key=key)
    return minio_record(SHARED_BUCKET, key, head["ETag"].strip('"'), head["ContentLength"])


def test_webhook_event_end_to_end(receiver, s3, status):
    key = "uploads/new arrivals/ring 1+1.jpg"  # spaces and '+' arrive URL-encoded
    record = upload(s3, key, photo(11))
    body = json.dumps({"EventName": "s3:ObjectCreated:Put", "Key": f"{SHARED_BUCKET}/{key}", "Records": [record]}).encode()

    assert post(receiver + "/events", body, token=None)[0] == 401
    assert post(receiver + "/events", body, token="wrong")[0] == 401
    code, counts = post(receiver + "/events", body)
    assert code == 200 and counts["queued"] == 1

    obj = wait_for_object(status, f"{SHARED_BUCKET}/{key}")
    assert obj["state"] == "done", obj
    assert obj["batch"] == time.strftime("events-%Y%m%d", time.gmtime())
    out_key = "cutouts/uploads/new arrivals/ring 1+1.png"
    assert obj["output"] == f"s3://{SHARED_BUCKET}/{out_key}"
    out = s3.head_object(Bucket=SHARED_BUCKET, Key=out_key)
    assert out["ContentType"] == "image/png" and out["Metadata"]["source-etag"] == record["s3"]["object"]["eTag"]

    # the same notification again (MinIO retries, or two targets): not queued twice
    assert post(receiver + "/events", body)[1]["duplicate"] == 1
    # the notification for our own output in the same bucket: ignored, no loop
    own = minio_record(SHARED_BUCKET, out_key, out["ETag"].strip('"'), out["ContentLength"], meta={
        "X-Amz-Meta-Source-Etag": out["Metadata"]["source-etag"], "content-type": "image/png"})
    assert post(receiver + "/events", json.dumps({"Records": [own]}).encode())[1] == {
        "queued": 0, "ignored": 1, "duplicate": 0, "refused": 0}
    assert status.get_object(f"{SHARED_BUCKET}/{out_key}") is None
    # deletions and non-images are not work
    gone = minio_record(SHARED_BUCKET, "uploads/x.jpg", "abc", 1, name="s3:ObjectRemoved:Delete")
    text = minio_record(SHARED_BUCKET, "uploads/notes.txt", "abd", 1)
    assert post(receiver + "/events", json.dumps({"Records": [gone, text]}).encode())[1]["queued"] == 0


def test_webhook_limits_and_health(receiver):
    assert post(receiver + "/events", b"x" * 70_000)[0] == 413
    assert post(receiver + "/events", b"{not json")[0] == 400
    with urllib.request.urlopen(receiver + "/healthz", timeout=10) as resp:
        assert resp.status == 200


def test_redis_list_target(receiver, env, s3, status):
    """MinIO's Redis target (format=access) RPUSHes [{"Event": [record], "EventTime": ...}] entries."""
    import redis

    key = "uploads/from-redis-target.jpg"
    record = upload(s3, key, photo(12))
    r = redis.Redis.from_url(env["SMALLCUT_REDIS_URL"])
    r.rpush(REDIS_LIST, json.dumps([{"Event": [record], "EventTime": record["eventTime"]}]))
    r.rpush(REDIS_LIST, "garbage that is not JSON")  # dropped with a warning, never blocks the list
    r.rpush(REDIS_LIST, json.dumps([{"Event": [record], "EventTime": record["eventTime"]}]))  # duplicate
    obj = wait_for_object(status, f"{SHARED_BUCKET}/{key}")
    assert obj["state"] == "done" and obj["attempts"] == 1
    deadline = time.monotonic() + 30
    while (r.llen(REDIS_LIST) or r.llen(REDIS_LIST + ":processing")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.llen(REDIS_LIST) == 0 and r.llen(REDIS_LIST + ":processing") == 0
    assert s3.head_object(Bucket=SHARED_BUCKET, Key="cutouts/uploads/from-redis-target.png")["ContentLength"] > 0
