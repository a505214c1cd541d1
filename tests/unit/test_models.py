"""Model acquisition: checksum, symbolic dims, resolution order."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from workers.engine import models


def test_cached_u2netp_has_symbolic_dims_and_right_checksum():
    from smallcut.settings import Settings

    s = Settings()
    spec, path = models.resolve("u2netp", s.model_dir)
    assert models.md5sum(s.model_dir / spec.filename) == "8e83ca70e441ab06c318d82300c84806"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    assert shape[0] == "N" and shape[2] == "H" and shape[3] == "W"
    out = sess.run(None, {sess.get_inputs()[0].name: np.zeros((2, 3, 96, 128), np.float32)})[0]
    assert out.shape == (2, 1, 96, 128)


def test_fetch_refuses_a_wrong_checksum(tmp_path):
    src = tmp_path / "fake.onnx"
    src.write_bytes(b"not a model")
    spec = models.ModelSpec(name="fake", filename="fake.onnx", md5="0" * 32, source=f"file://{src}")
    with pytest.raises(models.ModelError, match="checksum mismatch"):
        models.fetch(spec, tmp_path / "cache")
    assert not (tmp_path / "cache" / "fake.onnx").exists()


def test_fetch_from_file_source_verifies_and_makes_symbolic(tmp_path):
    from smallcut.settings import Settings

    original = Settings().model_dir / "u2netp.onnx"
    spec = models.ModelSpec(name="copy", filename="copy.onnx", md5=models.md5sum(original), source=f"file://{original}")
    path = models.fetch(spec, tmp_path)
    assert path.name == "copy.dyn.onnx" and path.exists()
    spec2, path2 = models.resolve("copy", tmp_path)
    assert path2 == path


def test_resolve_prefers_explicit_path_and_reports_missing(tmp_path):
    with pytest.raises(models.ModelError, match="does not exist"):
        models.resolve("u2netp", tmp_path, model_path=tmp_path / "nope.onnx")
    with pytest.raises(models.ModelError, match="smallcut models fetch"):
        models.resolve("u2netp", tmp_path, auto_fetch=False)
    with pytest.raises(models.ModelError, match="no download source"):
        models.resolve("u2net", tmp_path)


def test_committed_variants_load_by_name_from_a_fresh_checkout(tmp_path):
    """Registry entries shipped in the package need no download: fetch copies, checks, runs."""
    committed = [s for s in models.REGISTRY.values() if s.source and s.source.startswith("package:")]
    assert {s.name for s in committed} >= {"u2netp_cbam", "u2netp_fpn"}
    for spec in committed:
        assert spec.md5, f"{spec.name} has no checksum"
        spec_got, path = models.resolve(spec.name, tmp_path)  # empty cache: fetched from the checkout
        assert spec_got is spec and models.md5sum(tmp_path / spec.filename) == spec.md5
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        out = sess.run(None, {sess.get_inputs()[0].name: np.zeros((2, 3, 96, 128), np.float32)})[0]
        assert out.shape == (2, 1, 96, 128) and np.isfinite(out).all()


def test_a_wrong_repo_relative_source_says_what_is_missing(tmp_path):
    spec = models.ModelSpec(name="gone", filename="gone.onnx", md5=None, source="file:models/no-such-file.onnx")
    with pytest.raises(models.ModelError, match="missing from this checkout"):
        models.fetch(spec, tmp_path)


def test_a_missing_package_resource_says_so(tmp_path):
    spec = models.ModelSpec(name="gone", filename="gone.onnx", md5=None, source="package:weights/no-such-file.onnx")
    with pytest.raises(models.ModelError, match="missing from the installed package"):
        models.fetch(spec, tmp_path)


def test_an_installed_wheel_carries_the_retrained_models(tmp_path):
    """A non-editable install (what a Docker image or `pip install smallcut` has) finds the retrained
    networks inside the package, with no checkout beside it."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    src, site = tmp_path / "src", tmp_path / "site"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    for pkg in ("smallcut", "workers", "producer"):
        shutil.copytree(root / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(src)],
                         capture_output=True, text=True, timeout=600)
    if pip.returncode != 0 and "Could not find a version" in pip.stderr:
        pytest.skip(f"no build backend reachable to build the wheel: {pip.stderr.strip()[-200:]}")
    assert pip.returncode == 0, pip.stderr
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from workers.engine import models\n"
        "print(models.__file__)\n"
        "for name in ('u2netp_cbam', 'u2netp_fpn'):\n"
        f"    print(models.fetch(models.REGISTRY[name], Path({str(tmp_path / 'cache')!r})))\n"
    )
    elsewhere = tmp_path / "elsewhere"  # no checkout in the working directory either
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=elsewhere,
                          env={**__import__("os").environ, "PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    where, *fetched = proc.stdout.split()
    assert where.startswith(str(site)), where  # the installed copy, not this checkout
    assert [Path(p).name for p in fetched] == ["u2netp_cbam.dyn.onnx", "u2netp_fpn.dyn.onnx"]
    for name in ("u2netp_cbam", "u2netp_fpn"):
        for suffix in (".onnx", ".json", ".yaml"):  # the weights with their training config and numbers
            assert (site / "workers" / "engine" / "weights" / f"{name}{suffix}").is_file()


def test_cutout_runs_a_committed_variant_by_name(tmp_path):
    import os
    import subprocess
    import sys

    import cv2

    from tests.conftest import ecssd_image, ecssd_mask

    env = {**os.environ, "SMALLCUT_MODEL_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "smallcut.cli", "cutout", str(ecssd_image(801)), "--out", str(out), "--mask-only", "--model", "u2netp_fpn", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cache" / "u2netp_fpn.onnx").exists()  # fetched from the checkout into the cache
    mask = cv2.imread(str(out / "0801.png"), cv2.IMREAD_GRAYSCALE) > 127
    gt = cv2.imread(str(ecssd_mask(801)), cv2.IMREAD_GRAYSCALE) > 127
    assert (mask & gt).sum() / (mask | gt).sum() > 0.5  # it cuts out the photo's subject
