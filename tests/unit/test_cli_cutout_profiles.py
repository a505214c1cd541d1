"""`smallcut cutout --profile` through the real entry point and the real engine."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import numpy as np
from PIL import Image

from smallcut import samples
from smallcut.profiles import PRESETS
from workers import render


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smallcut.cli", "cutout", "--no-progress", *args],
                          capture_output=True, text=True, timeout=600)


def test_amazon_main_on_the_demo_samples(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    demo = samples.generate()
    for name, data in demo:
        (src / name).write_bytes(data)
    out = tmp_path / "out"
    proc = _run(str(src), "--out", str(out), "--profile", "amazon-main", "--profile", "default", "--profile", "zip")
    assert proc.returncode == 0, proc.stderr
    for name, _ in demo:
        stem = name.rsplit(".", 1)[0]
        jpg = Image.open(out / "amazon-main" / f"{stem}.jpg")
        assert (jpg.format, jpg.mode) == ("JPEG", "RGB") and jpg.size[0] == jpg.size[1] >= 1000
        # the product's share, from the engine's own alpha for this frame (the JPEG carries no alpha)
        rgba = np.asarray(Image.open(out / f"{stem}.png"))
        assert rgba.shape[2] == 4  # the default profile: today's RGBA at today's path
        with zipfile.ZipFile(out / "zip" / f"{stem}.zip") as zf:
            assert Image.open(io.BytesIO(zf.read("alpha.png"))).size == rgba.shape[1::-1]
        lay = render.layout(rgba.shape[1::-1], render.product_box(rgba[..., 3]), PRESETS["amazon-main"])
        placed = render.product_box(render.place(rgba, lay)[..., 3])
        assert abs(max(placed.w, placed.h) / jpg.size[0] - 0.85) <= 0.01, name
        px = np.asarray(jpg)
        clear = render.place(rgba, lay)[..., 3] == 0
        # white background: JPEG rounds, so within a few levels away from the product's edge
        assert np.percentile(px[clear], 1) >= 250, name


def test_split_objects_and_bad_profile(tmp_path):
    name, data = samples.generate()[1]  # a pair of earrings
    path = tmp_path / name
    path.write_bytes(data)
    out = tmp_path / "out"
    proc = _run(str(path), "--out", str(out), "--profile", "name=each,crop=true,crop_margin=10%,format=webp",
                "--split-objects")
    assert proc.returncode == 0, proc.stderr
    stem = name.rsplit(".", 1)[0]
    written = sorted(p.name for p in (out / "each").iterdir())
    assert written == [f"{stem}-1.webp", f"{stem}-2.webp"]
    for w in written:
        assert Image.open(out / "each" / w).mode == "RGBA"
    bad = _run(str(path), "--out", str(out), "--profile", "name=x,scale=5")
    assert bad.returncode == 2 and "scale:" in bad.stderr
