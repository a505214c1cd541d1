"""Bytes <-> pixels at the edges of the engine: guarded decode, fast PNG encode.

Decode refuses what it cannot handle with a clear `DecodeError` (the worker turns it into a `failed`
status), never a crash: empty or truncated files, non-images, decompression bombs.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterable

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
        rgb = _decode_cv2(data, im)
        if rgb is not None:
            return rgb
    if im.format == "PNG" and im.mode in ("RGB", "L") and _orientation(im) == 1:
        # 8-bit colour or grey without transparency: OpenCV decodes straight into the one array,
        # where PIL's path holds its image, a bytes copy and the array at once (3x a large frame)
        rgb = _decode_cv2(data, im)
        if rgb is not None:
            return rgb
    return _decode_pil(im)


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header alone, or None where it is unreadable (`decode` then says why)."""
    try:
        return Image.open(io.BytesIO(data)).size if data else None
    except Exception:  # noqa: BLE001 - PIL raises many kinds on garbage
        return None


def _decode_cv2(data: bytes, im: Image.Image) -> np.ndarray | None:
    """OpenCV's path (JPEG, plain PNG): faster than PIL's (`python -m bench.speed` times both), one
    array only, and applies EXIF orientation itself."""
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
    if im.format == "PNG" and "exif" not in im.info:
        # PIL reads a PNG's EXIF by decoding the whole image (an eXIf chunk may follow the pixels);
        # one before them is in the header, and that is where writers put it
        return 1
    try:
        return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: treat as upright, the size check decides
        return 1


def _decode_pil(im: Image.Image) -> np.ndarray:
    # Memory: each step drops the previous image before the next one is made, and transparency is
    # flattened band by band into the RGB result, so a frame with alpha peaks near 7 bytes per pixel
    # (RGBA + RGB) instead of the 15+ that whole-image compositing copies take.
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
                del arr
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                im = Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8), "L")
                del arr
            if im.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
                im = im.convert("RGBA")
                rgba = np.asarray(im)
                del im
                # transparent pixels: composite on white, as a viewer would show them
                return flatten_on_white(rgba)
            if im.mode != "RGB":
                im = im.convert("RGB")
            rgb = np.asarray(im)
            del im
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DecodeError(f"corrupt or truncated image: {exc}") from None
    return np.ascontiguousarray(rgb)


def flatten_on_white(rgba: np.ndarray, rows_per_step: int = 0) -> np.ndarray:
    """RGBA -> RGB over a white background, a band of rows at a time (bounded temporaries)."""
    h, w = rgba.shape[:2]
    out = np.empty((h, w, 3), np.uint8)
    step = rows_per_step or max(1, (1 << 21) // max(1, w))  # ≈ 2 M pixels per band
    for y in range(0, h, step):
        band = rgba[y : y + step]
        a = band[..., 3:4].astype(np.uint16)
        out[y : y + step] = (band[..., :3] * a + 255 * (255 - a) + 127) // 255
    return out


# OpenCV's reduced JPEG decodes: the DCT is scaled, the full frame never exists in memory
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def decode_reduced(data: bytes, min_side: int, max_pixels: int = 120_000_000) -> tuple[np.ndarray, int]:
    """RGB at 1/2, 1/4 or 1/8 scale, the smallest whose longest side still has `min_side` pixels,
    for the network passes of a frame far larger than they need; returns (rgb, factor).

    JPEG only scales inside the decoder (factor 1 otherwise: a full decode, same as `decode`)."""
    head = Image.open(io.BytesIO(data)) if data else None
    if head is None or head.format != "JPEG" or head.mode not in ("RGB", "L"):
        return decode(data, max_pixels), 1
    w, h = head.size
    if w * h > max_pixels:
        raise DecodeError(f"image too large: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
    if _orientation(head) in _SWAPS_AXES:
        w, h = h, w
    for factor, flag in _REDUCED:
        if max(w, h) // factor >= min_side:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
            if bgr is None:
                break
            if bgr.shape[1::-1] != ((w + factor - 1) // factor, (h + factor - 1) // factor):
                break  # orientation not applied as expected: the full decode handles it
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), factor
    return decode(data, max_pixels), 1


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


_PNG_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
PNG_STREAM_LEVEL = 1  # zlib level of the streamed encoder: fast, and cut-outs (zeros beyond the object) still pack well


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode_png_rows(width: int, height: int, channels: int, blocks: Iterable[np.ndarray]) -> bytes:
    """A PNG made from blocks of rows (uint8, each rows x width [x channels], top to bottom, `height`
    rows in all), compressed as they come: the whole image never exists in memory, only one block
    and the compressed output. Rows use PNG's "Sub" filter (each byte minus the pixel's left
    neighbour's), which lets zlib pack photographic rows far better than raw bytes."""
    if channels not in _PNG_COLOUR_TYPES:
        raise ValueError(f"PNG rows need 1, 3 or 4 channels, not {channels}")
    out = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[channels], 0, 0, 0))]
    z = zlib.compressobj(PNG_STREAM_LEVEL)
    rows_done = 0
    for block in blocks:
        flat = np.ascontiguousarray(block).reshape(block.shape[0], width * channels)
        raw = np.empty((flat.shape[0], flat.shape[1] + 1), np.uint8)
        raw[:, 0] = 1  # filter type Sub
        raw[:, 1 : 1 + channels] = flat[:, :channels]
        np.subtract(flat[:, channels:], flat[:, :-channels], out=raw[:, 1 + channels :])  # uint8: modulo 256, as PNG wants
        data = z.compress(raw)
        if data:
            out.append(_chunk(b"IDAT", data))
        rows_done += flat.shape[0]
    if rows_done != height:
        raise ValueError(f"PNG rows: got {rows_done}, expected {height}")
    out.append(_chunk(b"IDAT", z.flush()))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)
