"""One catalog frame of the judge family: backdrop, one to four products (pairs side by side),
their shadows or reflections, the camera, and the frame's twin without shadows and reflections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import backdrops, effects, objects

FAMILY = "catalog-judge"
SHADOW_P = 0.70
REFLECTION_P = 0.15
ECSSD_P = 0.3  # share of single objects cut from real photos, when the photos are there
SHADOW_STYLES = (("contact",), ("contact", "soft"), ("soft",), ("hard",), ("contact", "hard"))
SHADOW_STYLE_P = (0.2, 0.35, 0.15, 0.15, 0.15)
ASPECTS = ((4, 3), (3, 2), (1, 1), (3, 4), (4, 5))


@dataclass
class Frame:
    name: str
    rgb: np.ndarray  # uint8 H x W x 3, before JPEG
    alpha: np.ndarray  # uint8
    shadow: np.ndarray  # uint8
    meta: dict


@dataclass
class _Placed:
    layer: objects.Layer
    x: int
    y: int
    oid: int
    pair: bool
    params: dict


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _area(rng) -> float:
    """Share of the frame for a product: a quarter under 0.2 %, a quarter 0.2-1 %, half 1-6 %."""
    u = rng.random()
    if u < 0.25:
        return _log_uniform(rng, 0.0005, 0.002)
    if u < 0.5:
        return _log_uniform(rng, 0.002, 0.01)
    return _log_uniform(rng, 0.01, 0.06)


def _make(rng, kind: str, px: float, ecssd_root: Path | None) -> tuple[objects.Layer, dict]:
    if kind == "ecssd":
        return objects.ecssd(rng, ecssd_root, px)
    return objects.procedural(rng, kind, px)


def _slots(rng, W, H, ecssd_root) -> list[tuple[str, float, bool]]:
    """(kind, target pixels, paired) per product; pairs appear as two entries."""
    frame = W * H
    out: list[tuple[str, float, bool]] = []

    def kind():
        if ecssd_root and rng.random() < ECSSD_P:
            return "ecssd"
        return str(rng.choice(objects.PROCEDURAL))
    if rng.random() < 0.2:  # one large product
        big = "ecssd" if ecssd_root and rng.random() < 0.5 else str(rng.choice([k for k in objects.PROCEDURAL if k not in objects.PAIRED]))
        out.append((big, _log_uniform(rng, 0.05, 0.25) * frame, False))
        for _ in range(int(rng.integers(0, 3))):
            out.append((kind(), _log_uniform(rng, 0.0005, 0.01) * frame, False))
        return out
    want = int(rng.integers(1, 5))
    while len(out) < want:
        k = kind()
        px = _area(rng) * frame
        if k in objects.PAIRED and len(out) + 2 <= want + 1 and len(out) + 2 <= 4:
            out += [(k, px, True), (k, px, True)]
        elif k not in objects.PAIRED:
            out.append((k, px, False))
    return out[:4]


def _overlaps(box, boxes) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def _place(rng, W, H, lw, lh, reserve_below, boxes, gap) -> tuple[int, int] | None:
    margin = max(4, int(0.02 * min(W, H)))
    for _ in range(200):
        if W - lw - 2 * margin <= 0 or H - lh - reserve_below - 2 * margin <= 0:
            return None
        x = int(rng.integers(margin, W - lw - margin))
        y = int(rng.integers(margin, H - lh - reserve_below - margin))
        box = (x - gap, y - gap, x + lw + gap, y + lh + reserve_below + gap)
        if not _overlaps(box, boxes):
            boxes.append(box)
            return x, y
    return None


def _light(rng, styles: tuple[str, ...]) -> effects.Light:
    return effects.Light(
        angle=float(rng.uniform(0, 2 * np.pi)),
        contact=float(rng.uniform(0.45, 0.8)) if "contact" in styles else 0.0,
        soft=float(rng.uniform(0.15, 0.5)) if "soft" in styles else 0.0,
        hard=float(rng.uniform(0.2, 0.5)) if "hard" in styles else 0.0,
        offset=float(rng.uniform(0.03, 0.15)),
        blur=float(rng.uniform(0.03, 0.1)),
        stretch=float(rng.uniform(1.0, 1.4)),
    )


def render(index: int, seed: int, ecssd_root: Path | None = None) -> list[Frame]:
    """Frame `index` of the family drawn from `seed`: [frame] or [frame, its clean twin]."""
    rng = np.random.default_rng([seed, index])
    long_side = int(rng.integers(1200, 2001))
    a, b = ASPECTS[int(rng.integers(len(ASPECTS)))]
    W, H = (long_side, int(long_side * b / a)) if a >= b else (int(long_side * a / b), long_side)
    has_reflection = rng.random() < REFLECTION_P
    has_shadow = rng.random() < SHADOW_P
    styles: tuple[str, ...] = ()
    if has_shadow:
        styles = ("contact",) if has_reflection else SHADOW_STYLES[int(rng.choice(len(SHADOW_STYLES), p=SHADOW_STYLE_P))]
    light = _light(rng, styles)
    kind = backdrops.pick(rng, glossy=has_reflection)
    backdrop, bg_meta = backdrops.draw(rng, kind, W, H)

    # products: drawn, placed without overlap (room kept for shadows and reflections)
    placed: list[_Placed] = []
    boxes: list = []
    slots = _slots(rng, W, H, ecssd_root)
    i = 0
    while i < len(slots):
        k, px, paired = slots[i]
        for _attempt in range(4):  # no room: the same product, smaller
            layer, params = _make(rng, k, px, ecssd_root)
            lh, lw = layer.alpha.shape
            size = float(np.sqrt(layer.alpha.sum()))
            gap = effects.shadow_pad(size, light, max(lh, lw)) if styles else max(6, int(0.1 * size))
            below = int(0.7 * lh) if has_reflection else 0
            span = lw * 2 + max(6, int(0.3 * lw)) if paired else lw
            pos = _place(rng, W, H, span, lh, below, boxes, gap)
            if pos is not None:
                break
            px *= 0.4
        if pos is not None:
            x, y = pos
            placed.append(_Placed(layer, x, y, len(placed) + 1, paired, {**params, "source": layer.source}))
            if paired:  # the second of a pair: the same piece, mirrored
                twin = objects.Layer(layer.rgb[:, ::-1].copy(), layer.alpha[:, ::-1].copy(), layer.kind, layer.source)
                placed.append(_Placed(twin, x + span - lw, y, len(placed) + 1, True, {**params, "source": layer.source, "mirrored": True}))
        i += 2 if paired else 1

    alpha = np.zeros((H, W), np.float32)
    over = np.zeros((H, W, 3), np.float32)  # premultiplied product colour
    for p in placed:
        lh, lw = p.layer.alpha.shape
        sl = (slice(p.y, p.y + lh), slice(p.x, p.x + lw))
        alpha[sl] = np.maximum(alpha[sl], p.layer.alpha)
        over[sl] += p.layer.rgb * p.layer.alpha[..., None]

    # shadows and reflections on the backdrop only (products are laid over them)
    darken = np.ones((H, W), np.float32)
    coverage = np.zeros((H, W), np.float32)
    shaded = backdrop.copy()
    for p in placed:
        lh, lw = p.layer.alpha.shape
        size = float(np.sqrt(p.layer.alpha.sum()))
        if styles:
            pad = effects.shadow_pad(size, light, max(lh, lw))
            x0, y0, x1, y1 = max(0, p.x - pad), max(0, p.y - pad), min(W, p.x + lw + pad), min(H, p.y + lh + pad)
            local = np.zeros((y1 - y0, x1 - x0), np.float32)
            local[p.y - y0 : p.y - y0 + lh, p.x - x0 : p.x - x0 + lw] = p.layer.alpha
            for strength, cov in effects.shadow_layers(local, size, light):
                darken[y0:y1, x0:x1] *= 1 - strength * cov
                coverage[y0:y1, x0:x1] = np.maximum(coverage[y0:y1, x0:x1], cov)
        if has_reflection:
            col, weight, cov = effects.reflection(p.layer.rgb, p.layer.alpha, float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.35, 0.7)))
            rows = np.nonzero(p.layer.alpha.max(axis=1) > 0.02)[0]
            top = p.y + (rows.max() + 1 if len(rows) else lh)
            hh = min(col.shape[0], H - top)
            if hh > 0:
                sl = (slice(top, top + hh), slice(p.x, p.x + lw))
                wgt = weight[:hh, :, None]
                shaded[sl] = shaded[sl] * (1 - wgt) + col[:hh] * wgt
                coverage[sl] = np.maximum(coverage[sl], cov[:hh])
    shaded *= darken[..., None]

    # the camera, identical for the frame and its twin
    cam_effects: list[str] = []
    cam: dict = {}
    gains = np.ones(3, np.float32)
    if rng.random() < 0.4:
        gains = np.clip(1 + rng.normal(0, 0.06, 3), 0.85, 1.15).astype(np.float32)
        gains /= gains.mean()
        cam_effects.append("colour-cast")
        cam["gains"] = [round(float(g), 3) for g in gains]
    vig = float(rng.uniform(0.15, 0.45)) if rng.random() < 0.4 else 0.0
    vc = (float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6)))
    if vig:
        cam_effects.append("vignette")
        cam["vignette"] = round(vig, 3)
    sigma = float(rng.uniform(0.6, 1.4)) if rng.random() < 0.25 else 0.0
    if sigma:
        cam_effects.append("defocus")
        cam["defocus_sigma"] = round(sigma, 2)
    noisy = rng.random() < 0.6
    shot, read = float(rng.uniform(0.0003, 0.002)), float(rng.uniform(0.002, 0.008))
    if noisy:
        cam_effects.append("noise")
        cam["noise"] = {"shot": round(shot, 5), "read": round(read, 4)}
        z_l = rng.standard_normal((H, W)).astype(np.float32)
        z_c = effects.chroma_field(rng, W, H)
    quality = int(rng.integers(60, 96))
    if quality <= 80:
        cam_effects.append("jpeg")

    def camera(surface: np.ndarray) -> np.ndarray:
        img = surface * (1 - alpha[..., None]) + over
        if "colour-cast" in cam_effects:
            img = effects.colour_cast(img, gains)
        if vig:
            img = effects.vignette(img, vig, *vc)
        if sigma:
            img = effects.defocus(img, sigma)
        if noisy:
            img = effects.sensor_noise(img, z_l, z_c, shot, read)
        return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)

    # the mask marks where the shadow shows: the object covers part of it, defocus spreads it
    visible = coverage * (1 - alpha)
    if sigma:
        visible = effects.defocus(visible, sigma)
    shadow_u8 = np.clip(visible * 255 + 0.5, 0, 255).astype(np.uint8)
    alpha_u8 = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)

    name = f"cj-{index:04d}"
    fx = (["contact-shadow"] if light.contact else []) + (["soft-shadow"] if light.soft else []) + (["hard-shadow"] if light.hard else []) + (["reflection"] if has_reflection else [])
    objs = []
    for p in placed:
        lh, lw = p.layer.alpha.shape
        a = alpha_u8[p.y : p.y + lh, p.x : p.x + lw]
        ys, xs = np.nonzero(a)
        bbox = [int(p.x + xs.min()), int(p.y + ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)] if len(xs) else [p.x, p.y, lw, lh]
        objs.append({"id": p.oid, "kind": p.layer.kind, "bbox": bbox, "area_frac": float(p.layer.alpha.sum()) / (W * H), "pair": p.pair,
                     "thin_or_holed": p.layer.kind in objects.THIN_OR_HOLED, "params": p.params})
    twin = f"{name}-clean" if fx else None
    meta = {"version": 1, "family": FAMILY, "name": name, "index": index, "seed": seed, "size": [W, H], "background": bg_meta,
            "effects": fx + cam_effects, "jpeg_quality": quality, "twin": twin, "twin_of": None, "objects": objs,
            "light": light.meta() if styles else None, "camera": cam}
    frames = [Frame(name, camera(shaded), alpha_u8, shadow_u8, meta)]
    if fx:
        clean_meta = {**meta, "name": twin, "effects": cam_effects, "twin": None, "twin_of": name, "light": None}
        frames.append(Frame(twin, camera(backdrop), alpha_u8, np.zeros_like(shadow_u8), clean_meta))
    return frames
