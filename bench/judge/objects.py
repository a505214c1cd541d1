"""Catalog objects for the judge family: procedural products drawn oversampled and shaded, and real
objects cut from ECSSD evaluation photos with their masks.

Every object is a `Layer`: straight (not premultiplied) RGB and the exact alpha it is composited with.
Procedural objects are drawn as binary parts on a canvas several times their final size, shaded from
a height field (rounded edges, metal banding, specular highlights), rotated, and reduced by area
averaging: the reduced coverage is the ground-truth alpha, so holes (rings, buttons, keys, chain
links) are exact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PROCEDURAL = ("ring", "hoop-earring", "drop-earring", "screw", "button", "chain", "cufflink", "key", "coin", "bottle", "watch")
PAIRED = ("hoop-earring", "drop-earring", "cufflink")
THIN_OR_HOLED = ("ring", "hoop-earring", "drop-earring", "chain", "key", "button", "screw")
ECSSD_IDS = range(801, 1001)  # the evaluation split only: this is a judge set

METALS = {"gold": (0.86, 0.66, 0.30), "silver": (0.80, 0.81, 0.84), "rose": (0.85, 0.56, 0.48), "steel": (0.62, 0.64, 0.67), "brass": (0.78, 0.62, 0.28), "black": (0.18, 0.18, 0.2)}
_L = np.float32([-0.45, -0.6, 0.66])
_L /= np.linalg.norm(_L)
_H = _L + np.float32([0, 0, 1])
_H /= np.linalg.norm(_H)


@dataclass
class Layer:
    rgb: np.ndarray  # float32 h x w x 3 in [0, 1], straight colour
    alpha: np.ndarray  # float32 h x w in [0, 1]
    kind: str
    source: str  # "procedural" or "ecssd:<id>"


@dataclass
class Part:
    mask: np.ndarray  # uint8 0/1, canvas size
    colour: tuple[float, float, float]
    metal: bool
    bevel: float  # px of rounded edge on the canvas
    gloss: float = 0.5


def _shade(p: Part) -> np.ndarray:
    """Colour of a part lit from the top left: rounded edges from the distance to its outline."""
    d = cv2.distanceTransform(p.mask, cv2.DIST_L2, 3)
    t = np.clip(d / max(1.0, p.bevel), 0, 1)
    height = (np.sqrt(1 - (1 - t) ** 2) * p.bevel).astype(np.float32)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / 8
    nz = 1 / np.sqrt(gx * gx + gy * gy + 1)
    nx, ny = -gx * nz, -gy * nz
    diff = np.clip(nx * _L[0] + ny * _L[1] + nz * _L[2], 0, 1)
    spec = np.clip(nx * _H[0] + ny * _H[1] + nz * _H[2], 0, 1) ** (20 + 80 * p.gloss)
    base = np.float32(p.colour)[None, None]
    if p.metal:
        # a metal mirrors the studio: bright above the horizon of its normal, dark below
        env = 0.5 + 0.5 * np.tanh(4 * (-ny + 0.15 * nx - 0.05))
        flat = 0.65 + 0.35 * np.tanh(3 * (nz - 0.9))  # flat tops reflect the softbox evenly
        lum = 0.35 + 0.75 * env * flat + 0.25 * diff
        rgb = base * lum[..., None] + (0.9 * spec)[..., None] * (0.5 + 0.5 * base)
    else:
        rgb = base * (0.3 + 0.75 * diff)[..., None] + (0.6 * p.gloss * spec)[..., None]
    return np.clip(rgb, 0, 1).astype(np.float32)


def _mask(n: int) -> np.ndarray:
    return np.zeros((n, n), np.uint8)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def _metal(rng) -> tuple[str, tuple]:
    name = str(rng.choice(list(METALS)))
    return name, METALS[name]


def _ring(rng, n):
    c, R = n / 2, 0.42 * n
    q = rng.uniform(0.35, 1.0)
    t = rng.uniform(0.08, 0.2) * R
    name, col = _metal(rng)
    m = _mask(n)
    cv2.ellipse(m, _pt(c, c), _pt(R, R * q), 0, 0, 360, 1, -1)
    cv2.ellipse(m, _pt(c, c + t * 0.3 * (1 - q)), _pt(R - t, max(1, (R - t) * q - t * 0.3)), 0, 0, 360, 0, -1)
    parts = [Part(m, col, True, t * 0.5)]
    if rng.random() < 0.5:
        g = _mask(n)
        r = rng.uniform(0.1, 0.2) * R
        cv2.circle(g, _pt(c, c - R * q + t * 0.3), int(r), 1, -1)
        gem = tuple(float(v) for v in rng.uniform(0.2, 1.0, 3))
        parts.append(Part(g, gem, False, r * 0.6, 1.0))
    return parts, {"metal": name}


def _hoop(rng, n):
    c, R = n / 2, 0.44 * n
    t = rng.uniform(0.04, 0.1) * R
    name, col = _metal(rng)
    m = _mask(n)
    cv2.circle(m, _pt(c, c), int(R), 1, -1)
    cv2.circle(m, _pt(c, c), int(R - t), 0, -1)
    gap = rng.uniform(4, 12)
    cv2.ellipse(m, _pt(c, c), _pt(R + 2, R + 2), -90, -gap, gap, 0, -1)
    cv2.line(m, _pt(c, c - R + t), _pt(c + 0.02 * n, c - R - 0.03 * n), 1, max(1, int(t * 0.6)))
    return [Part(m, col, True, t * 0.5)], {"metal": name}


def _drop(rng, n):
    c = n / 2
    name, col = _metal(rng)
    hook, body = _mask(n), _mask(n)
    w = max(2, int(0.025 * n))
    cv2.ellipse(hook, _pt(c, 0.16 * n), _pt(0.09 * n, 0.1 * n), 0, 180, 360, 1, w)
    cv2.line(hook, _pt(c + 0.09 * n, 0.16 * n), _pt(c + 0.09 * n, 0.26 * n), 1, w)
    cv2.line(hook, _pt(c - 0.09 * n, 0.16 * n), _pt(c, 0.45 * n), 1, w)
    r = rng.uniform(0.12, 0.2) * n
    cy = 0.92 * n - r
    cv2.circle(body, _pt(c, cy), int(r), 1, -1)
    cv2.fillConvexPoly(body, np.array([_pt(c - 0.7 * r, cy - 0.7 * r), _pt(c + 0.7 * r, cy - 0.7 * r), _pt(c, 0.42 * n)], np.int32), 1)
    pearl = rng.random() < 0.4
    gem = (0.93, 0.92, 0.88) if pearl else tuple(float(v) for v in rng.uniform(0.1, 0.9, 3))
    return [Part(hook, col, True, w * 0.5), Part(body, gem, False, r * 0.8, 0.9)], {"metal": name, "drop": "pearl" if pearl else "gem"}


def _screw(rng, n):
    c = n / 2
    name, col = ("steel", METALS["steel"]) if rng.random() < 0.7 else ("brass", METALS["brass"])
    head, shaft = _mask(n), _mask(n)
    hw = rng.uniform(0.12, 0.2) * n
    top = 0.05 * n
    hh = rng.uniform(0.08, 0.14) * n
    bolt = rng.random() < 0.5
    if bolt:  # hex head seen from the side
        cv2.rectangle(head, _pt(c - hw, top), _pt(c + hw, top + hh), 1, -1)
    else:  # countersunk or pan head
        cv2.ellipse(head, _pt(c, top + hh), _pt(hw, hh), 0, 180, 360, 1, -1)
    sw = hw * rng.uniform(0.4, 0.6)
    pitch = max(3.0, rng.uniform(0.02, 0.04) * n)
    y0, y1 = top + hh, 0.95 * n
    pts_l, pts_r = [], []
    y = y0
    k = 0
    while y < y1 - sw:
        off = sw * (1.0 if k % 2 == 0 else 0.78)  # crest and root of the thread
        pts_l.append(_pt(c - off, y))
        pts_r.append(_pt(c + off, y + pitch * 0.5))
        y += pitch * 0.5
        k += 1
    pts = pts_l + [_pt(c, y1)] + pts_r[::-1]
    cv2.fillPoly(shaft, [np.array(pts, np.int32)], 1)
    parts = [Part(shaft, col, True, sw * 0.7), Part(head, col, True, hh * 0.4)]
    # thread flanks: thin dark slanted grooves drawn as a separate darker part
    groove = _mask(n)
    y = y0 + pitch
    while y < y1 - sw * 1.5:
        cv2.line(groove, _pt(c - sw * 0.8, y), _pt(c + sw * 0.8, y + pitch * 0.5), 1, max(1, int(pitch * 0.18)))
        y += pitch
    groove &= shaft
    parts.append(Part(groove, tuple(v * 0.45 for v in col), True, 1.0))
    return parts, {"metal": name, "head": "hex" if bolt else "round"}


def _button(rng, n):
    c, R = n / 2, 0.45 * n
    col = tuple(float(v) for v in rng.uniform(0.05, 0.95, 3))
    m = _mask(n)
    cv2.circle(m, _pt(c, c), int(R), 1, -1)
    k = int(rng.choice([2, 4]))
    hr = R * rng.uniform(0.07, 0.12)
    d = R * rng.uniform(0.2, 0.3)
    a0 = rng.uniform(0, np.pi)
    for i in range(k):
        a = a0 + 2 * np.pi * i / k
        cv2.circle(m, _pt(c + d * np.cos(a), c + d * np.sin(a)), int(hr), 0, -1)
    rim = _mask(n)
    cv2.circle(rim, _pt(c, c), int(R), 1, -1)
    cv2.circle(rim, _pt(c, c), int(R * 0.8), 0, -1)
    return [Part(m, col, False, R * 0.15, 0.6), Part(rim, col, False, R * 0.1, 0.6)], {"holes": k}


def _chain(rng, n):
    name, col = _metal(rng)
    m = _mask(n)
    links = int(rng.integers(7, 16))
    L = 0.84 * n / (links - 1) * 1.35  # links overlap their neighbours: one connected chain
    t = max(2, int(L * rng.uniform(0.1, 0.18)))
    amp = rng.uniform(0.0, 0.25) * n
    xs = np.linspace(0.08 * n, 0.92 * n, links)
    freq = rng.uniform(0.6, 1.2)
    for i, x in enumerate(xs):
        y = n / 2 + amp * np.sin(2 * np.pi * x / n * freq)
        if i % 2 == 0:
            cv2.ellipse(m, _pt(x, y), _pt(L * 0.55, L * 0.32), 0, 0, 360, 1, t)
        else:  # the next link stands on edge
            cv2.line(m, _pt(x - L * 0.5, y), _pt(x + L * 0.5, y), 1, t)
    return [Part(m, col, True, t * 0.5)], {"metal": name, "links": links}


def _cufflink(rng, n):
    c = n / 2
    name, col = _metal(rng)
    face, inset = _mask(n), _mask(n)
    R = 0.42 * n
    if rng.random() < 0.5:
        cv2.circle(face, _pt(c, c), int(R), 1, -1)
        cv2.circle(inset, _pt(c, c), int(R * 0.7), 1, -1)
    else:
        cv2.rectangle(face, _pt(c - R, c - R), _pt(c + R, c + R), 1, -1)
        cv2.rectangle(inset, _pt(c - 0.7 * R, c - 0.7 * R), _pt(c + 0.7 * R, c + 0.7 * R), 1, -1)
    enamel = tuple(float(v) for v in rng.uniform(0.05, 0.8, 3))
    return [Part(face, col, True, R * 0.15), Part(inset, enamel, False, R * 0.05, 0.9)], {"metal": name}


def _key(rng, n):
    name, col = ("brass", METALS["brass"]) if rng.random() < 0.5 else ("silver", METALS["silver"])
    m = _mask(n)
    hr = 0.17 * n
    hx, hy = 0.2 * n, n / 2
    cv2.circle(m, _pt(hx, hy), int(hr), 1, -1)
    cv2.circle(m, _pt(hx - 0.05 * n, hy), int(hr * 0.35), 0, -1)
    bw = 0.055 * n
    x1 = 0.95 * n
    cv2.rectangle(m, _pt(hx + hr * 0.8, hy - bw), _pt(x1, hy + bw), 1, -1)
    x = hx + hr + 0.05 * n
    while x < x1 - 0.05 * n:
        depth = rng.uniform(0.3, 1.0) * bw * 1.2
        cv2.fillConvexPoly(m, np.array([_pt(x, hy + bw), _pt(x + 0.03 * n, hy + bw + depth), _pt(x + 0.06 * n, hy + bw)], np.int32), 1)
        x += 0.06 * n
    return [Part(m, col, True, bw * 0.4)], {"metal": name}


def _coin(rng, n):
    c, R = n / 2, 0.46 * n
    name, col = _metal(rng)
    disk, rim, relief = _mask(n), _mask(n), _mask(n)
    cv2.circle(disk, _pt(c, c), int(R), 1, -1)
    cv2.circle(rim, _pt(c, c), int(R), 1, -1)
    cv2.circle(rim, _pt(c, c), int(R * 0.88), 0, -1)
    cv2.circle(relief, _pt(c, c), int(R * 0.45), 1, -1)
    cv2.circle(relief, _pt(c, c), int(R * 0.38), 0, -1)
    return [Part(disk, col, True, R * 0.05), Part(rim, col, True, R * 0.06), Part(relief, col, True, R * 0.03)], {"metal": name}


def _bottle(rng, n):
    c = n / 2
    glass = tuple(float(v) for v in rng.choice([[0.45, 0.25, 0.08], [0.15, 0.4, 0.2], [0.75, 0.8, 0.82], [0.2, 0.3, 0.6]]))
    body, neck, cap = _mask(n), _mask(n), _mask(n)
    bw = rng.uniform(0.2, 0.32) * n
    top = 0.38 * n
    r = int(0.25 * bw)
    cv2.rectangle(body, _pt(c - bw, top + r), _pt(c + bw, 0.97 * n - r), 1, -1)
    cv2.rectangle(body, _pt(c - bw + r, top), _pt(c + bw - r, 0.97 * n), 1, -1)
    for sx in (-1, 1):
        for y in (top + r, 0.97 * n - r):
            cv2.circle(body, _pt(c + sx * (bw - r), y), r, 1, -1)
    nw = bw * 0.35
    cv2.fillConvexPoly(neck, np.array([_pt(c - bw * 0.9, top + 2), _pt(c + bw * 0.9, top + 2), _pt(c + nw, 0.22 * n), _pt(c - nw, 0.22 * n)], np.int32), 1)
    cv2.rectangle(cap, _pt(c - nw * 1.15, 0.04 * n), _pt(c + nw * 1.15, 0.23 * n), 1, -1)
    capc = METALS["gold"] if rng.random() < 0.4 else (0.08, 0.08, 0.08)
    return [Part(body, glass, False, bw * 0.6, 1.0), Part(neck, glass, False, nw * 0.8, 1.0), Part(cap, capc, rng.random() < 0.5, nw * 0.3, 0.8)], {"glass": [round(v, 2) for v in glass]}


def _watch(rng, n):
    c = n / 2
    name, col = _metal(rng)
    strap, case, face = _mask(n), _mask(n), _mask(n)
    R = 0.24 * n
    sw = R * rng.uniform(0.7, 0.95)
    cv2.rectangle(strap, _pt(c - sw, 0.02 * n), _pt(c + sw, 0.98 * n), 1, -1)
    cv2.circle(case, _pt(c, c), int(R), 1, -1)
    cv2.circle(face, _pt(c, c), int(R * 0.82), 1, -1)
    strap_c = tuple(float(v) for v in rng.choice([[0.3, 0.18, 0.1], [0.08, 0.08, 0.08], [0.6, 0.45, 0.3]]))
    face_c = (0.93, 0.93, 0.9) if rng.random() < 0.6 else (0.08, 0.09, 0.12)
    hands = _mask(n)
    a1, a2 = rng.uniform(0, 2 * np.pi, 2)
    lw = max(1, int(R * 0.04))
    cv2.line(hands, _pt(c, c), _pt(c + 0.5 * R * np.cos(a1), c + 0.5 * R * np.sin(a1)), 1, lw * 2)
    cv2.line(hands, _pt(c, c), _pt(c + 0.72 * R * np.cos(a2), c + 0.72 * R * np.sin(a2)), 1, lw)
    for k in range(12):
        a = 2 * np.pi * k / 12
        cv2.line(hands, _pt(c + 0.65 * R * np.cos(a), c + 0.65 * R * np.sin(a)), _pt(c + 0.78 * R * np.cos(a), c + 0.78 * R * np.sin(a)), 1, lw)
    hand_c = tuple(1 - v for v in face_c)
    return [Part(strap, strap_c, False, sw * 0.2, 0.3), Part(case, col, True, R * 0.2), Part(face, face_c, False, 2.0, 0.9), Part(hands, hand_c, False, 1.0, 0.2)], {"metal": name}


_DRAW = {"ring": _ring, "hoop-earring": _hoop, "drop-earring": _drop, "screw": _screw, "button": _button, "chain": _chain,
         "cufflink": _cufflink, "key": _key, "coin": _coin, "bottle": _bottle, "watch": _watch}
_FILL = {"ring": 0.25, "hoop-earring": 0.1, "drop-earring": 0.12, "screw": 0.12, "button": 0.55, "chain": 0.1, "cufflink": 0.5, "key": 0.18, "coin": 0.65, "bottle": 0.3, "watch": 0.3}


def _reduce(rgb: np.ndarray, alpha: np.ndarray, target_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the drawn pixels and scale so the alpha sums to `target_px`, averaging areas."""
    ys, xs = np.nonzero(alpha > 0)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgb, alpha = rgb[y0:y1, x0:x1], alpha[y0:y1, x0:x1]
    s = np.sqrt(target_px / max(1.0, float(alpha.sum())))
    size = (max(1, round(alpha.shape[1] * s)), max(1, round(alpha.shape[0] * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    pre = cv2.resize(rgb * alpha[..., None], size, interpolation=interp)
    a = np.clip(cv2.resize(alpha, size, interpolation=interp), 0, 1)
    if pre.ndim == 2:
        pre = pre[..., None]
    a = np.pad(a, 1)  # a clear border: edges of the object stay soft, never cut
    pre = np.pad(pre, ((1, 1), (1, 1), (0, 0)))
    out = np.where(a[..., None] > 1e-4, pre / np.maximum(a[..., None], 1e-4), 0)
    return np.clip(out, 0, 1).astype(np.float32), a.astype(np.float32)


def procedural(rng: np.random.Generator, kind: str, target_px: float, angle: float | None = None) -> tuple[Layer, dict]:
    """One procedural object of about `target_px` opaque pixels."""
    est_side = np.sqrt(target_px / _FILL[kind])
    n = int(np.clip(2.5 * est_side, 192, 1400))
    parts, params = _DRAW[kind](rng, n)
    rgb = np.zeros((n, n, 3), np.float32)
    cover = np.zeros((n, n), np.float32)
    for p in parts:
        if not p.mask.any():
            continue
        ys, xs = np.nonzero(p.mask)
        y0, y1, x0, x1 = max(0, ys.min() - 3), ys.max() + 4, max(0, xs.min() - 3), xs.max() + 4
        sub = Part(np.ascontiguousarray(p.mask[y0:y1, x0:x1]), p.colour, p.metal, p.bevel, p.gloss)
        sel = sub.mask > 0
        rgb[y0:y1, x0:x1][sel] = _shade(sub)[sel]
        cover[y0:y1, x0:x1][sel] = 1.0
    angle = float(rng.uniform(0, 360)) if angle is None else angle
    pad = int(n * 0.22)
    rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    cover = cv2.copyMakeBorder(cover, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    N = n + 2 * pad
    M = cv2.getRotationMatrix2D((N / 2, N / 2), angle, 1.0)
    pre = cv2.warpAffine(rgb * cover[..., None], M, (N, N), flags=cv2.INTER_LINEAR)
    cover = np.clip(cv2.warpAffine(cover, M, (N, N), flags=cv2.INTER_LINEAR), 0, 1)
    rgb = np.where(cover[..., None] > 1e-4, pre / np.maximum(cover[..., None], 1e-4), 0).astype(np.float32)
    rgb, alpha = _reduce(rgb, cover, target_px)
    return Layer(rgb, alpha, kind, "procedural"), {**params, "angle": round(angle, 1)}


def ecssd_available(root: Path) -> bool:
    return (root / "images" / "0801.jpg").exists() and (root / "masks" / "0801.png").exists()


def ecssd(rng: np.random.Generator, root: Path, target_px: float) -> tuple[Layer, dict]:
    """A real object: one evaluation photo's salient object cut out with its mask. Photos whose
    object runs off the frame are passed over (a product is whole on a catalog shot)."""
    ids = list(ECSSD_IDS)
    for _ in range(12):
        i = int(rng.choice(ids))
        img = cv2.imread(str(root / "images" / f"{i:04d}.jpg"))
        mask = cv2.imread(str(root / "masks" / f"{i:04d}.png"), cv2.IMREAD_GRAYSCALE)
        if img is None or mask is None:
            raise FileNotFoundError(f"ECSSD photo {i:04d} missing under {root}")
        edge = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        if np.count_nonzero(edge > 127) <= 2:
            break
    # keep the largest component: the product, not stray bits of the annotation
    bin_ = (mask > 127).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(bin_, connectivity=8)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) if n > 1 else 0
    alpha = (lab == k).astype(np.float32) if n > 1 else bin_.astype(np.float32)
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    rgb, a = _reduce(rgb, alpha, target_px)
    return Layer(rgb, a, "ecssd", f"ecssd:{i:04d}"), {"photo": f"{i:04d}"}
