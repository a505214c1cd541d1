"""On-disk format of the catalog sets (the tuning and the judge family write the same files).

A set is a directory `bench/out/sets/<set-name>/` holding, per sample NAME:

- `NAME.jpg`        the frame as a camera saves it (JPEG at `meta["jpeg_quality"]`);
- `NAME.alpha.png`  ground-truth alpha, uint8, objects only (shadows and reflections are 0);
- `NAME.shadow.png` uint8 mask of where a shadow or reflection changes the backdrop (255 = fully
                    affected, soft edges allowed; all zero when the frame has none);
- `NAME.json`       metadata (see `validate_meta`), written last: its presence marks a complete sample.

Frames with a shadow or reflection have a twin `NAME-clean`: the same frame without them
(`meta["twin"]` on the shadowed one, `meta["twin_of"]` on the clean one).

This module is I/O only: it draws nothing and knows no generator.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from .paths import OUT

FORMAT_VERSION = 1
BACKGROUND_KINDS = (
    "sweep", "paper", "marble", "linen", "velvet", "leather", "wood",
    "concrete", "tiles", "brick", "gravel", "fabric-print", "acrylic",
)  # a family may add its own kinds
EFFECTS = frozenset({
    "contact-shadow", "soft-shadow", "hard-shadow", "reflection",
    "vignette", "colour-cast", "noise", "defocus", "jpeg",
})
SHADOW_EFFECTS = frozenset({"contact-shadow", "soft-shadow", "hard-shadow", "reflection"})
_REQUIRED = ("version", "family", "name", "size", "background", "effects", "jpeg_quality", "twin", "twin_of", "objects")
_SUFFIXES = {"image": ".jpg", "alpha": ".alpha.png", "shadow": ".shadow.png", "meta": ".json"}


class FormatError(ValueError):
    """A sample that does not follow the catalog format."""


def set_dir(set_name: str, out_root: Path | None = None) -> Path:
    return (out_root or OUT) / "sets" / set_name


def paths(set_dir: Path, name: str) -> dict[str, Path]:
    d = Path(set_dir)
    return {k: d / f"{name}{suffix}" for k, suffix in _SUFFIXES.items()}


def validate_meta(meta: dict) -> None:
    """Raise FormatError naming the first field that does not follow the format."""
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise FormatError(f"metadata lacks {', '.join(missing)}")
    if meta["version"] != FORMAT_VERSION:
        raise FormatError(f"format version {meta['version']!r}, expected {FORMAT_VERSION}")
    size = meta["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise FormatError(f"size must be [W, H] of positive ints, got {size!r}")
    if not isinstance(meta["background"], dict) or not isinstance(meta["background"].get("kind"), str):
        raise FormatError("background must be an object with a string 'kind'")
    unknown = [e for e in meta["effects"] if e not in EFFECTS]
    if unknown:
        raise FormatError(f"unknown effects {unknown}: allowed {sorted(EFFECTS)}")
    q = meta["jpeg_quality"]
    if not (isinstance(q, int) and 1 <= q <= 100):
        raise FormatError(f"jpeg_quality must be an int in 1..100, got {q!r}")
    for obj in meta["objects"]:
        for k in ("id", "kind", "bbox", "area_frac", "pair"):
            if k not in obj:
                raise FormatError(f"object {obj.get('id')!r} lacks {k!r}")


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def encode_image(ext: str, arr: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, arr, params or [])
    if not ok:
        raise FormatError(f"cannot encode {ext}")
    return buf.tobytes()


def _check_plane(what: str, arr: np.ndarray, w: int, h: int) -> None:
    if arr.dtype != np.uint8 or arr.shape != (h, w):
        raise FormatError(f"{what} must be uint8 {h}x{w}, got {arr.dtype} {arr.shape}")


def write_sample(set_dir: Path, name: str, rgb: np.ndarray, alpha: np.ndarray, shadow: np.ndarray, meta: dict) -> None:
    """Write one sample; each file atomically, the metadata last (a reader never sees half a sample).

    `rgb` is the frame before JPEG: it is saved at `meta["jpeg_quality"]`."""
    meta = {**meta, "name": name}
    validate_meta(meta)
    w, h = meta["size"]
    if rgb.dtype != np.uint8 or rgb.shape != (h, w, 3):
        raise FormatError(f"rgb must be uint8 {h}x{w}x3, got {rgb.dtype} {rgb.shape}")
    _check_plane("alpha", alpha, w, h)
    _check_plane("shadow", shadow, w, h)
    p = paths(set_dir, name)
    p["meta"].parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    write_atomic(p["image"], encode_image(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(meta["jpeg_quality"])]))
    write_atomic(p["alpha"], encode_image(".png", alpha))
    write_atomic(p["shadow"], encode_image(".png", shadow))
    write_atomic(p["meta"], json.dumps(meta, indent=1).encode())


def list_samples(set_dir: Path, limit: int | None = None, twins: bool = True) -> list[str]:
    """Complete samples (those with metadata and all three images), sorted; without the `-clean`
    twins when `twins` is False."""
    d = Path(set_dir)
    if not d.is_dir():
        return []
    out = []
    for name in sorted(p.name[: -len(".json")] for p in d.glob("*.json")):
        if name == "manifest" or not all(q.exists() for q in paths(d, name).values()):
            continue
        if not twins and load_meta(d, name).get("twin_of"):
            continue
        out.append(name)
    return out[:limit] if limit else out


def load_meta(set_dir: Path, name: str) -> dict:
    return json.loads(paths(set_dir, name)["meta"].read_text())


def load_sample(set_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(RGB decoded from the JPEG, gt alpha, shadow mask, metadata)."""
    p = paths(set_dir, name)
    img = cv2.imread(str(p["image"]), cv2.IMREAD_COLOR)
    alpha = cv2.imread(str(p["alpha"]), cv2.IMREAD_GRAYSCALE)
    shadow = cv2.imread(str(p["shadow"]), cv2.IMREAD_GRAYSCALE)
    if img is None or alpha is None or shadow is None:
        raise FormatError(f"sample {name!r} in {set_dir} is incomplete or unreadable")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), alpha, shadow, load_meta(set_dir, name)


def read_manifest(set_dir: Path) -> dict | None:
    p = Path(set_dir) / "manifest.json"
    return json.loads(p.read_text()) if p.exists() else None


def write_manifest(set_dir: Path, manifest: dict) -> None:
    """A generator's cache key (its version, seed, count): written after the samples."""
    Path(set_dir).mkdir(parents=True, exist_ok=True)
    write_atomic(Path(set_dir) / "manifest.json", json.dumps(manifest, indent=1).encode())
