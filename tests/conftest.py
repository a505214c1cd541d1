"""Shared fixtures: test photos (ECSSD beside the repo, else generated ones) and one engine per session."""

from __future__ import annotations

from pathlib import Path

import pytest

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
