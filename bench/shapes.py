"""Procedural small objects with thin parts and real holes: rings, hoops with chains, buttons,
washers, screws, earrings.

Each kind is drawn as a hard mask at a high resolution and box-filtered down by the caller, which
gives anti-aliased alpha that is exact by construction. Parameters are sampled once
(`sample_params`) and drawing is a pure function of (params, canvas size), so the same object can
be drawn small to measure its fill ratio and then again at its final size.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

KINDS = ("ring", "hoop_chain", "button", "washer", "screw", "earring")

_METALS = {
    "gold": (212, 175, 55),
    "silver": (192, 192, 200),
    "rose": (200, 140, 120),
    "steel": (150, 155, 165),
    "brass": (181, 150, 70),
    "black": (45, 45, 50),
}


def sample_params(kind: str, rng: np.random.Generator) -> dict:
    """All random choices of one object, so drawing is repeatable at any size."""
    p: dict = {
        "kind": kind,
        "angle": float(rng.uniform(0, 360)),
        "seed": int(rng.integers(0, 2**31 - 1)),
        "light": float(rng.uniform(0, 2 * math.pi)),
    }
    metal = list(_METALS)[int(rng.integers(len(_METALS)))]
    p["color"] = _METALS[metal]
    if kind == "ring":
        p["inner"] = float(rng.uniform(0.55, 0.88))  # inner/outer radius: thick ring .. thin bangle
        p["tilt"] = float(rng.uniform(0.45, 1.0))  # ellipse axis ratio: seen at an angle
        p["gem"] = bool(rng.random() < 0.4)
        p["gem_color"] = tuple(int(c) for c in rng.integers(30, 255, 3))
    elif kind == "hoop_chain":
        p["links"] = int(rng.integers(4, 9))
        p["hoop_thick"] = float(rng.uniform(0.025, 0.05))
        p["link_thick"] = float(rng.uniform(0.012, 0.025))
    elif kind == "button":
        p["holes"] = int(rng.integers(2, 5))
        p["color"] = tuple(int(c) for c in rng.integers(20, 240, 3))
        p["hole_r"] = float(rng.uniform(0.05, 0.09))
    elif kind == "washer":
        p["inner"] = float(rng.uniform(0.35, 0.6))
        p["color"] = _METALS[["silver", "steel", "brass"][int(rng.integers(3))]]
    elif kind == "screw":
        p["length"] = float(rng.uniform(0.6, 0.9))
        p["shank"] = float(rng.uniform(0.08, 0.14))
        p["pitch"] = float(rng.uniform(0.035, 0.06))
        p["color"] = _METALS[["silver", "steel", "brass", "black"][int(rng.integers(4))]]
    elif kind == "earring":
        p["pendant"] = ["drop", "hoop", "bead"][int(rng.integers(3))]
        p["hook_thick"] = float(rng.uniform(0.015, 0.03))
        p["gem_color"] = tuple(int(c) for c in rng.integers(30, 255, 3))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return p


def _pts(points: list[tuple[float, float]], n: int, angle: float) -> np.ndarray:
    """Normalised [0,1]^2 points -> rotated integer pixel coordinates on an n x n canvas."""
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    out = []
    for x, y in points:
        dx, dy = x - 0.5, y - 0.5
        out.append((0.5 + ca * dx - sa * dy, 0.5 + sa * dx + ca * dy))
    return np.round(np.array(out) * n).astype(np.int32)


def _ellipse(mask, n, angle, cx, cy, rx, ry, rot, value, thick=-1):
    c = _pts([(cx, cy)], n, angle)[0]
    axes = (max(1, int(round(rx * n))), max(1, int(round(ry * n))))
    t = thick if thick < 0 else max(1, int(round(thick * n)))
    cv2.ellipse(mask, (int(c[0]), int(c[1])), axes, rot + angle, 0, 360, value, t)


def _line(mask, n, angle, pts, thick, value=1, closed=False):
    p = _pts(pts, n, angle)
    cv2.polylines(mask, [p.reshape(-1, 1, 2)], closed, value, max(1, int(round(thick * n))))


def _shape_mask(p: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(object mask, accent mask: the part drawn in the gem colour), both uint8 0/1."""
    m = np.zeros((n, n), np.uint8)
    acc = np.zeros((n, n), np.uint8)
    a = p["angle"]
    k = p["kind"]
    if k == "ring":
        ry = 0.45 * p["tilt"]
        _ellipse(m, n, a, 0.5, 0.5, 0.45, ry, 0, 1)
        _ellipse(m, n, a, 0.5, 0.5, 0.45 * p["inner"], ry * p["inner"], 0, 0)
        if p["gem"]:
            _ellipse(m, n, a, 0.5, 0.5 - ry, 0.06, 0.06, 0, 1)
            _ellipse(acc, n, a, 0.5, 0.5 - ry, 0.06, 0.06, 0, 1)
    elif k == "hoop_chain":
        _ellipse(m, n, a, 0.5, 0.2, 0.15, 0.15, 0, 1, p["hoop_thick"])
        links = p["links"]
        step = 0.6 / links
        for i in range(links):
            cy = 0.35 + step * (i + 0.5)
            if i % 2 == 0:
                _ellipse(m, n, a, 0.5, cy, 0.035, step * 0.75, 0, 1, p["link_thick"])
            else:
                _ellipse(m, n, a, 0.5, cy, 0.012, step * 0.75, 0, 1, p["link_thick"])
    elif k == "button":
        _ellipse(m, n, a, 0.5, 0.5, 0.45, 0.45, 0, 1)
        h = p["holes"]
        r = p["hole_r"]
        off = 0.1 if h == 2 else 0.12
        for i in range(h):
            t = 2 * math.pi * i / h
            _ellipse(m, n, a, 0.5 + off * math.cos(t), 0.5 + off * math.sin(t), r, r, 0, 0)
    elif k == "washer":
        _ellipse(m, n, a, 0.5, 0.5, 0.45, 0.45, 0, 1)
        _ellipse(m, n, a, 0.5, 0.5, 0.45 * p["inner"], 0.45 * p["inner"], 0, 0)
    elif k == "screw":
        length, w, pitch = p["length"], p["shank"], p["pitch"]
        y0, y1 = 0.5 - length / 2, 0.5 + length / 2
        head = [(0.5 - 1.6 * w, y0), (0.5 + 1.6 * w, y0), (0.5 + 1.6 * w, y0 + 0.6 * w), (0.5 - 1.6 * w, y0 + 0.6 * w)]
        cv2.fillPoly(m, [_pts(head, n, a).reshape(-1, 1, 2)], 1)
        # threaded shank: a zig-zag outline ending in a point
        left, right = [], []
        y = y0 + 0.6 * w
        i = 0
        while y < y1 - w:
            d = w / 2 + (0.25 * w if i % 2 else 0.0)
            left.append((0.5 - d, y))
            right.append((0.5 + d, y + pitch / 2))
            y += pitch / 2
            i += 1
        outline = left + [(0.5, y1)] + right[::-1]
        cv2.fillPoly(m, [_pts(outline, n, a).reshape(-1, 1, 2)], 1)
        # slot in the head (a real gap: background shows through)
        slot = [(0.5 - 0.12 * w, y0), (0.5 + 0.12 * w, y0), (0.5 + 0.12 * w, y0 + 0.3 * w), (0.5 - 0.12 * w, y0 + 0.3 * w)]
        cv2.fillPoly(m, [_pts(slot, n, a).reshape(-1, 1, 2)], 0)
    elif k == "earring":
        t = p["hook_thick"]
        arc = [(0.5 + 0.12 * math.cos(th), 0.2 + 0.12 * math.sin(th)) for th in np.linspace(math.pi * 0.1, math.pi * 1.05, 24)]
        _line(m, n, a, arc[::-1] + [(0.62, 0.2)], t)  # the hook's arc
        _line(m, n, a, [(0.62, 0.2), (0.62, 0.33)], t)  # shank down to the loop
        _ellipse(m, n, a, 0.62, 0.36, 0.03, 0.03, 0, 1, t)  # jump ring
        if p["pendant"] == "drop":
            ts = np.linspace(0, 2 * math.pi, 64)
            drop = [(0.62 + 0.13 * math.sin(t) * math.sin(t / 2), 0.38 + 0.22 * (1 - math.cos(t))) for t in ts]
            cv2.fillPoly(m, [_pts(drop, n, a).reshape(-1, 1, 2)], 1)
            cv2.fillPoly(acc, [_pts(drop, n, a).reshape(-1, 1, 2)], 1)
        elif p["pendant"] == "hoop":
            _ellipse(m, n, a, 0.62, 0.6, 0.2, 0.2, 0, 1, 0.04)
        else:
            _ellipse(m, n, a, 0.62, 0.5, 0.1, 0.1, 0, 1)
            _ellipse(acc, n, a, 0.62, 0.5, 0.1, 0.1, 0, 1)
    return m, acc


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    g = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(g, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


def _shade(p: dict, n: int, accent: np.ndarray) -> np.ndarray:
    """Colour image of the object's material: metallic banding or plastic with a soft highlight."""
    rng = np.random.default_rng(p["seed"])
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    th = np.arctan2(yy - 0.5, xx - 0.5)
    r = np.hypot(xx - 0.5, yy - 0.5)
    if p["kind"] == "button":
        light = 0.8 + 0.25 * np.cos(th - p["light"]) * np.clip(r / 0.45, 0, 1) ** 3  # raised rim
        light -= 0.15 * (np.abs(r - 0.38) < 0.015)
    else:
        light = 0.65 + 0.35 * np.cos(2 * th + p["light"]) + 0.15 * np.cos(6 * r * math.pi)
    light = light + 0.05 * _smooth_noise(rng, (n, n), 8)
    base = np.array(p["color"], np.float32)
    img = light[..., None] * base[None, None, :]
    if "gem_color" in p:
        sel = accent.astype(bool)
        img[sel] = np.array(p["gem_color"], np.float32) * (0.8 + 0.3 * light[sel, None])
    img += 4.0 * rng.standard_normal((n, n, 1)).astype(np.float32)
    return np.clip(img, 0, 255)


def draw(p: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(rgb float32 n x n x 3, hard mask uint8 0/1) of the object on an n x n canvas."""
    mask, accent = _shape_mask(p, n)
    return _shade(p, n, accent), mask
