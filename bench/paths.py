"""Where the bench reads data and writes results (relative to the repository, never absolute)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def ecssd_dir() -> Path:
    """ECSSD lives beside the repository (`<repo>/../shared/data/ecssd`); BENCH_ECSSD_DIR overrides."""
    env = os.environ.get("BENCH_ECSSD_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data" / "ecssd"
