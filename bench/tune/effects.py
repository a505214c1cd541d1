"""Light and camera of the tuning family: cast shadows, reflections, colour cast, vignette, noise,
defocus. Pure numpy/OpenCV on float32 frames; every function takes its random draws from `rng`.

Shadows multiply the backdrop (its texture stays visible through them, as in a photo) and are
returned as an attenuation map so the generator can record where they are.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _shift(a: np.ndarray, dx: float, dy: float, sy: float = 1.0, shear: float = 0.0, base_y: float = 0.0) -> np.ndarray:
    """Move `a` by (dx, dy), squash it vertically by `sy` about the line y = base_y and shear it."""
    h, w = a.shape
    m = np.float32([[1, shear, dx - shear * base_y], [0, sy, dy + base_y * (1 - sy)]])
    return cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def object_shadow(rng: np.random.Generator, alpha: np.ndarray, box: tuple[int, int, int, int], deep: bool = False) -> tuple[np.ndarray, str]:
    """Attenuation (0..1) that one object casts: a contact, soft or hard shadow. `alpha` is the
    object's own float alpha over the frame, `box` its (x, y, w, h); `deep`: a key light with little
    fill, whose hard shadow can leave a fifth of the lit backdrop."""
    x, y, w, h = box
    size = math.sqrt(w * h)
    kind = rng.choice(["contact", "soft", "soft", "hard"])
    if kind == "contact":
        d = rng.uniform(0.01, 0.04) * h
        s = _shift(alpha, rng.uniform(-0.02, 0.02) * w, d)
        s = cv2.GaussianBlur(s, (0, 0), max(0.8, rng.uniform(0.01, 0.04) * size))
        strength = rng.uniform(0.35, 0.9 if deep else 0.8)
    else:
        ang = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(0.03, 0.18) * size
        squash = rng.uniform(0.35, 1.0) if rng.random() < 0.5 else 1.0
        s = _shift(alpha, dist * math.cos(ang), dist * math.sin(ang), squash, rng.uniform(-0.6, 0.6) if squash < 1 else 0.0, y + h)
        sigma = rng.uniform(0.03, 0.14) * size if kind == "soft" else rng.uniform(0.003, 0.012) * size
        s = cv2.GaussianBlur(s, (0, 0), max(0.6, sigma))
        if not deep:
            strength = rng.uniform(0.15, 0.55)
        else:
            strength = rng.uniform(0.15, 0.6) if kind == "soft" else rng.uniform(0.25, 0.8)
    return np.clip(s * strength, 0, 1), str(kind)


def _grown(a: np.ndarray, radius: int, sigma: float) -> np.ndarray:
    """`a` grown by a disc of `radius` px, then blurred by `sigma`: darkness hugging an outline."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.GaussianBlur(cv2.dilate(a, disc), (0, 0), sigma)


def hard_light_shadows(rng: np.random.Generator, alpha: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, list[str]]:
    """The shadows a hard-lit set gives one object, strong and many (draw 4): a dark occlusion line
    hugging the lower half of its outline, a long cast shadow (up to 0.8 of its size away, sharp or a
    little soft, up to 90 % deep), and as often as not a second light's weaker shadow on another side
    or a halo all round (a flat-lay shot lit from above). Attenuations combine as light does: each
    multiplies what the others left. The kinds are the catalog format's (contact, soft, hard), so
    reports group them with the other draws' shadows."""
    _, y, w, h = box
    size = math.sqrt(w * h)
    kinds = []
    # occlusion where the object meets the ground: the outline's lower half, grown a little and blurred
    lower = alpha.copy()
    lower[: int(y + 0.5 * h)] = 0
    grow = max(1, int(round(rng.uniform(0.01, 0.05) * size)))
    occ = _grown(lower, grow, max(0.7, rng.uniform(0.3, 1.0) * grow))
    total = 1 - np.clip(occ * rng.uniform(0.5, 0.95), 0, 1)
    kinds.append("contact")
    # the key light's cast shadow: long, often squashed onto the floor
    ang = rng.uniform(0, 2 * math.pi)
    dist = rng.uniform(0.15, 0.8) * size
    squash = rng.uniform(0.3, 1.0) if rng.random() < 0.6 else 1.0
    s = _shift(alpha, dist * math.cos(ang), dist * math.sin(ang), squash, rng.uniform(-0.8, 0.8) if squash < 1 else 0.0, y + h)
    sigma = rng.uniform(0.002, 0.05) * size
    s = cv2.GaussianBlur(s, (0, 0), max(0.6, sigma))
    total *= 1 - np.clip(s * rng.uniform(0.35, 0.9), 0, 1)
    kinds.append("hard" if sigma < 0.015 * size else "soft")
    second = rng.random()
    if second < 0.35:  # a fill light's weaker shadow, another way
        ang2 = ang + rng.uniform(0.6, 1.4) * math.pi
        d2 = rng.uniform(0.05, 0.4) * size
        s2 = _shift(alpha, d2 * math.cos(ang2), d2 * math.sin(ang2))
        s2 = cv2.GaussianBlur(s2, (0, 0), max(0.6, rng.uniform(0.01, 0.08) * size))
        total *= 1 - np.clip(s2 * rng.uniform(0.15, 0.45), 0, 1)
        kinds.append("soft")
    elif second < 0.6:  # lit from above: a soft halo all round
        r = max(1, int(round(rng.uniform(0.03, 0.12) * size)))
        total *= 1 - np.clip(_grown(alpha, r, max(0.8, 0.7 * r)) * rng.uniform(0.2, 0.55), 0, 1)
        kinds.append("soft")
    return 1 - total, kinds


def dark_material(rng: np.random.Generator, rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The product made of a dark material (black leather, dark plastic, blackened steel): its own
    shading kept at a fraction of its contrast around a dark level with a slight tint. A flat dark
    product on a light ground is what a shadow classifier must not take for a shadow."""
    rgb = rgb.astype(np.float32)
    lum = rgb.mean(axis=2)
    w = alpha.astype(np.float32) / 255.0
    mean = float((lum * w).sum() / max(w.sum(), 1e-6)) + 1.0
    shading = 1.0 + rng.uniform(0.1, 0.6) * (lum / mean - 1.0)
    colour = rng.uniform(12, 55) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    return np.clip(shading[..., None] * colour, 0, 255).astype(np.uint8)


def apply_shadows(bg: np.ndarray, attenuation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darken the backdrop multiplicatively, a little bluer than it is (skylight fills shadows)."""
    tint = np.float32([1.0, rng.uniform(0.92, 1.0), rng.uniform(0.8, 1.0)])[::-1] if rng.random() < 0.5 else np.ones(3, np.float32)
    return bg * (1.0 - attenuation[..., None] * tint)


def reflection(rng: np.random.Generator, fg: np.ndarray, alpha: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A mirror image of the object below its base, fading downward: (colour, opacity) maps."""
    x, y, w, h = box
    H = alpha.shape[0]
    base = y + h
    n = min(h, H - base)
    col = np.zeros_like(fg)
    op = np.zeros_like(alpha)
    if n <= 1:
        return col, op
    col[base : base + n] = fg[base - 1 : base - 1 - n : -1] if base - 1 - n >= 0 else fg[base - 1 :: -1][:n]
    op[base : base + n] = alpha[base - 1 : base - 1 - n : -1] if base - 1 - n >= 0 else alpha[base - 1 :: -1][:n]
    fade_len = max(2.0, rng.uniform(0.3, 0.8) * h)
    fade = np.clip(1.0 - (np.arange(H, dtype=np.float32) - base) / fade_len, 0, 1)
    fade[:base] = 0
    op *= fade[:, None] * rng.uniform(0.15, 0.45)
    blur = rng.uniform(0.0, 0.01) * h
    if blur > 0.5:
        op = cv2.GaussianBlur(op, (0, 0), blur)
        col = cv2.GaussianBlur(col, (0, 0), blur)
    return col, op


def camera(rng: np.random.Generator, img: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """White balance off, vignetting, defocus and sensor noise, each drawn or not."""
    h, w = img.shape[:2]
    done = []
    if rng.random() < 0.6:
        img = img * rng.uniform(0.88, 1.12, 3).astype(np.float32)
        done.append("colour-cast")
    if rng.random() < 0.5:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2
        img = img * (1 - rng.uniform(0.1, 0.35) * r2)[..., None]
        done.append("vignette")
    if rng.random() < 0.35:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.4))
        done.append("defocus")
    if rng.random() < 0.7:
        a, b = rng.uniform(0.5, 2.5), rng.uniform(0.05, 0.3)
        sigma = a + b * np.sqrt(np.clip(img, 0, 255))
        img = img + rng.standard_normal(img.shape).astype(np.float32) * sigma
        done.append("noise")
    return np.clip(img, 0, 255), done
