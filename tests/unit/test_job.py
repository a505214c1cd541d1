"""The job message: one model read and written in one place (smallcut/job.py)."""

from __future__ import annotations

import json

import pytest

from smallcut.job import InvalidJob, Job, JobOptions, JobSpec


def test_a_legacy_single_key_is_read_as_keys():
    job = Job.from_message({"batch": "events-20260101", "bucket": "inbox", "key": "a.jpg", "out_bucket": None,
                            "out_prefix": "cutouts", "options": {}, "force": False})
    assert job.keys == ["a.jpg"] and job.out_bucket is None and job.out_prefix == "cutouts"
    assert job.to_message() == {"batch": "events-20260101", "bucket": "inbox", "keys": ["a.jpg"], "out_prefix": "cutouts"}


def test_keys_win_over_key_as_they_did_on_a_retried_event_task():
    job = Job.from_message({"batch": "b", "bucket": "inbox", "key": "a.jpg", "keys": ["b.jpg"]})
    assert job.keys == ["b.jpg"]


def test_options_null_and_missing_mean_the_workers_defaults():
    for message in ({"batch": "b", "bucket": "inbox", "keys": ["a.jpg"], "options": None},
                    {"batch": "b", "bucket": "inbox", "keys": ["a.jpg"]}):
        job = Job.from_message(message)
        assert job.options == JobOptions() and job.options.as_dict() == {}


def test_round_trip_keeps_every_field_and_writes_only_what_was_chosen():
    message = {"batch": "20260101-000000-abcdef", "bucket": "inbox", "keys": ["p/a.jpg", "p/b.jpg"],
               "out_bucket": "outbox", "out_prefix": "", "in_prefix": "p", "force": True, "queue": "gpu",
               "options": {"roi": False, "bg_color": "#ffffffff", "shadow": "keep", "mask_only": False},
               "tries": 2, "retry_since": 1767225600.5}
    job = Job.from_message(message)
    assert job.to_message() == message  # out_prefix "" (no prefix) is not the default (None: the worker's)
    assert Job.from_message(json.loads(json.dumps(job.to_message()))) == job
    assert job.options.as_dict() == {"roi": False, "bg_color": "#ffffffff", "shadow": "keep", "mask_only": False}


def test_spec_template_and_the_jobs_built_from_it():
    spec = JobSpec(out_bucket="outbox", out_prefix="cut", options={"bg_color": [255, 255, 255]}, queue="cpu")
    template = spec.to_template()
    assert template == {"out_bucket": "outbox", "out_prefix": "cut", "options": {"bg_color": [255, 255, 255]},
                        "queue": "cpu"}
    assert JobSpec.from_template(json.loads(json.dumps(template))) == spec
    job = spec.job("b1", "inbox", ["x.jpg"])
    assert job.spec == spec and job.to_message() == {**template, "batch": "b1", "bucket": "inbox", "keys": ["x.jpg"]}
    assert JobSpec.from_template({}) == JobSpec() and JobSpec.from_template(None) == JobSpec()


def test_a_retry_and_a_requeue_carry_the_rest_of_the_job():
    job = Job.from_message({"batch": "b", "bucket": "inbox", "keys": ["a.jpg", "b.jpg"], "out_prefix": "x",
                            "options": {"shadow": "keep"}})
    again = job.again(3, 100.0).with_keys(["b.jpg"])
    assert again.to_message() == {"batch": "b", "bucket": "inbox", "keys": ["b.jpg"], "out_prefix": "x",
                                  "options": {"shadow": "keep"}, "tries": 3, "retry_since": 100.0}
    assert job.keys == ["a.jpg", "b.jpg"]  # the original is unchanged


@pytest.mark.parametrize("message, reason", [
    ({"bucket": "inbox", "keys": ["a.jpg"]}, "batch: Field required"),
    ({"batch": "b", "keys": ["a.jpg"]}, "bucket: Field required"),
    ({"batch": "b", "bucket": "inbox"}, "keys: Field required"),
    ({"batch": "b", "bucket": "inbox", "keys": []}, "keys: List should have at least 1 item"),
    ({"batch": "b", "bucket": "inbox", "keys": "a.jpg"}, "keys: Input should be a valid list"),
    ({"batch": "b", "bucket": "inbox", "keys": ["a.jpg", 7]}, "keys.1: Input should be a valid string"),
    ({"batch": "", "bucket": "inbox", "keys": ["a.jpg"]}, "batch: String should have at least 1 character"),
    ({"batch": "b", "bucket": "inbox", "keys": ["a.jpg"], "options": {"shadow": "soft"}},
     "options.shadow: Input should be 'remove' or 'keep'"),
    ({"batch": "b", "bucket": "inbox", "keys": ["a.jpg"], "options": {"bg_color": "purple-ish"}},
     "options.bg_color: Value error, bad colour 'purple-ish'"),
    ({"batch": "b", "bucket": "inbox", "keys": ["a.jpg"], "options": {"bg_color": [1, 2]}},
     "options.bg_color: Value error, a colour list has 3 or 4 integers 0-255"),
    ({"batch": "b", "bucket": "inbox", "keys": ["a.jpg"], "options": {"feather": 3}},
     "options.feather: unknown field (written by a newer smallcut?)"),
    ({"batch": "b", "bucket": "inbox", "keys": ["a.jpg"], "tries": -1}, "tries: Input should be greater than or equal to 0"),
    (["b", "inbox", ["a.jpg"]], "bad job: a JSON object was expected, not list"),
    (None, "bad job: a JSON object was expected, not NoneType"),
])
def test_bad_shapes_are_refused_with_the_field_and_the_reason(message, reason):
    with pytest.raises(InvalidJob) as info:
        Job.from_message(message)
    assert reason in str(info.value) and str(info.value).startswith("bad job")


def test_a_bad_template_names_itself():
    with pytest.raises(InvalidJob, match=r"^bad job template: force: Input should be a valid boolean"):
        JobSpec.from_template({"force": "perhaps"})
