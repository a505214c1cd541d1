"""Deterministic small-object composites with exact alpha ground truth and per-object instances.

Objects are either ECSSD objects cut with their masks or procedural jewellery/hardware with thin
parts and real holes (bench.shapes), scaled to 0.05-5 % of the frame, 1-4 per image, never
overlapping, pasted on a full ECSSD photo or a procedural texture. The `dev` split draws only on
ECSSD 0001-0800, `eval` only on 0801-1000 (objects and backgrounds alike).

Compositing is done in integers on the quantised alpha, so `composite(fg, bg, alpha)` is exactly
the image that was JPEG-encoded: the ground truth is what was pasted, not an approximation of it.

    python -m bench.synth --set synth-dev [--n 120]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import backgrounds, shapes
from .catalog_format import encode_image, write_atomic
from .paths import OUT, ecssd_dir

VERSION = 1  # bump when the output of `render` changes: cached sets are rebuilt
BASE_SEED = 20240611
DEFAULT_N = 120
SPLITS = {"dev": (1, 800), "eval": (801, 1000)}
FRAMES = ((1600, 1200), (2000, 1500), (1200, 1600))  # (width, height)
AREA_RANGE = (0.0005, 0.05)  # object alpha area / frame area
_SAMPLE_RANGE = (0.0006, 0.045)  # drawn a little inside AREA_RANGE: rounding never leaves it
SUPERSAMPLE = 4  # procedural objects are drawn this much larger, then box-filtered down
MAX_SIDE_FRAC = 0.45  # an object's box side <= this fraction of the frame's shorter side


def window_margin(w: int, h: int) -> int:
    """Margin around an object's box that the per-object metrics look at (shared with metrics)."""
    return max(12, int(round(0.25 * max(w, h))))


def split_ids(split: str) -> list[int]:
    lo, hi = SPLITS[split]
    return list(range(lo, hi + 1))


@dataclass
class Layer:
    rgb: np.ndarray  # uint8 h x w x 3, colour of the object (premultiplied average, so exact)
    alpha: np.ndarray  # uint8 h x w
    meta: dict


@dataclass
class Sample:
    name: str
    image: np.ndarray  # composite RGB uint8 (before JPEG)
    alpha: np.ndarray  # ground truth alpha uint8
    instances: np.ndarray  # uint8 label map: 0 background, k = object k (where its alpha > 0)
    fg: np.ndarray  # RGB uint8 of the pasted objects (meaningless where alpha == 0)
    bg: np.ndarray  # RGB uint8 background
    meta: dict = field(default_factory=dict)


def composite(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Integer alpha blend with rounding: the exact rule the generator uses."""
    a = alpha.astype(np.uint32)[..., None]
    out = (fg.astype(np.uint32) * a + bg.astype(np.uint32) * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _finish(rgb_premult: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float premultiplied colour + float alpha in [0,1] -> uint8 colour, uint8 alpha, tight crop."""
    a8 = np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(a8)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = alpha[y0:y1, x0:x1, None]
    rgb = np.where(a > 0, rgb_premult[y0:y1, x0:x1] / np.maximum(a, 1e-6), 0)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8), a8[y0:y1, x0:x1]


def _procedural(rng: np.random.Generator, target_px: float, max_side: int) -> Layer:
    kind = shapes.KINDS[int(rng.integers(len(shapes.KINDS)))]
    params = shapes.sample_params(kind, rng)
    probe = 256
    _, m = shapes.draw(params, probe)
    fill = max(float(m.sum()), 1.0) / probe**2  # object area per canvas area
    ys, xs = np.nonzero(m)
    extent = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / probe  # box side per canvas side
    side = math.sqrt(target_px / fill)  # canvas side at the final resolution
    side = min(side, max_side / extent)
    side = max(8, int(round(side)))
    ss = SUPERSAMPLE if side <= 640 else max(2, 2560 // side)
    rgb, m = shapes.draw(params, side * ss)
    a = m.astype(np.float32).reshape(side, ss, side, ss).mean(axis=(1, 3))
    pre = (rgb * m[..., None]).reshape(side, ss, side, ss, 3).mean(axis=(1, 3))
    rgb8, a8 = _finish(pre, a)
    return Layer(rgb8, a8, {"source": "procedural", "kind": kind})


def _ecssd_object(rng: np.random.Generator, ids: list[int], target_px: float, max_side: int) -> Layer:
    root = ecssd_dir()
    n = ids[int(rng.integers(len(ids)))]
    img = cv2.cvtColor(cv2.imread(str(root / "images" / f"{n:04d}.jpg")), cv2.COLOR_BGR2RGB)
    mask = cv2.imread(str(root / "masks" / f"{n:04d}.png"), cv2.IMREAD_GRAYSCALE) > 127
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = mask[y0:y1, x0:x1].astype(np.float32)
    pre = img[y0:y1, x0:x1].astype(np.float32) * a[..., None]
    if rng.random() < 0.5:
        a, pre = a[:, ::-1], pre[:, ::-1]
    h, w = a.shape
    scale = math.sqrt(target_px / float(a.sum()))
    scale = min(scale, max_side / max(h, w))
    nw, nh = max(2, int(round(w * scale))), max(2, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    a = np.clip(cv2.resize(np.ascontiguousarray(a), (nw, nh), interpolation=interp), 0, 1)
    pre = cv2.resize(np.ascontiguousarray(pre), (nw, nh), interpolation=interp)
    rgb8, a8 = _finish(pre, a)
    return Layer(rgb8, a8, {"source": "ecssd", "kind": "ecssd", "ecssd_id": n})


def _place(rng: np.random.Generator, boxes: list[tuple[int, int, int, int]], w: int, h: int, W: int, H: int):
    """A random top-left corner where the box and its metric window clear every other window."""
    m = window_margin(w, h)
    for _ in range(300):
        x, y = int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1))
        ok = True
        for bx, by, bw, bh in boxes:
            gap = m + window_margin(bw, bh)
            if x < bx + bw + gap and bx < x + w + gap and y < by + bh + gap and by < y + h + gap:
                ok = False
                break
        if ok:
            return x, y
    return None


def render(split: str, index: int, seed: int = BASE_SEED) -> Sample:
    """Image `index` of a split: a pure function of (split, index, seed)."""
    rng = np.random.default_rng([seed, list(SPLITS).index(split), index])
    ids = split_ids(split)
    W, H = FRAMES[int(rng.integers(len(FRAMES)))]
    frame_px = float(W * H)
    max_side = int(MAX_SIDE_FRAC * min(W, H))

    # background
    r = rng.random()
    if r < 0.4:
        bg_id = ids[int(rng.integers(len(ids)))]
        sigma = float([0.0, 0.0, 2.0, 5.0][int(rng.integers(4))])
        bg = backgrounds.photo(ecssd_dir() / "images" / f"{bg_id:04d}.jpg", W, H, sigma)
        bg_meta = {"kind": "photo", "ecssd_id": bg_id, "blur_sigma": sigma}
    else:
        kind = backgrounds.TEXTURES[int(rng.integers(len(backgrounds.TEXTURES)))]
        bg = backgrounds.texture(kind, rng, W, H)
        bg_meta = {"kind": kind}

    # objects, largest first so that they find room
    count = int(rng.integers(1, 5))
    targets = sorted(np.exp(rng.uniform(*np.log(_SAMPLE_RANGE), count)) * frame_px, reverse=True)
    used = {bg_meta.get("ecssd_id")}
    obj_ids = [i for i in ids if i not in used]
    fg = np.zeros((H, W, 3), np.uint8)
    alpha = np.zeros((H, W), np.uint8)
    inst = np.zeros((H, W), np.uint8)
    boxes: list[tuple[int, int, int, int]] = []
    objects = []
    for target in targets:
        layer = None
        for _ in range(4):  # shrink an object that finds no room
            if rng.random() < 0.5:
                layer = _procedural(rng, target, max_side)
            else:
                layer = _ecssd_object(rng, obj_ids, target, max_side)
            lh, lw = layer.alpha.shape
            pos = _place(rng, boxes, lw, lh, W, H)
            if pos is not None:
                break
            layer = None
            target *= 0.6
        if layer is None or float(layer.alpha.sum()) / 255.0 / frame_px < AREA_RANGE[0]:
            continue
        x, y = pos
        lh, lw = layer.alpha.shape
        k = len(objects) + 1
        sl = (slice(y, y + lh), slice(x, x + lw))
        fg[sl] = layer.rgb
        alpha[sl] = layer.alpha
        inst[sl][layer.alpha > 0] = k
        boxes.append((x, y, lw, lh))
        objects.append(
            {
                "id": k,
                **layer.meta,
                "bbox": [x, y, lw, lh],
                "area_frac": float(layer.alpha.sum()) / 255.0 / frame_px,
            }
        )
    image = composite(fg, bg, alpha)
    name = f"{split}-{index:04d}"
    meta = {"name": name, "split": split, "index": index, "seed": seed, "version": VERSION, "width": W, "height": H, "background": bg_meta, "objects": objects}
    return Sample(name, image, alpha, inst, fg, bg, meta)


# ---------------------------------------------------------------------------------------- on disk
def set_dir(set_name: str, out_root: Path | None = None) -> Path:
    return (out_root or OUT / "data") / set_name


# set -> (split whose ECSSD photos it draws on, seed offset). synth-dev2 is a second draw from the
# development photos: failures to study there generalise without looking at synth-eval's
SETS = {"synth-dev": ("dev", 0), "synth-eval": ("eval", 0), "synth-dev2": ("dev", 1)}


def _split_of(set_name: str) -> str:
    if set_name not in SETS:
        raise ValueError(f"unknown synthetic set {set_name!r} ({', '.join(SETS)})")
    return SETS[set_name][0]


def _prefix(set_name: str) -> str:
    """Sample names' prefix: the split, or the set's own suffix for a second draw (dev2-0007)."""
    return set_name[6:]


def _paths(d: Path, name: str) -> dict[str, Path]:
    return {
        "image": d / "images" / f"{name}.jpg",
        "alpha": d / "alpha" / f"{name}.png",
        "instances": d / "instances" / f"{name}.png",
        "meta": d / "meta" / f"{name}.json",
    }


def run_jobs(fn, jobs: list, workers: int | None = None) -> None:
    """`fn` on every job (a picklable top-level function), in a process pool when there are several
    jobs and cores: how the generators build their sets."""
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            list(ex.map(fn, jobs, chunksize=2))
    else:
        for j in jobs:
            fn(j)


def write_sample(d: Path, s: Sample) -> None:
    p = _paths(d, s.name)
    for key in p:
        p[key].parent.mkdir(parents=True, exist_ok=True)
    # metadata last: its presence marks a complete sample
    write_atomic(p["image"], encode_image(".jpg", cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]))
    write_atomic(p["alpha"], encode_image(".png", s.alpha))
    write_atomic(p["instances"], encode_image(".png", s.instances))
    write_atomic(p["meta"], json.dumps(s.meta, indent=1).encode())


def _build_one(args: tuple[str, str, int, int, str]) -> str:
    d, split, index, seed, prefix = args
    s = render(split, index, seed)
    if prefix != split:
        s.name = s.meta["name"] = f"{prefix}-{index:04d}"
    write_sample(Path(d), s)
    return s.name


def build_set(set_name: str, n: int = DEFAULT_N, out_root: Path | None = None, seed: int = BASE_SEED, workers: int | None = None) -> Path:
    """Generate the set's missing samples (all of them if the generator version or seed changed)."""
    split = _split_of(set_name)
    seed += SETS[set_name][1]
    prefix = _prefix(set_name)
    d = set_dir(set_name, out_root)
    manifest = d / "manifest.json"
    want = {"version": VERSION, "seed": seed, "split": split}
    if manifest.exists():
        have = json.loads(manifest.read_text())
        if any(have.get(k) != v for k, v in want.items()):
            shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    todo = [i for i in range(n) if not all(p.exists() for p in _paths(d, f"{prefix}-{i:04d}").values())]
    if todo:
        run_jobs(_build_one, [(str(d), split, i, seed, prefix) for i in todo], workers)
    names = sorted(p.stem for p in (d / "meta").glob("*.json"))
    write_atomic(manifest, json.dumps({**want, "count": len(names)}, indent=1).encode())
    return d


def list_samples(d: Path, limit: int | None = None) -> list[str]:
    names = sorted(p.stem for p in (d / "meta").glob("*.json"))
    return names[:limit] if limit else names


def load_meta(d: Path, name: str) -> dict:
    """A sample's metadata alone (no pixels): its background, objects and boxes."""
    return json.loads(_paths(d, name)["meta"].read_text())


def load_sample(d: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(image RGB from the JPEG, gt alpha, instance labels, metadata)."""
    p = _paths(d, name)
    img = cv2.cvtColor(cv2.imread(str(p["image"])), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(p["alpha"]), cv2.IMREAD_GRAYSCALE)
    inst = cv2.imread(str(p["instances"]), cv2.IMREAD_GRAYSCALE)
    return img, alpha, inst, json.loads(p["meta"].read_text())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="synth-dev", choices=list(SETS))
    ap.add_argument("--n", type=int, default=DEFAULT_N)
    args = ap.parse_args(argv)
    d = build_set(args.set, args.n)
    print(f"{len(list_samples(d))} samples in {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
