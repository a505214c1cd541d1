"""Training crops from catalog-tune frames, at the sizes the engine runs the network.

The frames are bench.tune's (frames 0-239 only: 240-299 are the tuning family's check), read from
the cached set on disk (`bench/out/sets/catalog-tune`, built by `python -m bench.tune --n 300`, and
for the other draws `catalog-tuneN` beside it, `--draw N`); a frame that is not there yet is
rendered once and written there. The target is the product alpha
only: shadows and reflections are background, as in the set's ground truth.

What the engine feeds the network, and what a crop here reproduces:

- `frame`: the whole frame squashed to a square (the coarse pass, `coarse_size` 320);
- `tile`: one box of the detection grid (`tiling.tile_boxes` with `tiling.grid_for`), squashed to
  `detect_tile` (256);
- `object`: a square zoom crop around a product with a margin, at a zoom size (160 or 224);
- `empty`: a square crop with no product in it (often on a shadow or reflection), target all zero:
  the network learns to say "nothing here".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import catalog_format
from workers.engine import tiling
from workers.engine.resample import resize

LAST_TRAINING_FRAME = 239  # 240-299: the tuning check (bench.quality --set catalog-tune --skip 240)
CROPS = ("frame", "tile", "object", "empty")


def frame_ids(span: tuple[int, int]) -> list[int]:
    lo, hi = span
    if lo < 0 or hi > LAST_TRAINING_FRAME:
        raise ValueError(f"catalog-tune frames {span} leave 0-{LAST_TRAINING_FRAME}: 240-299 are the tuning check")
    return list(range(lo, hi + 1))


def parse_frames(text: str) -> list[int]:
    """Frame indices for the classifier trainers: `N` (frames 0..N-1) or ranges `a-b,c-d` (end
    excluded). The tuning check's frames (LAST_TRAINING_FRAME+1 .. 299) are refused."""
    out: list[int] = []
    for part in text.split(","):
        a, sep, b = part.strip().partition("-")
        out += range(int(a), int(b)) if sep else range(int(a))
    check = sorted(set(out) & set(range(LAST_TRAINING_FRAME + 1, 300)))
    if check:
        raise ValueError(f"catalog-tune frames {check[0]}-{check[-1]} are the tuning check: train on 0-{LAST_TRAINING_FRAME} or 300 on")
    return out


def set_dir(override: str | None = None, draw: int = 1) -> Path:
    """The folder of draw `draw`'s frames: bench.tune's set, or with `override` (the first draw's
    folder) its sibling of the same name (catalog-tune2 beside catalog-tune)."""
    from bench.tune.build import DRAWS, set_name

    if draw not in DRAWS:
        raise ValueError(f"catalog draw {draw}: bench.tune draws are {sorted(DRAWS)}")
    first = Path(override) if override else catalog_format.set_dir("catalog-tune")
    return first if draw == 1 else first.parent / set_name(draw)


def load_frame(index: int, d: Path, draw: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(RGB, alpha, shadow, meta) of frame `index` of draw `draw`, rendered and cached when it is not on disk."""
    name = f"tune-{index:04d}"
    if not catalog_format.paths(d, name)["meta"].exists():
        from bench.tune import build

        rgb, a, s, meta = build.render(index, draw=draw)
        catalog_format.write_sample(d, name, rgb, a, s, meta)
    return catalog_format.load_sample(d, name)


def _square(cx: float, cy: float, side: int, w: int, h: int) -> tuple[int, int, int]:
    """A square of `side` centred near (cx, cy), moved inside the frame (side capped at the frame)."""
    side = int(max(8, min(side, w, h)))
    x0 = int(np.clip(round(cx - side / 2), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2), 0, h - side))
    return x0, y0, side


def object_box(rng: np.random.Generator, alpha: np.ndarray, meta: dict) -> tuple[int, int, int, int] | None:
    """A zoom crop around one product: its box grown by 25-60 % per side, shifted a little."""
    objects = meta["objects"]
    if not objects:
        return None
    x, y, bw, bh = objects[int(rng.integers(len(objects)))]["bbox"]
    side = max(bw, bh) * (1 + 2 * rng.uniform(0.25, 0.6))
    cx = x + bw / 2 + rng.uniform(-0.15, 0.15) * side
    cy = y + bh / 2 + rng.uniform(-0.15, 0.15) * side
    h, w = alpha.shape
    x0, y0, s = _square(cx, cy, int(side), w, h)
    return x0, y0, x0 + s, y0 + s


def empty_box(rng: np.random.Generator, alpha: np.ndarray, shadow: np.ndarray, sizes: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """A square without any product pixel: half the time on a shadow or reflection when there is one."""
    h, w = alpha.shape
    shaded = np.flatnonzero(shadow[::4, ::4] > 64)
    for _ in range(30):
        side = int(rng.uniform(0.6, 2.5) * sizes[int(rng.integers(len(sizes)))])
        if shaded.size and rng.random() < 0.5:
            i = int(shaded[int(rng.integers(shaded.size))])
            cy, cx = (i // shadow[::4, ::4].shape[1]) * 4, (i % shadow[::4, ::4].shape[1]) * 4
        else:
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        x0, y0, s = _square(cx, cy, side, w, h)
        if not alpha[y0 : y0 + s, x0 : x0 + s].any():
            return x0, y0, x0 + s, y0 + s
    return None


def crop(rng: np.random.Generator, frames: list[int], kind: str, size: int, d: Path,
         zoom_sizes: tuple[int, ...], draw: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(RGB size x size x 3, target size x size in [0, 1]) of one crop of `kind` from a random frame
    of draw `draw` (its frames in `d`)."""
    if kind not in CROPS:
        raise ValueError(f"crop kind must be one of {CROPS}, not {kind!r}")
    for _ in range(8):
        rgb, alpha, shadow, meta = load_frame(frames[int(rng.integers(len(frames)))], d, draw)
        h, w = alpha.shape
        if kind == "frame":
            box = (0, 0, w, h)
        elif kind == "tile":
            boxes = tiling.tile_boxes(w, h, tiling.grid_for(h, w))
            b = boxes[int(rng.integers(len(boxes)))]
            box = (b.x0, b.y0, b.x1, b.y1)
        elif kind == "object":
            box = object_box(rng, alpha, meta)
        else:
            box = empty_box(rng, alpha, shadow, zoom_sizes)
        if box is not None:
            break
    else:
        raise RuntimeError(f"no {kind} crop found in 8 frames of {d}")
    x0, y0, x1, y1 = box
    img = resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), (size, size))
    target = resize(np.ascontiguousarray(alpha[y0:y1, x0:x1]), (size, size)).astype(np.float32) / 255.0
    if rng.random() < 0.5:
        img, target = img[:, ::-1], target[:, ::-1]
    return np.ascontiguousarray(img), np.ascontiguousarray(target)
