"""Shared fixtures: test photos (ECSSD beside the repo, else generated ones) and one engine per session."""

from __future__ import annotations

from pathlib import Path

import pytest

import numpy as np

from bench import catalog_format
from bench.paths import ecssd_dir
from tests import photos

ROOT = Path(__file__).resolve().parents[1]
ECSSD = ecssd_dir()  # may be missing (a fresh clone): see tests/photos.py


def ecssd_image(n: int) -> Path:
    """ECSSD photo n, or a generated photo of one salient object under the same name when ECSSD is absent."""
    return photos.photo_path(n)


def ecssd_mask(n: int) -> Path:
    """The mask matching ecssd_image(n)."""
    return photos.mask_path(n)


@pytest.fixture(scope="session")
def engine():
    from smallcut.settings import Settings
    from workers.engine import Engine

    return Engine.from_settings(Settings(providers=["CPUExecutionProvider"], intra_op_threads=2))


@pytest.fixture
def small_ecssd(monkeypatch) -> dict:
    """DataConfig id ranges for the training tests: ECSSD 0001-0004 / 0761-0762, the real photos when
    the data set is there, else the generated stand-ins under the same names (BENCH_ECSSD_DIR points
    at them for the test)."""
    if not photos.have_ecssd():
        for n in (1, 2, 3, 4, 761, 762):
            folder = photos.photo_path(n).parents[1]
        monkeypatch.setenv("BENCH_ECSSD_DIR", str(folder))
    return {"train_ids": (1, 4), "val_ids": (761, 762)}


def _catalog_frame(index: int, w: int = 240, h: int = 180) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """A small catalog-format frame: a textured backdrop, one product with a shadow beside it."""
    rng = np.random.default_rng(index)
    rgb = (rng.integers(90, 140, (h, w, 3))).astype(np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    x, y, s = 60 + 10 * index, 50, 30
    alpha[y : y + s, x : x + s] = 255
    rgb[alpha > 0] = (200, 40, 40)
    shadow = np.zeros((h, w), np.uint8)
    shadow[y + s : y + s + 12, x : x + s + 12] = 255
    rgb[shadow > 0] //= 2
    meta = {"version": catalog_format.FORMAT_VERSION, "family": "catalog-tune", "name": f"tune-{index:04d}", "size": [w, h],
            "background": {"kind": "paper"}, "effects": ["contact-shadow", "jpeg"], "jpeg_quality": 95, "twin": None,
            "twin_of": None, "objects": [{"id": 1, "kind": "button", "bbox": [x, y, s, s], "area_frac": s * s / (w * h), "pair": False}]}
    return rgb, alpha, shadow, meta


@pytest.fixture
def catalog_dir(tmp_path):
    """A catalog-tune set of three small frames (tune-0000..0002) for the training tests."""
    d = tmp_path / "catalog-tune"
    for i in range(3):
        rgb, a, s, meta = _catalog_frame(i)
        catalog_format.write_sample(d, meta["name"], rgb, a, s, meta)
    return d
