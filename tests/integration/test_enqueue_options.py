"""`enqueue` puts checked options into the batch's job: named colours resolved, `shadow` passed on."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from .conftest import IN_BUCKET, OUT_BUCKET, last_json_line, photo, smallcut

pytestmark = pytest.mark.integration


def test_options_reach_the_job_and_the_worker(s3, env, worker, status):
    s3.put_object(Bucket=IN_BUCKET, Key="opts/a.jpg", Body=photo(51))
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/opts/", "--out", f"s3://{OUT_BUCKET}/opts-out",
                    "--bg-color", "white", "--shadow", "keep", "--wait", "--json")
    summary = last_json_line(proc.stdout)
    assert summary["done"] == 1, proc.stderr
    job = status.get_batch(summary["batch"]).job
    assert job["options"]["bg_color"] == "#ffffffff" and job["options"]["shadow"] == "keep"
    png = np.asarray(Image.open(io.BytesIO(s3.get_object(Bucket=OUT_BUCKET, Key="opts-out/a.png")["Body"].read())))
    assert (png[..., 3] == 255).all() and (png[..., :3] == 255).all(axis=-1).mean() > 0.2  # flattened on white


@pytest.mark.parametrize("flags, reason", [(["--bg-color", "purple-ish"], "bad colour 'purple-ish'"),
                                           (["--shadow", "soft"], "invalid choice: 'soft'")])
def test_bad_options_are_refused_before_anything_is_queued(env, status, flags, reason):
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/opts-bad/", *flags)
    assert proc.returncode == 2 and reason in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
