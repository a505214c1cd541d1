"""Photos for the tests: ECSSD when it sits beside the repository, else small generated stand-ins.

A fresh clone has no `../shared/data/ecssd`. Tests that only need "a photo of one salient subject
with its mask" get a generated one instead: a shaded object (bottle, mug, fruit, vase) with a soft
floor shadow on a blurred two-tone backdrop, 400x300 like an ECSSD frame, written once per process
as NNNN.jpg / NNNN.png so file names match the ECSSD ones. numpy + PIL only, deterministic per number.

BENCH_ECSSD_DIR moves (or, pointed at a missing folder, hides) the data set, exactly as for bench/.
Tests that need the real data set itself (its statistics, the bench sets drawn from it) use
`needs_ecssd`, which skips with the reason.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from bench.paths import ecssd_dir

SIZE = (400, 300)


def have_ecssd() -> bool:
    return (ecssd_dir() / "images").is_dir() and (ecssd_dir() / "masks").is_dir()


needs_ecssd = pytest.mark.skipif(not have_ecssd(), reason="needs the ECSSD data set (../shared/data/ecssd or BENCH_ECSSD_DIR)")


def photo_path(n: int) -> Path:
    if have_ecssd():
        return ecssd_dir() / "images" / f"{n:04d}.jpg"
    return _generated(n)[0]


def mask_path(n: int) -> Path:
    if have_ecssd():
        return ecssd_dir() / "masks" / f"{n:04d}.png"
    return _generated(n)[1]


@lru_cache(maxsize=1)
def _folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="smallcut-test-photos-"))


@lru_cache(maxsize=None)
def _generated(n: int) -> tuple[Path, Path]:
    rgb, mask = render(n)
    img, msk = _folder() / "images" / f"{n:04d}.jpg", _folder() / "masks" / f"{n:04d}.png"
    img.parent.mkdir(parents=True, exist_ok=True)
    msk.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(img, "JPEG", quality=92)
    Image.fromarray(mask).save(msk)
    return img, msk


# ---------------------------------------------------------------------- the generator
def _silhouette(kind: str, rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """An 'L' mask of one object, 30-45 % of the frame's height or more, roughly centred."""
    m = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(m)
    cx, cy = w * rng.uniform(0.42, 0.58), h * rng.uniform(0.48, 0.58)
    s = min(w, h) * rng.uniform(0.55, 0.7)
    if kind == "bottle":
        d.rounded_rectangle((cx - s * 0.22, cy - s * 0.2, cx + s * 0.22, cy + s * 0.5), radius=s * 0.1, fill=255)
        d.rectangle((cx - s * 0.08, cy - s * 0.5, cx + s * 0.08, cy - s * 0.15), fill=255)
    elif kind == "mug":
        d.rounded_rectangle((cx - s * 0.35, cy - s * 0.35, cx + s * 0.2, cy + s * 0.4), radius=s * 0.06, fill=255)
        d.ellipse((cx + s * 0.08, cy - s * 0.2, cx + s * 0.45, cy + s * 0.2), fill=255)
        d.ellipse((cx + s * 0.18, cy - s * 0.1, cx + s * 0.35, cy + s * 0.1), fill=0)
    elif kind == "fruit":
        d.ellipse((cx - s * 0.42, cy - s * 0.38, cx + s * 0.42, cy + s * 0.42), fill=255)
        d.polygon([(cx - s * 0.03, cy - s * 0.36), (cx + s * 0.04, cy - s * 0.36), (cx + s * 0.1, cy - s * 0.55),
                   (cx + s * 0.05, cy - s * 0.56)], fill=255)
    else:  # vase
        d.ellipse((cx - s * 0.35, cy - s * 0.1, cx + s * 0.35, cy + s * 0.5), fill=255)
        d.polygon([(cx - s * 0.12, cy - s * 0.45), (cx + s * 0.12, cy - s * 0.45), (cx + s * 0.3, cy + s * 0.1),
                   (cx - s * 0.3, cy + s * 0.1)], fill=255)
    return m


def render(n: int, size: tuple[int, int] = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB photo, uint8 mask 0/255) for photo number n."""
    rng = np.random.default_rng(1000 + n)
    w, h = size
    kind = ("bottle", "mug", "fruit", "vase")[n % 4]
    hue = rng.uniform(0, 1)
    # backdrop: a wall and a floor of muted colours, out of focus
    wall = rng.uniform(150, 225, 3)
    floor = wall * rng.uniform(0.7, 0.9, 3)
    horizon = int(h * rng.uniform(0.6, 0.75))
    t = np.linspace(0, 1, h)[:, None, None]
    bg = np.where(np.arange(h)[:, None, None] < horizon, wall * (1 - 0.15 * t), floor * (0.9 + 0.1 * t))
    bg = np.broadcast_to(bg, (h, w, 3)).astype(np.float32)
    bg += rng.normal(0, 6, (h // 8 + 1, w // 8 + 1, 1)).repeat(8, 0).repeat(8, 1)[:h, :w]
    bg = np.asarray(Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(3)), np.float32)
    mask_img = _silhouette(kind, rng, w, h)
    mask = np.asarray(mask_img) > 127
    # floor shadow: the silhouette squashed, offset and blurred
    shadow = np.asarray(mask_img.filter(ImageFilter.GaussianBlur(9)), np.float32) / 255.0
    shadow = np.roll(shadow, (int(h * 0.03), int(w * 0.04)), (0, 1)) * 0.35
    bg *= (1 - shadow)[..., None]
    # the object: a saturated colour lit from the top left, with a specular highlight
    base = np.array(_hsv(hue, rng.uniform(0.55, 0.9), rng.uniform(0.55, 0.85)), np.float32) * 255
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ys, xs = np.nonzero(mask)
    cy, cx, r = ys.mean(), xs.mean(), max(np.ptp(ys), np.ptp(xs)) / 2
    light = 1.15 - 0.6 * np.clip(((xx - cx + 0.4 * r) ** 2 + (yy - cy + 0.4 * r) ** 2) ** 0.5 / (1.6 * r), 0, 1)
    spec = np.exp(-(((xx - cx + 0.35 * r) ** 2 + (yy - cy + 0.3 * r) ** 2) / (2 * (0.08 * r) ** 2)))
    obj = np.clip(base * light[..., None] + 120 * spec[..., None] + rng.normal(0, 3, (h, w, 3)), 0, 255)
    soft = np.asarray(mask_img.filter(ImageFilter.GaussianBlur(0.8)), np.float32)[..., None] / 255.0
    rgb = np.clip(obj * soft + bg * (1 - soft), 0, 255).astype(np.uint8)
    return rgb, (mask * 255).astype(np.uint8)


def _hsv(hh: float, s: float, v: float) -> tuple[float, float, float]:
    import colorsys

    return colorsys.hsv_to_rgb(hh, s, v)
