"""Deterministic catalog-like sample photos for the demo: small objects on studio backgrounds.

Rings with real holes, earrings, buttons with thread holes, screws; gradients, linen, wood and marble
backgrounds with soft shadows. numpy + PIL only, no files shipped: the same seed gives the same bytes.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = (1600, 1200)
SS = 4  # supersampling of object layers (anti-aliased edges)

GOLD = ((120, 85, 20), (250, 215, 120))
SILVER = ((95, 98, 105), (235, 238, 245))
STEEL = ((70, 72, 78), (200, 204, 210))


# ---------------------------------------------------------------------- backgrounds
def studio_gradient(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    w, h = size
    top = rng.uniform(200, 250, 3)
    bottom = top * rng.uniform(0.6, 0.85)
    t = np.linspace(0, 1, h)[:, None, None] ** 1.4
    img = top * (1 - t) + bottom * t
    yy, xx = np.mgrid[0:h, 0:w]
    vignette = 1 - 0.18 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
    return np.clip(img * vignette[..., None] + rng.normal(0, 1.5, (h, w, 3)), 0, 255)


def linen(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    w, h = size
    base = rng.uniform(170, 225, 3)
    weft = rng.normal(0, 1, (h, 1)) * 9 + np.sin(np.arange(h)[:, None] * 1.7) * 3
    warp = rng.normal(0, 1, (1, w)) * 9 + np.sin(np.arange(w)[None, :] * 1.9) * 3
    grain = np.asarray(Image.fromarray(rng.normal(128, 40, (h // 4, w // 4)).clip(0, 255).astype(np.uint8))
                       .resize(size, Image.BICUBIC), np.float32) - 128
    return np.clip(base + (weft + warp + 0.15 * grain)[..., None], 0, 255)


def wood(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = np.asarray(Image.fromarray(rng.normal(128, 60, (h // 40, w // 40)).clip(0, 255).astype(np.uint8))
                      .resize(size, Image.BICUBIC), np.float32) / 255.0
    rings = np.sin((yy / 23.0 + 6.0 * warp + xx / 900.0) * math.pi) * 0.5 + 0.5
    light, dark = np.array([196, 150, 104]), np.array([140, 95, 60])
    img = dark + (light - dark) * rings[..., None] ** 1.5
    return np.clip(img + rng.normal(0, 3, (h, w, 3)), 0, 255)


def marble(rng: np.random.Generator, size=SIZE) -> np.ndarray:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    turb = sum(np.asarray(Image.fromarray(rng.normal(128, 60, (max(2, h // s), max(2, w // s))).clip(0, 255)
                                          .astype(np.uint8)).resize(size, Image.BICUBIC), np.float32) / 255.0 / k
               for s, k in ((200, 1), (60, 2), (15, 4)))
    veins = np.abs(np.sin((xx + yy) / 140.0 + 5.0 * turb)) ** 0.25
    img = 235 - (1 - veins[..., None]) * np.array([60, 62, 70])
    return np.clip(img, 0, 255)


BACKGROUNDS = {"gradient": studio_gradient, "linen": linen, "wood": wood, "marble": marble}


# ---------------------------------------------------------------------- object layers (RGBA, supersampled)
def _metal(shape: tuple[int, int], palette, angle: float, rng: np.random.Generator) -> np.ndarray:
    """A metallic fill: a diagonal highlight band plus fine brushing."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * math.cos(angle) + yy * math.sin(angle)) / max(h, w)
    shine = 0.5 + 0.5 * np.cos(t * 2 * math.pi * 1.5)
    dark, light = np.array(palette[0], np.float32), np.array(palette[1], np.float32)
    img = dark + (light - dark) * shine[..., None] ** 1.6
    return np.clip(img + rng.normal(0, 4, (h, w, 1)), 0, 255)


def _layer(size: int, draw_fn, palette, rng) -> Image.Image:
    """Draw a mask at SS× with draw_fn, fill with metal, downsample: anti-aliased RGBA."""
    big = size * SS
    mask = Image.new("L", (big, big), 0)
    draw_fn(ImageDraw.Draw(mask), big)
    rgb = _metal((big, big), palette, rng.uniform(0, math.pi), rng).astype(np.uint8)
    rgba = Image.fromarray(np.dstack([rgb, np.asarray(mask)]), "RGBA")
    return rgba.resize((size, size), Image.LANCZOS)


def ring(rng, size: int) -> Image.Image:
    def draw(d: ImageDraw.ImageDraw, s: int) -> None:
        band = s * rng.uniform(0.09, 0.14)
        d.ellipse((s * 0.08, s * 0.18, s * 0.92, s * 0.95), fill=255)
        d.ellipse((s * 0.08 + band, s * 0.18 + band, s * 0.92 - band, s * 0.95 - band), fill=0)  # the real hole
        d.ellipse((s * 0.38, s * 0.02, s * 0.62, s * 0.26), fill=255)  # setting
    layer = _layer(size, draw, GOLD if rng.random() < 0.6 else SILVER, rng)
    gem = Image.new("RGBA", layer.size, (0, 0, 0, 0))
    g = ImageDraw.Draw(gem)
    colour = tuple(int(c) for c in rng.choice([(200, 20, 60), (30, 90, 200), (40, 160, 90), (240, 240, 255)]))
    g.ellipse((size * 0.42, size * 0.05, size * 0.58, size * 0.22), fill=(*colour, 255))
    g.ellipse((size * 0.46, size * 0.08, size * 0.51, size * 0.12), fill=(255, 255, 255, 220))
    return Image.alpha_composite(layer, gem)


def hoop_earring(rng, size: int) -> Image.Image:
    def draw(d, s):
        d.ellipse((s * 0.15, s * 0.25, s * 0.85, s * 0.95), fill=255)
        d.ellipse((s * 0.22, s * 0.32, s * 0.78, s * 0.88), fill=0)
        d.rectangle((s * 0.47, s * 0.05, s * 0.53, s * 0.3), fill=255)
        d.ellipse((s * 0.43, s * 0.02, s * 0.57, s * 0.12), fill=255)
    return _layer(size, draw, GOLD if rng.random() < 0.5 else SILVER, rng)


def drop_earring(rng, size: int) -> Image.Image:
    def draw(d, s):
        d.ellipse((s * 0.42, s * 0.02, s * 0.58, s * 0.14), fill=255)
        d.line((s * 0.5, s * 0.1, s * 0.5, s * 0.45), fill=255, width=max(2, int(s * 0.04)))
        d.ellipse((s * 0.3, s * 0.4, s * 0.7, s * 0.95), fill=255)
    return _layer(size, draw, SILVER if rng.random() < 0.5 else GOLD, rng)


def button(rng, size: int) -> Image.Image:
    colour = np.array(rng.choice([(150, 40, 40), (30, 50, 110), (230, 225, 210), (60, 40, 30)]), np.float32)
    big = size * SS
    mask = Image.new("L", (big, big), 0)
    d = ImageDraw.Draw(mask)
    d.ellipse((big * 0.05, big * 0.05, big * 0.95, big * 0.95), fill=255)
    for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1)):  # four thread holes that show the background
        cx, cy, r = big * (0.5 + dx * 0.12), big * (0.5 + dy * 0.12), big * 0.055
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=0)
    yy, xx = np.mgrid[0:big, 0:big].astype(np.float32) / big
    rim = np.hypot(xx - 0.5, yy - 0.5)
    shade = 1.0 - 0.35 * np.clip((rim - 0.3) / 0.15, 0, 1) * (rim < 0.45) + 0.15 * (0.5 - yy)
    rgb = np.clip(colour * shade[..., None] + rng.normal(0, 3, (big, big, 1)), 0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb, np.asarray(mask)]), "RGBA").resize((size, size), Image.LANCZOS)


def screw(rng, size: int) -> Image.Image:
    def draw(d, s):
        d.ellipse((s * 0.3, s * 0.02, s * 0.7, s * 0.18), fill=255)  # head
        d.polygon([(s * 0.42, s * 0.15), (s * 0.58, s * 0.15), (s * 0.56, s * 0.85), (s * 0.5, s * 0.98),
                   (s * 0.44, s * 0.85)], fill=255)
        for y in np.arange(0.22, 0.86, 0.05):  # thread
            d.line((s * 0.4, s * y, s * 0.6, s * (y + 0.025)), fill=255, width=max(2, int(s * 0.015)))
        d.line((s * 0.38, s * 0.1, s * 0.62, s * 0.1), fill=0, width=max(2, int(s * 0.025)))  # slot
    layer = _layer(size, draw, STEEL, rng)
    return layer.rotate(rng.uniform(-60, 60), resample=Image.BICUBIC, expand=False)


OBJECTS = {"ring": ring, "hoop-earring": hoop_earring, "drop-earring": drop_earring, "button": button, "screw": screw}


# ---------------------------------------------------------------------- scenes
def _place(canvas: Image.Image, obj: Image.Image, xy: tuple[int, int], rng, mask: Image.Image | None = None) -> None:
    """Soft contact shadow, then the object (and its alpha into `mask`: the shadow is background)."""
    radius = max(2, obj.size[0] // 14)
    pad = 3 * radius  # room for the blur: a shadow clipped to the object's box shows as a rectangle
    alpha = Image.new("L", (obj.size[0] + 2 * pad, obj.size[1] + 2 * pad), 0)
    alpha.paste(obj.getchannel("A").point(lambda a: int(a * 0.45)), (pad, pad))
    shadow = Image.new("RGBA", alpha.size, (30, 25, 20, 0))
    shadow.putalpha(alpha.filter(ImageFilter.GaussianBlur(radius)))
    off = max(2, obj.size[0] // 18)
    sx, sy = xy[0] + off - pad, xy[1] + off - pad
    box = (max(0, -sx), max(0, -sy), shadow.size[0], shadow.size[1])
    canvas.alpha_composite(shadow, (max(0, sx), max(0, sy)), box)
    canvas.alpha_composite(obj, xy)
    if mask is not None:
        mask.paste(obj.getchannel("A"), xy, obj.getchannel("A"))


SCENES = [
    ("ring-gradient", "gradient", ["ring"]),
    ("earrings-linen", "linen", ["hoop-earring", "hoop-earring"]),
    ("buttons-wood", "wood", ["button", "button", "button"]),
    ("screw-marble", "marble", ["screw"]),
    ("ring-marble", "marble", ["ring"]),
    ("drop-earrings-gradient", "gradient", ["drop-earring", "drop-earring"]),
    ("button-linen", "linen", ["button"]),
    ("screws-gradient", "gradient", ["screw", "screw"]),
]


def scene(name: str, background: str, objects: list[str], seed: int, size=SIZE, with_mask: bool = False):
    """The photo (RGB), or (photo, exact alpha of the objects) with `with_mask`."""
    rng = np.random.default_rng(seed)
    w, h = size
    canvas = Image.fromarray(BACKGROUNDS[background](rng, size).astype(np.uint8)).convert("RGBA")
    mask = Image.new("L", size, 0) if with_mask else None
    n = len(objects)
    side = int(min(w, h) * rng.uniform(0.09, 0.16))  # small in the frame: the point of smallcut
    for i, kind in enumerate(objects):
        obj = OBJECTS[kind](rng, side)
        cx = int(w * (i + 1) / (n + 1) + rng.uniform(-0.05, 0.05) * w)
        cy = int(h * rng.uniform(0.35, 0.65))
        _place(canvas, obj, (cx - side // 2, cy - side // 2), rng, mask)
    return (canvas.convert("RGB"), mask) if with_mask else canvas.convert("RGB")


def generate(count: int | None = None, seed: int = 7, size=SIZE) -> list[tuple[str, bytes]]:
    """[(file name, JPEG bytes)] — deterministic for a given seed."""
    out = []
    for i, (name, bg, objs) in enumerate(SCENES[: count or len(SCENES)]):
        img = scene(name, bg, objs, seed * 1000 + i, size)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        out.append((f"{i + 1:02d}-{name}.jpg", buf.getvalue()))
    return out


def masks(count: int | None = None, seed: int = 7, size=SIZE) -> list[tuple[str, np.ndarray]]:
    """[(file name, exact uint8 alpha of the objects)] matching `generate` (shadows are background)."""
    out = []
    for i, (name, bg, objs) in enumerate(SCENES[: count or len(SCENES)]):
        _, mask = scene(name, bg, objs, seed * 1000 + i, size, with_mask=True)
        out.append((f"{i + 1:02d}-{name}.jpg", np.asarray(mask)))
    return out
