"""Bytes <-> pixels at the edges of the engine: guarded decode, fast PNG encode.

Decode refuses what it cannot handle with a clear `DecodeError` (the worker turns it into a `failed`
status), never a crash: empty or truncated files, non-images, decompression bombs.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before any pixel is decoded

SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "MPO", "PPM", "TGA"}


class DecodeError(ValueError):
    """The input is not an image we can cut out; the message says why."""


def decode(data: bytes, max_pixels: int = 120_000_000) -> np.ndarray:
    """Bytes -> uint8 RGB HxWx3 with EXIF orientation applied.

    Colour modes (CMYK/YCCK, greyscale, 16-bit, palette, alpha) all end as 8-bit RGB. Animated and
    multi-page files use their first frame.
    """
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise DecodeError("not a recognised image format") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds on garbage
        raise DecodeError(f"unreadable image header: {exc}") from None
    if im.format not in SUPPORTED_FORMATS:
        raise DecodeError(f"unsupported image format {im.format}")
    w, h = im.size
    if w < 1 or h < 1:
        raise DecodeError(f"image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise DecodeError(f"image too large: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
    if im.format == "JPEG" and im.mode in ("RGB", "L"):
        rgb = _decode_jpeg_cv2(data, im)
        if rgb is not None:
            return rgb
    return _decode_pil(im)


def _decode_jpeg_cv2(data: bytes, im: Image.Image) -> np.ndarray | None:
    """OpenCV's JPEG path: faster than PIL's (`python -m bench.speed` times both) and applies EXIF orientation itself."""
    buf = np.frombuffer(data, np.uint8)
    rgb = cv2.imdecode(buf, _IMREAD_RGB) if _IMREAD_RGB is not None else None
    if rgb is None:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if bgr is None:
            return None  # let PIL produce the precise error
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    # the expected oriented size from the header's EXIF tag alone: `ImageOps.exif_transpose` would
    # decode the whole image a second time with PIL
    w, h = im.size
    if _orientation(im) in _SWAPS_AXES:
        w, h = h, w
    if rgb.shape[1::-1] != (w, h):
        return None
    return rgb


_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)  # OpenCV >= 4.10: decode straight to RGB
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: treat as upright, the size check decides
        return 1


def _decode_pil(im: Image.Image) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                peak = 65535.0 if arr.max() > 255 else 255.0
                im = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                im = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8), "L")
            if im.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
                im = im.convert("RGBA")
                # transparent pixels: composite on white, as a viewer would show them
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DecodeError(f"corrupt or truncated image: {exc}") from None
    return np.ascontiguousarray(rgb)


def encode_png(img: np.ndarray, encoder: str = "fpng") -> bytes:
    """uint8 HxW (L) or HxWx4 (RGBA) -> PNG bytes. fpng trades somewhat larger files for a much faster encode than zlib."""
    if encoder == "fpng" and img.ndim == 3:
        import fpng

        return fpng.from_ndarray(np.ascontiguousarray(img))
    if encoder in ("opencv", "fpng"):
        if img.ndim == 3:
            code = cv2.COLOR_RGBA2BGRA if img.shape[2] == 4 else cv2.COLOR_RGB2BGR
            img = cv2.cvtColor(img, code)
        # masks under "fpng" (speed): OpenCV's defaults (level 1 + RLE strategy) are faster than an
        # explicit level 1, which switches to the default strategy, and the files are no larger
        params = [] if encoder == "fpng" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
        ok, buf = cv2.imencode(".png", img, params)
        if not ok:
            raise RuntimeError("PNG encode failed")
        return buf.tobytes()
    if encoder == "pil":
        out = io.BytesIO()
        Image.fromarray(img).save(out, format="PNG")
        return out.getvalue()
    raise ValueError(f"unknown PNG encoder {encoder!r}")
