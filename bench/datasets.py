"""The benchmark sets as one stream of items: synthetic composites (small objects) and plain ECSSD
photos with their masks (large objects: the no-regression check)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from . import synth
from .paths import ecssd_dir

SETS = ("synth-dev", "synth-dev2", "synth-eval", "ecssd-dev", "ecssd-eval")


@dataclass
class Item:
    name: str
    rgb: np.ndarray  # uint8 H x W x 3, as the method sees it (decoded JPEG)
    alpha: np.ndarray  # ground truth uint8 H x W
    objects: list[dict]  # id, bbox [x, y, w, h], area_frac, kind
    background: str


def names(set_name: str, limit: int | None = None, backgrounds: tuple[str, ...] | None = None) -> list[str]:
    """The set's sample names (its first `limit`), only those on one of `backgrounds` when given
    (synthetic sets: gradient, fabric, wood, photo; ECSSD frames are all `photo`)."""
    if set_name.startswith("synth-"):
        d = synth.build_set(set_name)
        out = synth.list_samples(d)
        if backgrounds:
            out = [n for n in out if synth.load_meta(d, n)["background"]["kind"] in backgrounds]
    elif set_name.startswith("ecssd-"):
        out = [f"{i:04d}" for i in synth.split_ids(set_name[6:])] if not backgrounds or "photo" in backgrounds else []
    else:
        raise ValueError(f"unknown set {set_name!r}: one of {', '.join(SETS)}")
    return out[:limit] if limit else out


def load(set_name: str, name: str) -> Item:
    if set_name.startswith("synth-"):
        rgb, alpha, _, meta = synth.load_sample(synth.set_dir(set_name), name)
        return Item(name, rgb, alpha, meta["objects"], meta["background"]["kind"])
    root = ecssd_dir()
    rgb = cv2.cvtColor(cv2.imread(str(root / "images" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(root / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    alpha = np.where(alpha > 127, 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(alpha)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)] if len(xs) else [0, 0, alpha.shape[1], alpha.shape[0]]
    obj = {"id": 1, "kind": "ecssd", "bbox": bbox, "area_frac": float(np.count_nonzero(alpha)) / alpha.size}
    return Item(name, rgb, alpha, [obj], "photo")


def items(set_name: str, limit: int | None = None) -> Iterator[Item]:
    for n in names(set_name, limit):
        yield load(set_name, n)
