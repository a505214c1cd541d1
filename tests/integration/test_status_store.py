"""The status store against the suite's real Redis-protocol server: counters stay exact whatever the
order and number of deliveries."""

from __future__ import annotations

import pytest

from smallcut.status import State

pytestmark = pytest.mark.integration


def test_counters_follow_transitions_and_redeliveries(status):
    batch = "unit-counters"
    status.create_batch(batch, {"queue": "cpu"})
    status.mark_queued(batch, [("inbox", "a.jpg"), ("inbox", "b.jpg"), ("inbox", "c.jpg")])
    status.set_listed(batch)
    s = status.get_batch(batch)
    assert (s.total, s.queued, s.is_finished) == (3, 3, False)

    assert status.transition(batch, "inbox/a.jpg", State.PROCESSING) == ["queued", 1]
    status.transition(batch, "inbox/a.jpg", State.DONE)
    # a redelivered message (worker lost after the upload) runs a.jpg again: still one object done
    assert status.transition(batch, "inbox/a.jpg", State.PROCESSING) == ["done", 2]
    status.transition(batch, "inbox/a.jpg", State.SKIPPED)
    status.transition(batch, "inbox/b.jpg", State.PROCESSING)
    status.transition(batch, "inbox/b.jpg", State.FAILED, {"error": "bad"})
    s = status.get_batch(batch)
    assert (s.queued, s.processing, s.done, s.skipped, s.failed, s.is_finished) == (1, 0, 0, 1, 1, False)
    assert status.failed_ids(batch) == ["inbox/b.jpg"]

    status.transition(batch, "inbox/c.jpg", State.DONE)
    s = status.get_batch(batch)
    assert s.is_finished and s.finished is not None and s.completed == 3

    status.mark_queued(batch, [("inbox", "b.jpg")], count=False)  # retry-failed
    s = status.get_batch(batch)
    assert (s.total, s.failed, s.queued) == (3, 0, 1) and status.failed_ids(batch) == []
    obj = status.get_object("inbox/b.jpg")
    assert obj["state"] == "queued" and obj["attempts"] == 0 and obj["error"] == ""


def test_keys_expire_with_the_ttl(status):
    batch = "unit-ttl"
    status.create_batch(batch, {})
    status.mark_queued(batch, [("inbox", "ttl.jpg")])
    for key in (status.obj_key("inbox/ttl.jpg"), status.batch_key(batch), status.batch_key(batch) + ":states"):
        assert 0 < status.r.ttl(key) <= status.ttl


def test_first_sighting_dedupes(status):
    assert status.first_sighting("inbox/x.jpg@etag1", 60) is True
    assert status.first_sighting("inbox/x.jpg@etag1", 60) is False
    assert status.first_sighting("inbox/x.jpg@etag2", 60) is True
