"""Procedural catalog backdrops for the judge family, each kind varied within itself.

`draw(rng, kind, w, h)` returns a float32 RGB image in [0, 1] and the parameters drawn. Every kind is
written here from its own model (no shared texture code with any other generator): sweeps light
from the front with falloff toward the top, woven cloth from threads, brick and tiles from laid
units with mortar or grout, gravel from packed stones, acrylic from a softbox highlight."""

from __future__ import annotations

import cv2
import numpy as np

from .noise import fbm, field, grain

KINDS = ("sweep", "paper", "marble", "linen", "velvet", "leather", "wood", "concrete", "tiles", "brick", "gravel", "fabric-print", "acrylic")
WEIGHTS = {"sweep": 2.5, "paper": 1.5, "acrylic": 1.2}  # studio surfaces are the most common in catalogs
GLOSSY = ("acrylic", "sweep", "tiles", "marble")  # surfaces that can mirror a product


def pick(rng: np.random.Generator, glossy: bool = False) -> str:
    kinds = GLOSSY if glossy else KINDS
    wts = np.array([WEIGHTS.get(k, 1.0) for k in kinds])
    return str(kinds[int(rng.choice(len(kinds), p=wts / wts.sum()))])


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    px = np.uint8([[[int(h) % 180, int(255 * s), int(255 * v)]]])
    return cv2.cvtColor(px, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _light(rng: np.random.Generator, w: int, h: int, strength: float) -> np.ndarray:
    """Uneven light over a flat surface: a broad plane plus a very soft blob."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * np.pi)
    plane = (np.cos(a) * (xx / w - 0.5) + np.sin(a) * (yy / h - 0.5))
    return (1.0 + strength * (plane + 0.4 * field(rng, w, h, max(w, h) / 1.5))).astype(np.float32)


def _tint(base: np.ndarray, lum: np.ndarray) -> np.ndarray:
    return np.clip(base[None, None, :] * lum[..., None], 0, 1)


def sweep(rng, w, h):
    tone = rng.choice(["white", "grey", "colour"], p=[0.5, 0.25, 0.25])
    if tone == "white":
        base = np.full(3, rng.uniform(0.86, 0.98), np.float32) * rng.uniform(0.98, 1.02, 3).astype(np.float32)
    elif tone == "grey":
        base = np.full(3, rng.uniform(0.35, 0.75), np.float32)
    else:
        base = _hsv(rng.uniform(0, 180), rng.uniform(0.15, 0.55), rng.uniform(0.55, 0.92))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    fall = rng.uniform(0.12, 0.35)
    # brighter near the camera (bottom), darker where the paper curves up toward the top
    lum = 1.0 - fall * (1.0 - yy / h) ** rng.uniform(1.2, 2.2)
    cx = rng.uniform(0.3, 0.7) * w
    r2 = ((xx - cx) / w) ** 2 + ((yy - h) / (1.4 * h)) ** 2
    lum *= 1.0 - rng.uniform(0.05, 0.25) * r2
    lum += 0.006 * fbm(rng, w, h, 200, 3)
    return _tint(base, lum), {"tone": str(tone), "falloff": round(float(fall), 3)}


def paper(rng, w, h):
    base = _hsv(rng.uniform(0, 180), rng.uniform(0.2, 0.85), rng.uniform(0.45, 0.95))
    fibre = cv2.GaussianBlur(grain(rng, w, h), (0, 0), 0.7)
    lum = _light(rng, w, h, 0.08) + 0.012 * fibre + 0.01 * fbm(rng, w, h, 40, 3)
    return _tint(base, lum), {"colour": [round(float(c), 3) for c in base]}


def marble(rng, w, h):
    white = rng.random() < 0.7
    base = np.float32([0.93, 0.92, 0.9]) if white else np.float32([0.12, 0.12, 0.13])
    vein = _hsv(rng.uniform(0, 180), rng.uniform(0.0, 0.3), 0.45 if white else 0.8)
    # veins follow the zero line of a warped field: long, meandering, of varying width
    ridge = fbm(rng, w, h, max(w, h) / rng.uniform(1.0, 2.5), 5, 0.6)
    width = rng.uniform(0.015, 0.05) * (1 + 0.6 * np.clip(field(rng, w, h, max(w, h) / 5), -1, 1))
    veins = np.exp(-(ridge / width) ** 2) * rng.uniform(0.5, 0.9)
    veins += 0.4 * np.exp(-(fbm(rng, w, h, max(w, h) / 3, 5, 0.6) / 0.01) ** 2)  # fine secondary veins
    veins = np.clip(veins, 0, 1)
    cloud = 0.03 * fbm(rng, w, h, 150, 4)
    img = base[None, None] * (1 + cloud[..., None]) * (1 - veins[..., None]) + vein[None, None] * veins[..., None]
    return np.clip(img * _light(rng, w, h, 0.05)[..., None], 0, 1), {"polished": bool(rng.random() < 0.5), "dark": not white}


def _threads(rng, n: int, period: float) -> np.ndarray:
    """Thread profile along one axis: a bump per thread, with uneven thickness and slubs."""
    pos = np.arange(n, dtype=np.float32)
    jitter = cv2.resize(rng.standard_normal((1, n // 8 + 4)).astype(np.float32), (n, 1), interpolation=cv2.INTER_LINEAR)[0]
    phase = 2 * np.pi * (pos + 0.6 * period * jitter) / period
    return 0.5 + 0.5 * np.cos(phase)


def linen(rng, w, h):
    base = _hsv(rng.uniform(10, 30), rng.uniform(0.05, 0.3), rng.uniform(0.55, 0.9)) if rng.random() < 0.7 else _hsv(rng.uniform(0, 180), rng.uniform(0.2, 0.5), rng.uniform(0.4, 0.8))
    period = rng.uniform(3.0, 7.0)
    warp_t = _threads(rng, w, period)[None, :]
    weft_t = _threads(rng, h, period * rng.uniform(0.9, 1.2))[:, None]
    # plain weave: warp over weft on alternating cells
    cx = (np.arange(w)[None, :] // period).astype(int)
    cy = (np.arange(h)[:, None] // period).astype(int)
    over = ((cx + cy) % 2 == 0)
    weave = np.where(over, 0.6 + 0.4 * warp_t, 0.6 + 0.4 * weft_t)
    slub = 0.025 * np.clip(fbm(rng, w, h, 80, 2), -2, 2)
    lum = _light(rng, w, h, 0.1) * (0.78 + 0.22 * weave + slub) + 0.02 * grain(rng, w, h)
    return _tint(base, lum.astype(np.float32)), {"thread_px": round(float(period), 2)}


def velvet(rng, w, h):
    base = _hsv(rng.uniform(0, 180), rng.uniform(0.5, 0.95), rng.uniform(0.25, 0.6))
    folds = fbm(rng, w, h, max(w, h) / rng.uniform(2, 5), 3)
    sheen = np.clip(0.5 + 0.35 * folds, 0, 1) ** 2  # the pile catches light where it bends
    nap = cv2.GaussianBlur(grain(rng, w, h), (0, 0), 1.2) * 0.05
    lum = 0.8 + 0.45 * sheen + nap
    img = _tint(base, lum.astype(np.float32))
    img += (0.06 * sheen ** 3)[..., None]  # the whitish sheen of crushed pile
    return np.clip(img, 0, 1), {"crushed": round(float(np.std(folds)), 3)}


def leather(rng, w, h):
    base = _hsv(rng.uniform(5, 25), rng.uniform(0.4, 0.8), rng.uniform(0.15, 0.6)) if rng.random() < 0.8 else np.float32([0.08, 0.08, 0.09])
    cell = rng.uniform(5, 12)
    pebble = fbm(rng, w, h, cell, 2, 0.4)
    creases = np.abs(fbm(rng, w, h, cell * 6, 3))
    grainmap = (np.tanh(1.5 * pebble) - 0.8 * np.exp(-(creases / 0.08) ** 2)).astype(np.float32)
    gx = cv2.Sobel(grainmap, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grainmap, cv2.CV_32F, 0, 1, ksize=3)
    relief = -0.08 * (gx + gy)
    lum = _light(rng, w, h, 0.12) * (1 + 0.08 * grainmap + relief)
    return _tint(base, lum.astype(np.float32)), {"pebble_px": round(float(cell), 1)}


def wood(rng, w, h):
    hue = rng.uniform(8, 24)
    light, dark = _hsv(hue, rng.uniform(0.35, 0.6), rng.uniform(0.55, 0.85)), _hsv(hue, rng.uniform(0.5, 0.8), rng.uniform(0.2, 0.45))
    vertical = rng.random() < 0.5
    L, S = (h, w) if vertical else (w, h)  # along-grain length, across-grain
    yy, xx = np.mgrid[0:S, 0:L].astype(np.float32)
    plank = rng.uniform(0.15, 0.4) * S
    rings = (yy + fbm(rng, L, S, L / 2, 3) * plank * 0.3 + 0.02 * xx) / rng.uniform(4, 14)
    t = 0.5 + 0.5 * np.sin(2 * np.pi * rings + fbm(rng, L, S, 60, 2))
    t = t ** 3 + 0.15 * fbm(rng, L, S, 5, 2)  # late wood is narrow and dark; pores add fibre
    seams = (np.abs((yy % plank) - plank / 2) > plank / 2 - 1.5).astype(np.float32)
    t = np.clip(t, 0, 1)
    img = light[None, None] * (1 - t[..., None]) + dark[None, None] * t[..., None]
    img *= (1 - 0.5 * seams)[..., None]
    if vertical:
        img = np.ascontiguousarray(img.transpose(1, 0, 2))
    return np.clip(img * _light(rng, w, h, 0.1)[..., None], 0, 1), {"planks_px": round(float(plank)), "vertical": vertical}


def concrete(rng, w, h):
    base = np.full(3, rng.uniform(0.45, 0.75), np.float32) * np.float32([1.0, 0.99, 0.97])
    lum = 1 + 0.06 * fbm(rng, w, h, 120, 5) + 0.04 * fbm(rng, w, h, 8, 2)
    pores = (field(rng, w, h, 3) > 2.3).astype(np.float32)
    pores = cv2.GaussianBlur(pores, (0, 0), 0.8)
    lum = lum * (1 - 0.5 * pores) + 0.025 * grain(rng, w, h)
    return _tint(base, lum.astype(np.float32)), {"tone": round(float(base[0]), 3)}


def _laid(rng, w, h, unit_w, unit_h, joint, offset_rows: bool):
    """Label map of laid units (tiles, bricks) and a mask of the joints between them."""
    yy, xx = np.mgrid[0:h, 0:w]
    row = yy // unit_h
    shift = np.where(row % 2 == 1, unit_w // 2, 0) if offset_rows else 0
    xs = xx + shift
    col = xs // unit_w
    joint_mask = ((yy % unit_h) < joint) | ((xs % unit_w) < joint)
    return row * 10007 + col, joint_mask


def tiles(rng, w, h):
    size = int(rng.uniform(0.06, 0.2) * max(w, h))
    joint = int(rng.integers(3, 9))
    label, jm = _laid(rng, w, h, size, size, joint, False)
    base = _hsv(rng.uniform(0, 180), rng.uniform(0.0, 0.5), rng.uniform(0.5, 0.95))
    grout = np.float32([0.55, 0.55, 0.53]) * rng.uniform(0.6, 1.4)
    var = np.random.default_rng(int(rng.integers(1 << 30))).normal(0, 0.04, 40000).astype(np.float32)
    lum = 1 + var[label % 40000] + 0.01 * fbm(rng, w, h, 60, 3)
    img = _tint(base, lum * _light(rng, w, h, 0.1))
    jm_s = cv2.GaussianBlur(jm.astype(np.float32), (0, 0), 0.8)[..., None]
    img = img * (1 - jm_s) + np.clip(grout, 0, 1)[None, None] * jm_s
    return img.astype(np.float32), {"tile_px": size, "grout_px": joint, "glazed": bool(rng.random() < 0.6)}


def brick(rng, w, h):
    bh = int(rng.uniform(0.035, 0.08) * max(w, h))
    bw = int(bh * rng.uniform(2.2, 3.2))
    joint = max(3, int(bh * rng.uniform(0.1, 0.2)))
    label, jm = _laid(rng, w, h, bw, bh, joint, True)
    base = _hsv(rng.uniform(0, 14), rng.uniform(0.45, 0.75), rng.uniform(0.4, 0.7)) if rng.random() < 0.8 else np.float32([0.9, 0.88, 0.84])
    sub = np.random.default_rng(int(rng.integers(1 << 30)))
    var = (sub.normal(0, 0.12, (40000, 1)) + sub.normal(0, 0.025, (40000, 3))).astype(np.float32)
    img = np.clip(base[None, None] * (1 + var[label % 40000]), 0, 1)
    img *= (1 + 0.08 * fbm(rng, w, h, 10, 3) + 0.04 * grain(rng, w, h))[..., None]
    mortar = np.float32([0.7, 0.68, 0.64]) * rng.uniform(0.6, 1.1)
    jm_s = cv2.GaussianBlur(jm.astype(np.float32), (0, 0), 1.0)[..., None]
    img = img * (1 - jm_s) + mortar[None, None] * jm_s * (1 + 0.05 * grain(rng, w, h))[..., None]
    return np.clip(img * _light(rng, w, h, 0.12)[..., None], 0, 1).astype(np.float32), {"brick_px": [bw, bh]}


def gravel(rng, w, h):
    size = rng.uniform(0.008, 0.02) * max(w, h)
    img = np.full((h, w, 3), 0.12, np.float32)
    height = np.zeros((h, w), np.float32)
    n = int(2.6 * w * h / (size * size))
    palette = [_hsv(rng.uniform(0, 30), rng.uniform(0, 0.25), rng.uniform(0.3, 0.8)) for _ in range(8)]
    xs, ys = rng.uniform(0, w, n), rng.uniform(0, h, n)
    ax, ay = rng.uniform(0.35, 0.6, n) * size, rng.uniform(0.25, 0.5, n) * size
    ang, pick_c, shade = rng.uniform(0, 180, n), rng.integers(0, len(palette), n), rng.uniform(0.7, 1.2, n)
    for i in range(n):
        c = tuple(float(v) for v in np.clip(palette[pick_c[i]] * shade[i], 0, 1))
        cv2.ellipse(img, (int(xs[i]), int(ys[i])), (int(ax[i]) + 1, int(ay[i]) + 1), float(ang[i]), 0, 360, c, -1)
        cv2.ellipse(height, (int(xs[i]), int(ys[i])), (int(ax[i]) + 1, int(ay[i]) + 1), float(ang[i]), 0, 360, float(i + 1), -1)
    edges = (cv2.morphologyEx(height, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0).astype(np.uint8)
    dist = cv2.distanceTransform(1 - edges, cv2.DIST_L2, 3)
    bump = np.sqrt(np.clip(dist / (0.4 * size), 0, 1)).astype(np.float32)
    gy = cv2.Sobel(bump, cv2.CV_32F, 0, 1, ksize=3)
    gx = cv2.Sobel(bump, cv2.CV_32F, 1, 0, ksize=3)
    lum = 0.6 + 0.4 * bump - 0.5 * (gx + gy)  # rounded stones lit from the top left
    img = img * np.clip(lum, 0.2, 1.4)[..., None] * (1 + 0.05 * grain(rng, w, h))[..., None]
    return np.clip(img, 0, 1), {"stone_px": round(float(size), 1)}


def fabric_print(rng, w, h):
    style = str(rng.choice(["stripes", "checks", "dots", "florals"]))
    ground = _hsv(rng.uniform(0, 180), rng.uniform(0.0, 0.4), rng.uniform(0.75, 0.97))
    ink = _hsv(rng.uniform(0, 180), rng.uniform(0.4, 0.9), rng.uniform(0.25, 0.75))
    period = rng.uniform(0.02, 0.08) * max(w, h)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.choice([0.0, np.pi / 2, np.pi / 4, rng.uniform(0, np.pi)])
    u = np.cos(a) * xx + np.sin(a) * yy
    v = -np.sin(a) * xx + np.cos(a) * yy
    duty = rng.uniform(0.25, 0.55)
    if style == "stripes":
        cover = ((u % period) < duty * period).astype(np.float32)
    elif style == "checks":
        cover = 0.5 * ((u % period) < duty * period) + 0.5 * ((v % period) < duty * period)
    else:
        cell = int(period)
        tile = np.zeros((cell * 2, cell * 2), np.float32)
        for cx, cy in ((cell // 2, cell // 2), (cell + cell // 2, cell + cell // 2)):
            if style == "dots":
                cv2.circle(tile, (cx, cy), max(2, int(cell * duty * 0.5)), 1.0, -1, cv2.LINE_AA)
            else:  # a flower: petals round a heart, and a leaf
                r = cell * 0.32
                for k in range(5):
                    t = 2 * np.pi * k / 5
                    cv2.ellipse(tile, (int(cx + 0.5 * r * np.cos(t)), int(cy + 0.5 * r * np.sin(t))), (max(2, int(r * 0.5)), max(1, int(r * 0.3))), float(np.degrees(t)), 0, 360, 1.0, -1, cv2.LINE_AA)
                cv2.circle(tile, (cx, cy), max(1, int(r * 0.22)), 0.5, -1, cv2.LINE_AA)
                cv2.ellipse(tile, (int(cx + r), int(cy + r)), (max(2, int(r * 0.45)), max(1, int(r * 0.18))), 35.0, 0, 360, 0.75, -1, cv2.LINE_AA)
        reps = (h // tile.shape[0] + 2, w // tile.shape[1] + 2)
        cover = np.tile(tile, reps)[:h, :w]
    weave = 0.04 * np.cos(2 * np.pi * xx / 3.0) * np.cos(2 * np.pi * yy / 3.0)
    img = ground[None, None] * (1 - cover[..., None]) + ink[None, None] * cover[..., None]
    img = img * (1 + weave + 0.02 * grain(rng, w, h))[..., None] * _light(rng, w, h, 0.1)[..., None]
    return np.clip(img, 0, 1).astype(np.float32), {"pattern": style, "period_px": round(float(period), 1)}


def acrylic(rng, w, h):
    tone = rng.choice(["white", "black", "colour"], p=[0.4, 0.35, 0.25])
    base = {"white": np.float32([0.9, 0.9, 0.92]), "black": np.float32([0.04, 0.04, 0.05])}.get(str(tone))
    if base is None:
        base = _hsv(rng.uniform(0, 180), rng.uniform(0.3, 0.8), rng.uniform(0.4, 0.85))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # the softbox mirrored in the sheet: a broad, soft highlight band, and the gradient of the far edge
    a = rng.uniform(-0.4, 0.4)
    pos = rng.uniform(0.1, 0.5) * h
    d = (yy - pos - np.tan(a) * (xx - w / 2)) / (rng.uniform(0.08, 0.25) * h)
    band = np.exp(-d ** 2) * rng.uniform(0.05, 0.35)
    grad = 1 - rng.uniform(0.05, 0.3) * (1 - yy / h)
    img = base[None, None] * grad[..., None] + band[..., None] * (1 - 0.5 * base[None, None])
    return np.clip(img, 0, 1).astype(np.float32), {"tone": str(tone)}


_DRAW = {"sweep": sweep, "paper": paper, "marble": marble, "linen": linen, "velvet": velvet, "leather": leather, "wood": wood,
         "concrete": concrete, "tiles": tiles, "brick": brick, "gravel": gravel, "fabric-print": fabric_print, "acrylic": acrylic}


def draw(rng: np.random.Generator, kind: str, w: int, h: int) -> tuple[np.ndarray, dict]:
    img, params = _DRAW[kind](rng, w, h)
    return np.ascontiguousarray(img, dtype=np.float32), {"kind": kind, **params}
