"""Light and camera models of the judge family.

Shadows are coverage maps in [0, 1] that darken the backdrop multiplicatively (its texture shows
through); a reflection blends a mirrored, fading copy of the object into a glossy backdrop. Camera
effects act on the finished frame. Each shadow model is built from the object's own alpha:

- contact: the silhouette grown a little, nudged away from the light, blurred by a few per cent of
  the object's size, and dark (the occlusion right under the base);
- soft: the silhouette offset along the light direction, slightly stretched, widely blurred,
  15-50 % darker;
- hard: the same offset with a flash's sharp edge (blur of a pixel or two)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Light:
    angle: float  # direction the shadows fall, radians (0 = right, pi/2 = down)
    contact: float  # darkness of the contact shadow at full coverage (0 when none)
    soft: float
    hard: float
    offset: float  # drop shadow offset, fraction of the object's size
    blur: float  # soft shadow blur, fraction of the object's size
    stretch: float  # drop shadow length along the light direction (1 = same as the object)

    def meta(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def _shifted(alpha: np.ndarray, dx: float, dy: float, stretch: float, angle: float) -> np.ndarray:
    """The silhouette moved by (dx, dy) and stretched along `angle` about its centre."""
    h, w = alpha.shape
    c, s = np.cos(angle), np.sin(angle)
    # stretch along the light direction: R diag(stretch, 1) R^T
    A = np.array([[c * c * stretch + s * s, c * s * (stretch - 1)], [c * s * (stretch - 1), s * s * stretch + c * c]], np.float32)
    centre = np.float32([w / 2, h / 2])
    t = centre - A @ centre + np.float32([dx, dy])
    M = np.hstack([A, t[:, None]])
    return cv2.warpAffine(alpha, M, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def shadow_layers(alpha: np.ndarray, size: float, light: Light) -> list[tuple[float, np.ndarray]]:
    """(darkness, coverage) pairs of one object's shadows, on the object's padded region."""
    out = []
    c, s = np.cos(light.angle), np.sin(light.angle)
    if light.contact > 0:
        k = max(1, int(0.02 * size))
        grown = cv2.dilate(alpha, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
        cov = _shifted(grown, 0.015 * size * c, 0.015 * size * s + 0.01 * size, 1.0, light.angle)
        cov = cv2.GaussianBlur(cov, (0, 0), max(0.8, 0.025 * size))
        out.append((light.contact, np.clip(cov * 1.3, 0, 1)))
    for strength, blur in ((light.soft, light.blur * size), (light.hard, 0.7)):
        if strength > 0:
            d = light.offset * size
            cov = _shifted(alpha, d * c, d * s, light.stretch, light.angle)
            cov = cv2.GaussianBlur(cov, (0, 0), max(0.6, blur))
            out.append((strength, np.clip(cov, 0, 1)))
    return out


def shadow_pad(size: float, light: Light, extent: float | None = None) -> int:
    """How far an object's shadows can reach beyond its box (`size`: square root of its area;
    `extent`: its box's longer side, which the stretch about the centre moves outward)."""
    extent = size if extent is None else extent
    reach = 0.05 * size
    if light.soft or light.hard:
        reach = max(reach, light.offset * size * light.stretch + 3.5 * light.blur * size + 0.5 * (light.stretch - 1) * extent)
    return int(reach) + 4


def reflection(rgb: np.ndarray, alpha: np.ndarray, opacity: float, fade: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The object mirrored below its base line, fading to nothing over `fade` of its height:
    (straight colour, blend weight, coverage); the caller places it right under the object."""
    ys = np.nonzero(alpha.max(axis=1) > 0.02)[0]
    bottom = ys.max() + 1 if len(ys) else alpha.shape[0]
    a = alpha[:bottom][::-1]
    col = rgb[:bottom][::-1]
    h = a.shape[0]
    ramp = np.clip(1 - np.arange(h, dtype=np.float32) / max(1.0, fade * h), 0, 1)[:, None]
    cov = a * ramp
    blurred = cv2.GaussianBlur(col, (0, 0), 1.0)
    return blurred, cov * opacity, cov


def colour_cast(img: np.ndarray, gains: np.ndarray) -> np.ndarray:
    return img * gains[None, None, :]


def vignette(img: np.ndarray, strength: float, cx: float, cy: float) -> np.ndarray:
    h, w = img.shape[:2]
    yy, xx = np.ogrid[0:h, 0:w]
    r2 = ((xx - cx * w) / (0.5 * w)) ** 2 + ((yy - cy * h) / (0.5 * h)) ** 2
    return img * (1 - strength * np.clip(r2 / 2, 0, 1) ** 1.3)[..., None].astype(np.float32)


def defocus(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigma)


def sensor_noise(img: np.ndarray, z_luma: np.ndarray, z_chroma: np.ndarray, shot: float, read: float) -> np.ndarray:
    """Signal-dependent noise: variance shot*signal + read^2 in luma, half as much in colour blotches.
    The random draws come in (z_*) so that a frame and its twin get the same grain."""
    lum = img.mean(axis=2, keepdims=True)
    sd = np.sqrt(shot * np.clip(lum, 0, 1) + read * read)
    return img + sd * (z_luma[..., None] + 0.5 * z_chroma)


def chroma_field(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Colour noise is coarser than luma noise (demosaicing spreads it over a few pixels)."""
    z = rng.standard_normal((h // 2 + 1, w // 2 + 1, 3)).astype(np.float32)
    return cv2.resize(z, (w, h), interpolation=cv2.INTER_LINEAR)
