"""Malformed notifications: one schema for the webhook and MinIO's Redis list target.

Against the suite's real Redis (status store and broker); the webhook runs in-process through
FastAPI's test client. Tasks go to a queue no worker consumes: only the intake is under test.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from .conftest import IN_BUCKET

pytestmark = pytest.mark.integration

QUEUE = "events-schema-test"  # nobody consumes it
TOKEN = "schema-token"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# record-shaped bodies whose every field may be of the wrong type: where schema bugs would hide
anything = st.one_of(json_values, st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
                     st.just("abc"), st.just(-1), st.just({}), st.just([]))
records = st.fixed_dictionaries({
    "eventName": st.one_of(st.just("s3:ObjectCreated:Put"), anything),
    "s3": st.one_of(anything, st.fixed_dictionaries({
        "bucket": st.one_of(anything, st.fixed_dictionaries({"name": st.one_of(st.just(IN_BUCKET), anything)})),
        "object": st.one_of(anything, st.fixed_dictionaries({
            "key": st.one_of(st.just("hyp/a.jpg"), st.text(max_size=20), anything),
            "size": st.one_of(st.integers(min_value=0), anything),
            "eTag": st.one_of(st.text(max_size=10), anything),
            "userMetadata": st.one_of(st.none(), anything),
        })),
    })),
})
bodies = st.one_of(json_values, st.fixed_dictionaries({"Records": st.one_of(st.lists(records, max_size=3), anything)}),
                   st.lists(st.fixed_dictionaries({"Event": st.lists(records, max_size=2)}), max_size=2))


def record(key: str, size=1234, etag: str | None = None) -> dict:
    return {"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {"name": IN_BUCKET},
            "object": {"key": key, "size": size, "eTag": etag or uuid.uuid4().hex}}}


@pytest.fixture(scope="module")
def intake(settings, status, celery_app):
    from producer.events import Intake

    return Intake(settings, status, celery_app, queue=QUEUE)


@pytest.fixture(scope="module")
def client(intake):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from producer.events import make_router

    app = FastAPI()
    app.include_router(make_router(intake, TOKEN, 1 << 20))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def post(client, body: bytes):
    return client.post("/events", content=body, headers={"Authorization": f"Bearer {TOKEN}",
                                                          "Content-Type": "application/json"})


@hsettings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies)
def test_webhook_never_answers_5xx(client, body):
    resp = post(client, json.dumps(body).encode())
    assert resp.status_code < 500, (resp.status_code, resp.text, body)
    if resp.status_code == 200:
        assert set(resp.json()) == {"queued", "ignored", "duplicate", "refused"}
    else:
        assert resp.status_code == 400 and resp.json()["error"], resp.text


@pytest.mark.parametrize("body, reason", [
    (json.dumps({"Records": [record("a/b.jpg", size="abc")]}), "size"),
    ('{"Records": [{"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": {"name": "inbox"}, '
     '"object": {"key": "lone-\\udc80.jpg", "size": 1}}}]}', "object.key"),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    (json.dumps({"Records": "nope"}), "Records"),
    (json.dumps(17), "expected an S3 notification"),
    (json.dumps({"Records": [record("a/%ZZ%ff.jpg")]}), "key"),
])
def test_webhook_answers_400_with_the_reason(client, body, reason):
    resp = post(client, body.encode())
    assert resp.status_code == 400 and reason in resp.json()["error"], resp.text


def test_webhook_still_queues_valid_events(client, status):
    key = f"hyp/valid-{uuid.uuid4().hex}.jpg"
    resp = post(client, json.dumps({"Records": [record(key)]}).encode())
    assert resp.status_code == 200 and resp.json()["queued"] == 1
    assert status.get_object(f"{IN_BUCKET}/{key}")["state"] == "queued"


# ---------------------------------------------------------------------- the Redis list target
@pytest.fixture(scope="module")
def consumer(status, intake):
    from producer.events import RedisListConsumer

    return RedisListConsumer(status.r, f"schema-list-{uuid.uuid4().hex[:8]}", intake)


def drain(consumer) -> None:
    while consumer.drain_once(timeout=0.1):
        pass


def test_malformed_entry_goes_to_the_dead_letter_list_and_the_rest_flows(consumer, status):
    key = f"hyp/behind-{uuid.uuid4().hex}.jpg"
    bad = json.dumps([{"Event": [record("hyp/bad.jpg", size="abc")], "EventTime": "now"}])
    consumer.r.rpush(consumer.key, bad, "not json {", json.dumps([{"Event": [record(key)], "EventTime": "now"}]))
    drain(consumer)
    assert status.get_object(f"{IN_BUCKET}/{key}")["state"] == "queued"
    assert consumer.r.llen(consumer.key) == 0 and consumer.r.llen(consumer.processing) == 0
    dead = [json.loads(x) for x in consumer.r.lrange(consumer.dead, 0, 1)]
    assert dead[0]["entry"] == "not json {" and dead[0]["reason"].startswith("not JSON")
    assert dead[1]["entry"] == bad and "size" in dead[1]["reason"]


@hsettings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(entry=bodies)
def test_any_entry_never_blocks_the_valid_one_behind_it(consumer, status, entry):
    key = f"hyp/list-{uuid.uuid4().hex}.jpg"
    consumer.r.rpush(consumer.key, json.dumps(entry), json.dumps({"Records": [record(key)]}))
    drain(consumer)
    assert status.get_object(f"{IN_BUCKET}/{key}")["state"] == "queued"
    assert consumer.r.llen(consumer.key) == 0 and consumer.r.llen(consumer.processing) == 0


# ---------------------------------------------------------------------- loops and counting
def test_outputs_are_not_processed_again_without_metadata(intake, status):
    from producer.events import parse

    # an output a worker wrote for a job with its own --out (another bucket, another prefix): no
    # metadata in the event (AWS sends none), the prefix differs from the receiver's
    status.mark_output("outbox", "photos-out/shoe.png")
    # the API's uploads and outputs: the API queues them itself
    api_out = f"_api/out/{uuid.uuid4().hex}.png"
    api_upload = f"_api/{uuid.uuid4().hex}.jpg"
    fresh = f"hyp/fresh-{uuid.uuid4().hex}.png"
    recs = [{**record("photos-out/shoe.png"), "s3": {"bucket": {"name": "outbox"}, "object": {"key": "photos-out/shoe.png", "size": 1, "eTag": "e1"}}},
            record(api_out), record(api_upload), record(f"cutouts/{uuid.uuid4().hex}.png"), record(fresh)]
    assert len(parse({"Records": recs})) == 5
    counts = intake.handle({"Records": recs})
    assert counts["ignored"] == 4 and counts["queued"] == 1, counts
    assert status.get_object(f"{IN_BUCKET}/{api_out}") is None and status.get_object("outbox/photos-out/shoe.png") is None


def test_a_key_refused_twice_counts_once(intake, status):
    from producer.events import events_batch_id

    key = f"hyp/{uuid.uuid4().hex}/../escape.jpg"  # refused: '..' segment
    before = status.get_batch(events_batch_id())
    before_total = before.total if before else 0
    for etag in ("v1", "v2"):  # two versions: not de-duplicated as one event
        assert intake.handle({"Records": [record(key, etag=etag)]})["refused"] == 1
    after = status.get_batch(events_batch_id())
    assert after.total == before_total + 1
    assert status.get_object(f"{IN_BUCKET}/{key}")["state"] == "failed"
    requeued = f"hyp/again-{uuid.uuid4().hex}.jpg"  # a new version of a queued key: still one object
    for etag in ("v1", "v2"):
        assert intake.handle({"Records": [record(requeued, etag=etag)]})["queued"] == 1
    assert status.get_batch(events_batch_id()).total == before_total + 2


def test_events_serve_masks_tokens_in_its_log(stack, env, tmp_path):
    import os
    import sys
    import urllib.request

    from smallcut import localstack

    port = localstack.free_port()
    log = tmp_path / "events.log"
    proc = localstack._spawn([sys.executable, "-m", "smallcut.cli", "events", "serve", "--port", str(port)], log,
                             {**os.environ, **env, "SMALLCUT_EVENTS_TOKEN": "tok-sekrit-1"})
    try:
        localstack.wait_for_port(port, proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz?token=tok-sekrit-1&x=1", timeout=10) as resp:
            assert resp.status == 200
    finally:
        localstack.stop(proc.pid)
        proc.wait(timeout=30)
    text = log.read_text()
    assert "/healthz?token=***&x=1" in text, text
    assert "tok-sekrit-1" not in text
