"""The catalog-judge family: catalog photographs drawn by a generator of its own (backdrops, products,
shadows, reflections, camera), kept apart from every generator the engine is tuned on.

    python -m bench.judge --n 160 [--no-ecssd] [--sheet]

Frames are written in the shared catalog format (bench.catalog_format) to bench/out/sets/catalog-judge/,
with a `-clean` twin for every frame that has a shadow or a reflection. The set is cached: a run
draws only the frames it lacks, and everything is redrawn when VERSION, the seed or the ECSSD use
changes. Products cut from ECSSD come from its evaluation photos (0801-1000) only; without that data
directory the set is procedural only."""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import catalog_format as fmt
from ..paths import ecssd_dir
from . import objects
from .scene import FAMILY, render

VERSION = 1  # bump when the drawing changes: cached sets are redrawn
BASE_SEED = 20261205
DEFAULT_N = 160
SET_NAME = "catalog-judge"

__all__ = ["VERSION", "BASE_SEED", "DEFAULT_N", "SET_NAME", "FAMILY", "build_set", "render", "ecssd_root"]


def ecssd_root(use: bool | None = None) -> Path | None:
    """The ECSSD directory when it is there and wanted (None: use it when present)."""
    if use is False:
        return None
    root = ecssd_dir()
    if objects.ecssd_available(root):
        return root
    if use:
        raise FileNotFoundError(f"ECSSD photos not found under {root} (set BENCH_ECSSD_DIR, or build without them)")
    return None


def build_set(set_dir: Path | None = None, n: int | None = None, seed: int = BASE_SEED, use_ecssd: bool | None = None, progress=None) -> Path:
    """Draw the frames (and twins) the set lacks; redraw everything when the generator changed.

    `n`: frames wanted; None keeps the count the set was built with (DEFAULT_N for a new set)."""
    d = Path(set_dir) if set_dir else fmt.set_dir(SET_NAME)
    root = ecssd_root(use_ecssd)
    want = {"family": FAMILY, "version": VERSION, "seed": seed, "ecssd": root is not None}
    have = fmt.read_manifest(d)
    if have is not None and any(have.get(k) != v for k, v in want.items()):
        shutil.rmtree(d)
        have = None
    if n is None:
        n = int(have["count"]) if have and "count" in have else DEFAULT_N
    d.mkdir(parents=True, exist_ok=True)
    present = set(fmt.list_samples(d))
    for i in range(n):
        name = f"cj-{i:04d}"
        if name in present and (f"{name}-clean" in present or fmt.load_meta(d, name).get("twin") is None):
            continue
        for fr in render(i, seed, root):
            fmt.write_sample(d, fr.name, fr.rgb, fr.alpha, fr.shadow, fr.meta)
        if progress:
            progress(i + 1, n)
    fmt.write_manifest(d, {**want, "count": n})
    return d
