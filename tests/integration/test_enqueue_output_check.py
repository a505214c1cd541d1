"""`enqueue` checks the output location before queueing anything: a missing bucket or a write the
identity may not do is refused with the reason, instead of every key failing at upload."""

from __future__ import annotations

import pytest

from tests.faultproxy import FaultProxy

from .conftest import IN_BUCKET, OUT_BUCKET, last_json_line, photo, smallcut

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def inputs(s3):
    for i in range(2):
        s3.put_object(Bucket=IN_BUCKET, Key=f"outcheck/{i}.jpg", Body=photo(40 + i))
    return [f"{IN_BUCKET}/outcheck/{i}.jpg" for i in range(2)]


def test_a_missing_output_bucket_is_refused_before_queueing(env, status, inputs):
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/outcheck/", "--out", "s3://no-such-output/cut")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "output bucket 'no-such-output' does not exist" in proc.stderr and "nothing was queued" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert all(status.get_object(oid) is None for oid in inputs)  # no key was queued or recorded


def test_an_output_without_write_access_is_refused(env, settings, status, s3, inputs):
    port = int(settings.s3_endpoint_url.rsplit(":", 1)[1])
    with FaultProxy(port) as proxy:
        proxy.inject("deny", 10, method="PUT", path_contains=f"/{OUT_BUCKET}/readonly/")
        proc = smallcut({**env, "SMALLCUT_S3_ENDPOINT_URL": proxy.url}, "enqueue", f"s3://{IN_BUCKET}/outcheck/",
                        "--out", f"s3://{OUT_BUCKET}/readonly")
        assert proxy.requests("PUT", f"/{OUT_BUCKET}/readonly/")  # the probe was tried, and denied
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot write to s3://{OUT_BUCKET}/readonly (AccessDenied" in proc.stderr, proc.stderr
    assert all(status.get_object(oid) is None for oid in inputs)


def test_the_probe_leaves_nothing_behind(env, s3, worker, inputs):
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/outcheck/", "--out", f"s3://{OUT_BUCKET}/outcheck-ok",
                    "--wait", "--json")
    assert last_json_line(proc.stdout)["done"] == 2, proc.stderr
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="outcheck-ok/")["Contents"])
    assert listed == ["outcheck-ok/0.png", "outcheck-ok/1.png"]
