"""Shared fixtures: real photos from ../shared/data/ecssd and one engine per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ECSSD = ROOT.parent / "shared" / "data" / "ecssd"


def ecssd_image(n: int) -> Path:
    return ECSSD / "images" / f"{n:04d}.jpg"


def ecssd_mask(n: int) -> Path:
    return ECSSD / "masks" / f"{n:04d}.png"


@pytest.fixture(scope="session")
def engine():
    from smallcut.settings import Settings
    from workers.engine import Engine

    return Engine.from_settings(Settings(providers=["CPUExecutionProvider"], intra_op_threads=2))
