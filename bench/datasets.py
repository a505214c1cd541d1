"""The benchmark sets as one stream of items: synthetic composites (small objects), plain ECSSD
photos with their masks (large objects: the no-regression check), and the catalog families in the
shared catalog format (bench.catalog_format): `catalog-judge` (bench.judge, the family the engine
is judged on), `catalog-tune` (bench.tune, the family it is tuned on) and `catalog-tune2`,
`catalog-tune3`, `catalog-tune4`, `catalog-tune5` (its other draws, `bench.tune --draw 2|3|4|5`: studio sweeps and
deeper shadows; also veined stone; also hard light; also dark products)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import catalog_format, synth
from .paths import ecssd_dir

CATALOG_SETS = ("catalog-judge", "catalog-tune", "catalog-tune2", "catalog-tune3", "catalog-tune4", "catalog-tune5")
MAX_DRAWN = 4000  # most frames a tuning draw grows to when a --backgrounds selection asks for more of its backdrops
SETS = ("synth-dev", "synth-dev2", "synth-eval", "ecssd-dev", "ecssd-eval") + CATALOG_SETS


@dataclass
class Item:
    name: str
    rgb: np.ndarray  # uint8 H x W x 3, as the method sees it (decoded JPEG)
    alpha: np.ndarray  # ground truth uint8 H x W
    objects: list[dict]  # id, bbox [x, y, w, h], area_frac, kind
    background: str  # the backdrop's kind
    shadow: np.ndarray | None = None  # uint8 H x W: where shadows and reflections change the backdrop (catalog sets)
    effects: tuple[str, ...] = ()
    backdrop: dict = field(default_factory=dict)  # the backdrop's kind and parameters
    twin: str | None = None  # the same frame without shadows and reflections
    twin_of: str | None = None  # this is the clean twin of that frame


def _build_catalog(set_name: str, frames: int = 0) -> Path:
    """The catalog set, drawn where it is missing, with at least `frames` frames (the tuning family's)."""
    d = catalog_format.set_dir(set_name)
    if set_name == "catalog-judge":
        from . import judge

        return judge.build_set(d)
    try:
        tune = importlib.import_module("bench.tune")
    except ModuleNotFoundError as e:
        if e.name in ("bench.tune",):
            raise SystemExit("set catalog-tune needs the tuning family's generator (package bench.tune), which is not in this checkout") from e
        raise
    tune.build_set(d, n=max(200, frames), draw=int(set_name.removeprefix("catalog-tune") or 1))
    return d


def names(set_name: str, limit: int | None = None, backgrounds: tuple[str, ...] | None = None, twins: bool = False,
          skip: int = 0) -> list[str]:
    """The set's sample names (`limit` of them after the first `skip`), only those on one of `backgrounds` when given
    (synthetic sets: gradient, fabric, wood, photo; ECSSD frames are all `photo`; catalog sets: the
    backdrop kinds of bench.catalog_format). Catalog twins (`-clean`) come only with `twins`, each
    right after its frame, on top of the `limit` frames."""
    if set_name.startswith("synth-"):
        d = synth.build_set(set_name)
        out = synth.list_samples(d)
        if backgrounds:
            out = [n for n in out if synth.load_meta(d, n)["background"]["kind"] in backgrounds]
    elif set_name.startswith("ecssd-"):
        out = [f"{i:04d}" for i in synth.split_ids(set_name[6:])] if not backgrounds or "photo" in backgrounds else []
    elif set_name in CATALOG_SETS:
        want = drawn = skip + (limit or 0)
        while True:
            d = _build_catalog(set_name, drawn)
            metas = {n: catalog_format.load_meta(d, n) for n in catalog_format.list_samples(d)}
            frames = [n for n, m in metas.items() if not m.get("twin_of") and (not backgrounds or m["background"]["kind"] in backgrounds)]
            # the tuning family is drawn on demand: when only some backdrops are asked for, the
            # first `want` frames hold fewer of them, so more are drawn (the judge family is fixed)
            grown = len([n for n, m in metas.items() if not m.get("twin_of")])
            if not (backgrounds and limit) or len(frames) >= want or set_name == "catalog-judge" or grown < drawn or drawn >= MAX_DRAWN:
                break
            drawn = min(MAX_DRAWN, 2 * max(drawn, grown))
        frames = frames[skip:]
        frames = frames[:limit] if limit else frames
        if not twins:
            return frames
        return [x for n in frames for x in ([n, metas[n]["twin"]] if metas[n].get("twin") in metas else [n])]
    else:
        raise ValueError(f"unknown set {set_name!r}: one of {', '.join(SETS)}")
    out = out[skip:]
    return out[:limit] if limit else out


def load(set_name: str, name: str) -> Item:
    if set_name.startswith("synth-"):
        rgb, alpha, _, meta = synth.load_sample(synth.set_dir(set_name), name)
        return Item(name, rgb, alpha, meta["objects"], meta["background"]["kind"], backdrop=meta["background"])
    if set_name in CATALOG_SETS:
        rgb, alpha, shadow, meta = catalog_format.load_sample(catalog_format.set_dir(set_name), name)
        bg = meta["background"]
        return Item(name, rgb, alpha, meta["objects"], bg["kind"], shadow=shadow, effects=tuple(meta["effects"]), backdrop=bg,
                    twin=meta.get("twin"), twin_of=meta.get("twin_of"))
    root = ecssd_dir()
    rgb = cv2.cvtColor(cv2.imread(str(root / "images" / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(root / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    alpha = np.where(alpha > 127, 255, 0).astype(np.uint8)
    ys, xs = np.nonzero(alpha)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)] if len(xs) else [0, 0, alpha.shape[1], alpha.shape[0]]
    obj = {"id": 1, "kind": "ecssd", "bbox": bbox, "area_frac": float(np.count_nonzero(alpha)) / alpha.size}
    return Item(name, rgb, alpha, [obj], "photo", backdrop={"kind": "photo"})


def cache_tag(set_name: str) -> str:
    """The set's name for caches of predictions: a generated catalog set adds its generator's
    version and seed, so cached masks of an older draw are never scored against a new one."""
    if set_name in CATALOG_SETS:
        m = catalog_format.read_manifest(catalog_format.set_dir(set_name)) or {}
        parts = [str(m[k]) for k in ("version", "seed") if k in m]
        if "ecssd" in m:
            parts.append("e1" if m["ecssd"] else "e0")
        return "-".join([set_name, *parts])
    return set_name


def items(set_name: str, limit: int | None = None, twins: bool = False) -> Iterator[Item]:
    for n in names(set_name, limit, twins=twins):
        yield load(set_name, n)
