"""Without ../shared the tests get generated photos with masks, named like ECSSD's, deterministic."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image

from tests import photos

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_missing_data_set_gives_generated_photos_and_skips_the_rest(tmp_path):
    code = (
        "from tests import photos\n"
        "print(photos.have_ecssd(), photos.photo_path(805), photos.mask_path(805), photos.needs_ecssd.kwargs['reason'])\n"
    )
    env = {**os.environ, "BENCH_ECSSD_DIR": str(tmp_path / "absent")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    have, image, mask, *reason = proc.stdout.split()
    assert have == "False" and image.endswith("0805.jpg") and mask.endswith("0805.png")
    assert str(tmp_path) not in image
    im, m = Image.open(image), Image.open(mask)
    assert im.format == "JPEG" and im.size == m.size == photos.SIZE
    fg = np.asarray(m) > 127
    assert 0.05 < fg.mean() < 0.5  # one salient subject, not the whole frame
    assert "ECSSD" in " ".join(reason)


def test_generation_is_deterministic_and_varies_by_number():
    a, ma = photos.render(3)
    b, mb = photos.render(3)
    c, mc = photos.render(4)
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    assert not np.array_equal(ma, mc)
