"""`smallcut demo --out DIR`: the README's first command, run for real (own servers, own worker)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from smallcut import samples

pytestmark = pytest.mark.integration


def test_demo_finishes_with_every_sample_done(tmp_path):
    out = tmp_path / "demo-out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLCUT_")}
    env["SMALLCUT_INTRA_OP_THREADS"] = "2"
    proc = subprocess.run([sys.executable, "-m", "smallcut.cli", "demo", "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == sorted(n.replace(".jpg", ".png") for n, _ in samples.generate())
    for name in names:
        img = Image.open(out / name)
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        # a cutout of the scene: transparent background, some object kept (its quality is the engine's tests')
        assert img.size == samples.SIZE and alpha.min() == 0 and alpha.max() > 0
        assert (alpha == 0).mean() > 0.5
    assert "8 cutouts" in proc.stdout
    # one measurement of the batch's time: the progress bar's last state and the summary table agree
    shown = re.findall(r"(?:^|[\s│|])(\d+\.\d) s(?=[\s│|]|$)", proc.stdout, re.M)
    assert len(shown) >= 2 and len(set(shown)) == 1, proc.stdout[-3000:]
    assert not (tmp_path / ".smallcut").exists()  # nothing left behind in the working folder
