"""Bulk runs end to end: `smallcut enqueue` -> real worker process -> PNGs in S3 -> status in Redis."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from .conftest import IN_BUCKET, OTHER_BUCKET, OUT_BUCKET, last_json_line, photo, smallcut

pytestmark = pytest.mark.integration

PHOTOS = [1, 2, 3, 4, 5]
CORRUPT = "bulk/broken.jpg"


@pytest.fixture(scope="module")
def bulk_batch(s3, env, worker, status):
    """Five photos, one corrupt JPEG and one text file under s3://inbox/bulk/, run with --wait."""
    for n in PHOTOS:
        s3.put_object(Bucket=IN_BUCKET, Key=f"bulk/{n:04d}.jpg", Body=photo(n))
    s3.put_object(Bucket=IN_BUCKET, Key=CORRUPT, Body=b"\xff\xd8\xff\xe0 this is not really a JPEG")
    s3.put_object(Bucket=IN_BUCKET, Key="bulk/readme.txt", Body=b"not an image")
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/bulk/", "--out", f"s3://{OUT_BUCKET}/cut", "--wait", "--json",
                    "--chunk-size", "2")
    return proc, last_json_line(proc.stdout)


def test_bulk_prefix_end_to_end(bulk_batch, s3):
    proc, summary = bulk_batch
    assert proc.returncode == 1, proc.stderr  # one object failed
    assert (summary["total"], summary["done"], summary["failed"], summary["skipped"]) == (6, 5, 1, 0)
    assert summary["is_finished"] and summary["finished"] >= summary["started"]
    for n in PHOTOS:
        src = s3.head_object(Bucket=IN_BUCKET, Key=f"bulk/{n:04d}.jpg")
        out = s3.get_object(Bucket=OUT_BUCKET, Key=f"cut/{n:04d}.png")
        png = Image.open(io.BytesIO(out["Body"].read()))
        source = Image.open(io.BytesIO(photo(n)))
        assert png.mode == "RGBA" and png.size == source.size
        alpha = np.asarray(png)[..., 3]
        assert alpha.min() == 0 and alpha.max() == 255  # a real cutout: some background, some object
        assert out["Metadata"]["source-etag"] == src["ETag"].strip('"')
        assert len(out["Metadata"]["fingerprint"]) == 16
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="cut/")["Contents"]]
    assert sorted(listed) == sorted(f"cut/{n:04d}.png" for n in PHOTOS)  # nothing for the broken or .txt


def test_statuses_and_counters(bulk_batch, status):
    _, summary = bulk_batch
    batch = summary["batch"]
    for n in PHOTOS:
        obj = status.get_object(f"{IN_BUCKET}/bulk/{n:04d}.jpg")
        assert obj["state"] == "done" and obj["batch"] == batch and obj["attempts"] == 1
        assert obj["output"] == f"s3://{OUT_BUCKET}/cut/{n:04d}.png"
        assert {"download", "decode", "coarse", "upload"} <= set(obj["timings"])
        assert float(obj["queued_at"]) <= float(obj["started_at"]) <= float(obj["finished_at"])
    broken = status.get_object(f"{IN_BUCKET}/{CORRUPT}")
    assert broken["state"] == "failed" and broken["attempts"] == 1  # bad input is never retried
    assert broken["error"] and "refused" not in broken["error"]
    assert status.failed_ids(batch) == [f"{IN_BUCKET}/{CORRUPT}"]
    assert any(d["key"] == CORRUPT and d["batch"] == batch for d in status.dead_letters())
    s = status.get_batch(batch)
    assert (s.queued, s.processing) == (0, 0)


def test_status_cli(bulk_batch, env):
    _, summary = bulk_batch
    proc = smallcut(env, "status", summary["batch"], "--json")
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["done"] == 5 and data["failed"] == 1
    assert [f["key"] for f in data["failures"]] == [CORRUPT]
    proc = smallcut(env, "status", f"s3://{IN_BUCKET}/bulk/0001.jpg", "--json")
    assert json.loads(proc.stdout)["state"] == "done"
    proc = smallcut(env, "status", summary["batch"])  # the table
    assert proc.returncode == 0 and summary["batch"] in proc.stdout
    assert smallcut(env, "status", "no-such-batch", "--json").returncode == 1


def test_idempotent_rerun_skips(bulk_batch, env, s3):
    def versions():
        heads = {n: s3.head_object(Bucket=OUT_BUCKET, Key=f"cut/{n:04d}.png") for n in PHOTOS}
        return {n: (h["ETag"], h["LastModified"]) for n, h in heads.items()}

    before = versions()
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/bulk/", "--out", f"s3://{OUT_BUCKET}/cut", "--wait", "--json")
    again = last_json_line(proc.stdout)
    assert (again["total"], again["skipped"], again["done"], again["failed"]) == (6, 5, 0, 1)
    # a new source version is not skipped; --force redoes a current one
    s3.put_object(Bucket=IN_BUCKET, Key="bulk/0002.jpg", Body=photo(9))
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/bulk/000", "--out", f"s3://{OUT_BUCKET}/cut", "--wait", "--json")
    third = last_json_line(proc.stdout)
    assert (third["total"], third["done"], third["skipped"]) == (5, 1, 4)
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/bulk/0001", "--out", f"s3://{OUT_BUCKET}/cut", "--wait",
                    "--json", "--force")
    assert last_json_line(proc.stdout)["done"] == 1
    after = versions()
    assert [n for n in PHOTOS if after[n] == before[n]] == [3, 4, 5]  # 1 rewritten (forced), 2 new source
    assert after[2][0] != before[2][0]


def test_refused_and_missing_keys(env, worker, status, tmp_path):
    manifest = tmp_path / "keys.txt"
    manifest.write_text("# keys smallcut must refuse or cannot find\n"
                        "bulk/../secrets/x.jpg\n"
                        "bulk/bell\x07.jpg\n"
                        f"s3://{OTHER_BUCKET}/photo.jpg\n"
                        "bulk/does-not-exist.jpg\n")
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/", "--manifest", str(manifest), "--wait", "--json")
    summary = last_json_line(proc.stdout)
    assert proc.returncode == 1
    assert (summary["total"], summary["failed"], summary["done"]) == (4, 4, 0)
    reasons = {status.get_object(oid)["key"]: status.get_object(oid)["error"] for oid in status.failed_ids(summary["batch"])}
    assert "'..'" in reasons["bulk/../secrets/x.jpg"]
    assert "control character" in reasons["bulk/bell\x07.jpg"]
    assert "not in the allowed buckets" in reasons["photo.jpg"]
    assert "NoSuchKey" in reasons["bulk/does-not-exist.jpg"] or "404" in reasons["bulk/does-not-exist.jpg"]
    assert status.get_object(f"{IN_BUCKET}/bulk/does-not-exist.jpg")["attempts"] == 1  # permanent: no retry


def test_retry_failed_after_fixing_the_input(bulk_batch, env, s3, status):
    _, summary = bulk_batch
    s3.put_object(Bucket=IN_BUCKET, Key=CORRUPT, Body=photo(7))
    proc = smallcut(env, "retry-failed", summary["batch"], "--wait")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    s = status.get_batch(summary["batch"])
    assert (s.total, s.failed, s.is_finished) == (6, 0, True)
    assert s.done + s.skipped == 6
    assert status.get_object(f"{IN_BUCKET}/{CORRUPT}")["state"] == "done"


def test_model_loads_once_per_worker_process(bulk_batch, env, worker, status, s3):
    """Many tasks (chunk size 1) over 2 prefork children: each child loaded the model exactly once,
    the parent never did."""
    for i in range(6):
        s3.put_object(Bucket=IN_BUCKET, Key=f"many/{i:02d}.jpg", Body=photo(20 + i))
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/many/", "--out", f"s3://{OUT_BUCKET}/cut-many", "--chunk-size", "1",
                    "--wait", "--json")
    summary = last_json_line(proc.stdout)
    assert summary["done"] == 6
    loads = status.model_loads()
    workers = {status.get_object(f"{IN_BUCKET}/many/{i:02d}.jpg")["worker"] for i in range(6)}
    workers |= {status.get_object(f"{IN_BUCKET}/bulk/{n:04d}.jpg")["worker"] for n in PHOTOS}
    assert workers <= set(loads)  # every process that did work recorded its load
    assert all(count == 1 for count in loads.values()), loads
    pids = {int(w.rsplit(":", 1)[1]) for w in loads}
    assert worker.pid not in pids  # children only, never the forking parent
    assert sum(loads.values()) < summary["done"] + len(PHOTOS)  # far fewer loads than tasks


def test_missing_bucket_is_a_clear_error(env, status):
    proc = smallcut(env, "enqueue", "s3://no-such-bucket/x/")
    assert proc.returncode == 2
    assert "NoSuchBucket" in proc.stderr or "404" in proc.stderr
    assert "Traceback" not in proc.stderr
