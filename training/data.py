"""Training samples: ECSSD photos (normal-size objects), small-object copy-paste composites and
crops of catalog-tune frames (training.catalog) at the sizes the engine runs the network.

Only ECSSD 0001-0800 is ever read here (0801-1000 is the evaluation split of bench/): by default
0001-0760 feed training and 0761-0800 the validation that picks nothing but is reported.

A composite is a square frame at the training size (the engine squashes every frame to a square
for its coarse pass) with 1-4 objects of 0.05-5 % of the frame: ECSSD objects cut with their masks
or bench's procedural jewellery/hardware, on another ECSSD photo or a procedural texture. Its
ground truth is the pasted alpha, exact by construction (bench.synth's integer blend). Every sample
is a pure function of (seed, index), so a resumed run sees the same stream as an uninterrupted one.

With `multiscale` every batch has one of the engine's scales, drawn from (seed, batch number):
`frame` (the whole frame squashed to `frame_size`, the coarse pass), `tile` (`tile_size`, a
detection tile) or `zoom` (one of `zoom_sizes`, a crop around an object or around empty texture).
Each sample of the batch is then a catalog-tune crop at that scale (`catalog_share`), a composite
or a whole ECSSD photo, all at the batch's size. Without it every sample is `size`² as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bench import backgrounds, synth
from bench.paths import ecssd_dir
from workers.engine import net

from . import catalog
from workers.engine.models import REGISTRY

AREA_RANGE = (0.0005, 0.05)


@dataclass(frozen=True)
class DataConfig:
    size: int = 256  # square training frames
    train_ids: tuple[int, int] = (1, 760)
    val_ids: tuple[int, int] = (761, 800)
    composite_share: float = 0.6  # the rest are whole ECSSD photos
    photo_background_share: float = 0.4  # composites on a photo (else on a texture)
    procedural_share: float = 0.4  # pasted objects drawn procedurally (else cut from ECSSD)
    max_objects: int = 4
    jitter: float = 0.15  # brightness/contrast jitter amplitude
    catalog_share: float = 0.0  # catalog-tune crops; of the rest `composite_share` are composites
    catalog_frames: tuple[int, int] = (0, 219)  # catalog-tune frames for training (never 240-299)
    catalog_val_frames: tuple[int, int] = (220, 239)  # and for the reported validation
    catalog_dir: str | None = None  # default: bench/out/sets/catalog-tune (the other draws: catalog-tuneN beside it)
    catalog_draws: tuple[int, ...] = (1,)  # bench.tune draws a catalog crop is taken from, one drawn per crop
    multiscale: bool = False  # per-batch scale (below) instead of `size`
    frame_size: int = 320  # coarse pass: the whole frame squashed
    tile_size: int = 256  # detection tiles
    zoom_sizes: tuple[int, ...] = (160, 224)  # zoom crops
    frame_share: float = 0.3  # batches at frame_size
    tile_share: float = 0.3  # batches at tile_size; the rest at a zoom size
    empty_share: float = 0.3  # catalog zoom crops with no product in them (target all zero)


def ids(span: tuple[int, int]) -> list[int]:
    lo, hi = span
    if lo < 1 or hi > 800:
        raise ValueError(f"ECSSD ids {span} leave 0001-0800: 0801-1000 are for evaluation only")
    return list(range(lo, hi + 1))


def normalise(rgb: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float32 3xHxW exactly as workers.engine.net feeds u2netp (max scaling, ImageNet)."""
    return net.normalise(rgb, REGISTRY["u2netp"])


def read_ecssd(n: int) -> tuple[np.ndarray, np.ndarray]:
    root = ecssd_dir()
    rgb = cv2.cvtColor(cv2.imread(str(root / "images" / f"{n:04d}.jpg")), cv2.COLOR_BGR2RGB)
    mask = cv2.imread(str(root / "masks" / f"{n:04d}.png"), cv2.IMREAD_GRAYSCALE)
    return rgb, mask


def photo_sample(rng: np.random.Generator, pool: list[int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """An ECSSD photo: random crop keeping >= 75 % of each side, random flip, squashed to size²."""
    rgb, mask = read_ecssd(pool[int(rng.integers(len(pool)))])
    h, w = mask.shape
    ch, cw = int(h * rng.uniform(0.75, 1.0)), int(w * rng.uniform(0.75, 1.0))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    rgb, mask = rgb[y0 : y0 + ch, x0 : x0 + cw], mask[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        rgb, mask = rgb[:, ::-1], mask[:, ::-1]
    rgb = cv2.resize(np.ascontiguousarray(rgb), (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(np.ascontiguousarray(mask), (size, size), interpolation=cv2.INTER_AREA)
    return rgb, mask.astype(np.float32) / 255.0


def composite_sample(rng: np.random.Generator, pool: list[int], size: int, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Small objects pasted on a background; the ground truth is exactly what was pasted."""
    if rng.random() < cfg.photo_background_share:
        bg_id = pool[int(rng.integers(len(pool)))]
        sigma = float([0.0, 0.0, 2.0, 5.0][int(rng.integers(4))]) * size / 1600.0  # bench.synth's blur at its frame size
        bg = backgrounds.photo(ecssd_dir() / "images" / f"{bg_id:04d}.jpg", size, size, sigma)
        obj_pool = [i for i in pool if i != bg_id]
    else:
        bg = backgrounds.texture(backgrounds.TEXTURES[int(rng.integers(len(backgrounds.TEXTURES)))], rng, size, size)
        obj_pool = pool
    frame = float(size * size)
    max_side = int(0.45 * size)
    count = int(rng.integers(1, cfg.max_objects + 1))
    targets = sorted(np.exp(rng.uniform(*np.log(AREA_RANGE), count)) * frame, reverse=True)
    fg = np.zeros((size, size, 3), np.uint8)
    alpha = np.zeros((size, size), np.uint8)
    boxes: list[tuple[int, int, int, int]] = []
    for target in targets:
        if rng.random() < cfg.procedural_share:
            layer = synth._procedural(rng, target, max_side)
        else:
            layer = synth._ecssd_object(rng, obj_pool, target, max_side)
        lh, lw = layer.alpha.shape
        if lh >= size or lw >= size:
            continue
        pos = _free_spot(rng, boxes, lw, lh, size)
        if pos is None:
            continue
        x, y = pos
        fg[y : y + lh, x : x + lw] = layer.rgb
        alpha[y : y + lh, x : x + lw] = layer.alpha
        boxes.append((x, y, lw, lh))
    return synth.composite(fg, bg, alpha), alpha.astype(np.float32) / 255.0


def _free_spot(rng: np.random.Generator, boxes: list[tuple[int, int, int, int]], w: int, h: int, size: int):
    for _ in range(50):
        x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        if all(x + w + 2 <= bx or bx + bw + 2 <= x or y + h + 2 <= by or by + bh + 2 <= y for bx, by, bw, bh in boxes):
            return x, y
    return None


def jitter(rng: np.random.Generator, rgb: np.ndarray, amount: float) -> np.ndarray:
    """Brightness/contrast jitter (photometric augmentation; the ground truth does not move)."""
    if amount <= 0:
        return rgb
    c = 1.0 + rng.uniform(-amount, amount)
    b = 255.0 * rng.uniform(-amount, amount) / 2
    mean = float(rgb.mean())
    return np.clip((rgb.astype(np.float32) - mean) * c + mean + b, 0, 255).astype(np.uint8)


KINDS = ("photo", "composite", "catalog")
TUPLE_FIELDS = ("train_ids", "val_ids", "catalog_frames", "catalog_val_frames", "catalog_draws", "zoom_sizes")


def batch_scale(cfg: DataConfig, seed: int, number: int) -> tuple[str, int]:
    """(scale, side) of batch `number`: `frame`, `tile` or `zoom` with `multiscale`, else (frame, size)."""
    if not cfg.multiscale:
        return "frame", cfg.size
    rng = np.random.default_rng([seed, 2, number])
    u = rng.random()
    if u < cfg.frame_share:
        return "frame", cfg.frame_size
    if u < cfg.frame_share + cfg.tile_share:
        return "tile", cfg.tile_size
    return "zoom", int(cfg.zoom_sizes[int(rng.integers(len(cfg.zoom_sizes)))])


def sample(cfg: DataConfig, seed: int, index: int, split: str = "train", scale: tuple[str, int] | None = None,
           kind: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(normalised 3xSxS input, SxS target in [0,1], kind) for sample `index` of `split` at `scale`
    (default: a frame at `size`); `kind` forces photo, composite or catalog (validation per kind)."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, index])
    pool = ids(cfg.train_ids if split == "train" else cfg.val_ids)
    scale_kind, size = scale or ("frame", cfg.size)
    u = rng.random()
    if kind is None:
        rest = (u - cfg.catalog_share) / (1.0 - cfg.catalog_share) if u >= cfg.catalog_share else None
        kind = "catalog" if rest is None else "composite" if rest < cfg.composite_share else "photo"
    if kind == "catalog":
        frames = catalog.frame_ids(cfg.catalog_frames if split == "train" else cfg.catalog_val_frames)
        crop = scale_kind if scale_kind != "zoom" else "empty" if rng.random() < cfg.empty_share else "object"
        # one draw takes no number from the stream: a one-draw config samples what it always did
        draws = cfg.catalog_draws
        draw = draws[int(rng.integers(len(draws)))] if len(draws) > 1 else draws[0]
        rgb, target = catalog.crop(rng, frames, crop, size, catalog.set_dir(cfg.catalog_dir, draw), cfg.zoom_sizes, draw)
    elif kind == "composite":
        rgb, target = composite_sample(rng, pool, size, cfg)
    elif kind == "photo":
        rgb, target = photo_sample(rng, pool, size)
    else:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if split == "train":
        rgb = jitter(rng, rgb, cfg.jitter)
    return normalise(rgb), target, kind


def batch(cfg: DataConfig, seed: int, number: int, n: int, split: str = "train") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Batch `number` (samples number*n ... number*n + n-1), all at the batch's scale."""
    scale = batch_scale(cfg, seed, number)
    xs, ys, kinds = zip(*(sample(cfg, seed, number * n + i, split, scale) for i in range(n)))
    return np.stack(xs), np.stack(ys)[:, None], list(kinds)


def distill_photos(cfg: DataConfig, seed: int, number: int, n: int) -> np.ndarray:
    """`n` whole ECSSD training photos squashed to batch `number`'s side (flip and crop, no jitter):
    the inputs the frozen stock network labels for the distillation term, at every scale the
    student is trained at."""
    pool = ids(cfg.train_ids)
    side = batch_scale(cfg, seed, number)[1]
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, 3, number, i])
        rgb, _ = photo_sample(rng, pool, side)
        out.append(normalise(rgb))
    return np.stack(out)
