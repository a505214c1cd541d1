"""A hostile and odd input corpus, generated in memory (nothing downloaded, deterministic).

Every case says what must happen to it: `size` = the engine returns a PNG of exactly that (oriented)
size; `refuse` = it raises DecodeError and the message contains that text. Used by the engine-level
test (every case through `Engine.cutout`) and the worker-level test (the whole corpus as one batch).

YCCK: PIL cannot write it, so the YCC conversion is done here and the Adobe APP14 transform flag of a
CMYK JPEG is set to 2 (YCCK); libjpeg then decodes it as YCCK, like a Photoshop file.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

HUGE = (9000, 6000)  # valid and big: the tiled detection path at full resolution


@dataclass(frozen=True)
class Case:
    name: str  # file name, extension included (sometimes a lying one)
    data: bytes
    size: tuple[int, int] | None = None  # expected output (width, height) when it must succeed
    refuse: str | None = None  # expected text of the DecodeError when it must be refused
    content_type: str = "application/octet-stream"


def scene(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A gradient with a dark disc off-centre (an object to cut out), uint8 RGB."""
    rng = np.random.default_rng(seed)
    y, x = np.ogrid[0:h, 0:w]
    out = np.empty((h, w, 3), np.uint8)
    out[..., 0] = (200 + 40 * x / max(w, 1)).astype(np.uint8)
    out[..., 1] = (210 + 30 * y / max(h, 1)).astype(np.uint8)
    out[..., 2] = 225
    cx, cy, r = w * 0.4, h * 0.55, max(1.0, min(w, h) * 0.22)
    out[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = (40, int(60 + 40 * rng.random()), 140)
    return out


def save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_claiming(w: int, h: int) -> bytes:
    """A ~60-byte PNG whose header claims w x h RGB pixels: a decompression bomb's signature."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")


def jpeg_claiming(w: int, h: int) -> bytes:
    """A small real JPEG whose SOF0 frame header is patched to claim w x h pixels."""
    data = bytearray(save(Image.fromarray(scene(64, 48)), "JPEG"))
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def gif_claiming(w: int, h: int) -> bytes:
    data = bytearray(save(Image.fromarray(scene(32, 24)).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", w, h)  # logical screen size
    i = data.index(b"\x2c")  # image descriptor
    data[i + 5 : i + 9] = struct.pack("<HH", w, h)
    return bytes(data)


def png48(rgb: np.ndarray) -> bytes:
    """16 bits per channel RGB (PIL cannot write it; OpenCV can)."""
    import cv2

    ok, buf = cv2.imencode(".png", rgb[..., ::-1].astype(np.uint16) * 257)
    assert ok
    return buf.tobytes()


def with_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(Image.fromarray(rgb), "JPEG", exif=exif.tobytes(), quality=90)


def ycck_jpeg(rgb: np.ndarray) -> bytes:
    """A YCCK JPEG: CMYK -> (Y, Cb, Cr of the complemented CMY, K), stored with Adobe transform=2."""
    cmyk = np.asarray(Image.fromarray(rgb).convert("CMYK"))
    comp = 255.0 - cmyk[..., :3].astype(np.float32)  # libjpeg: C = 255 - R of the decoded YCC
    r, g, b = comp[..., 0], comp[..., 1], comp[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    planes = np.stack([y, cb, cr, cmyk[..., 3].astype(np.float32)], -1)
    data = bytearray(save(Image.fromarray(np.clip(planes + 0.5, 0, 255).astype(np.uint8), "CMYK"), "JPEG", quality=95))
    i = data.index(b"\xff\xee\x00\x0eAdobe")
    data[i + 15] = 2  # marker(2) len(2) "Adobe"(5) version(2) flags0(2) flags1(2) -> transform
    return bytes(data)


def animated(fmt: str, w: int, h: int) -> bytes:
    frames = [Image.fromarray(scene(w, h, seed=i)) for i in range(3)]
    if fmt == "GIF":
        frames = [f.convert("P") for f in frames]
    return save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


@lru_cache(maxsize=1)
def build() -> tuple[Case, ...]:
    """The corpus (42 files), built once per process; the HUGE JPEG takes a second to encode."""
    rgb = scene(160, 120)
    jpeg = save(Image.fromarray(rgb), "JPEG", quality=90)
    png = save(Image.fromarray(rgb), "PNG")
    cases = [
        # --- refused: not an image, or not a whole one, or a bomb
        Case("empty.jpg", b"", refuse="empty file"),
        Case("truncated-half.jpg", jpeg[: len(jpeg) // 2], refuse="truncated"),
        Case("truncated-header.jpg", jpeg[:300], refuse="truncated"),
        Case("truncated.png", png[: len(png) // 2], refuse="truncated"),
        Case("magic-only.png", png[:8], refuse="not a recognised image"),
        Case("bomb-50kx50k.png", png_claiming(50_000, 50_000), refuse="too large"),
        Case("bomb-60kx60k.jpg", jpeg_claiming(60_000, 60_000), refuse="too large"),
        Case("bomb-60kx60k.gif", gif_claiming(60_000, 60_000), refuse="too large"),
        Case("page.jpg", b"<!doctype html><html><body><img src=x></body></html>", refuse="not a recognised image",
             content_type="text/html"),
        Case("vector.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
             b'<rect width="10" height="10"/></svg>', refuse="not a recognised image", content_type="image/svg+xml"),
        Case("notes.webp", b"just some text, not a picture\n" * 20, refuse="not a recognised image",
             content_type="text/plain"),
        Case("noise.jpg", b"\xff\xd8\xff\xe0" + np.random.default_rng(1).bytes(4000), refuse="truncated"),
        Case("icon.png", save(Image.fromarray(scene(32, 32)), "ICO"), refuse="unsupported image format ICO"),
        # --- accepted: odd but valid
        Case("tiny-1x1.png", save(Image.fromarray(scene(1, 1)), "PNG"), size=(1, 1)),
        Case("tiny-1x1.jpg", save(Image.fromarray(scene(1, 1)), "JPEG"), size=(1, 1)),
        Case("strip-10000x3.png", save(Image.fromarray(scene(10000, 3)), "PNG"), size=(10000, 3)),
        Case("strip-3x10000.png", save(Image.fromarray(scene(3, 10000)), "PNG"), size=(3, 10000)),
        Case("cmyk.jpg", save(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=90), size=(160, 120)),
        Case("ycck.jpg", ycck_jpeg(rgb), size=(160, 120)),
        Case("grey.jpg", save(Image.fromarray(rgb).convert("L"), "JPEG"), size=(160, 120)),
        Case("grey.png", save(Image.fromarray(rgb).convert("L"), "PNG"), size=(160, 120)),
        Case("grey16.png", save(Image.fromarray((rgb[..., 0].astype(np.uint16) * 257)), "PNG"), size=(160, 120)),
        Case("rgb48.png", png48(rgb),
             size=(160, 120)),
        Case("palette-trns.png", save(Image.fromarray(rgb).convert("P"), "PNG", transparency=0), size=(160, 120)),
        Case("rgba-clear.png", save(Image.fromarray(np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])), "PNG"),
             size=(160, 120)),
        Case("grey-alpha.png", save(Image.fromarray(rgb).convert("LA"), "PNG"), size=(160, 120)),
        Case("animated.gif", animated("GIF", 96, 64), size=(96, 64)),
        Case("animated.webp", animated("WEBP", 96, 64), size=(96, 64)),
        Case("pages.tiff", save(Image.fromarray(rgb), "TIFF", save_all=True,
                                append_images=[Image.fromarray(scene(80, 60, 2))]), size=(160, 120)),
        Case("float.tiff", save(Image.fromarray(rgb[..., 1].astype(np.float32) / 255.0, "F"), "TIFF"), size=(160, 120)),
        Case("bitmap.bmp", save(Image.fromarray(rgb), "BMP"), size=(160, 120)),
        Case("really-a-png.jpg", png, size=(160, 120), content_type="text/plain"),
        Case("really-a-jpeg.png", jpeg, size=(160, 120), content_type="image/gif"),
        Case("huge-9000x6000.jpg", save(Image.fromarray(scene(*HUGE)), "JPEG", quality=80), size=HUGE,
             content_type="image/jpeg"),
    ]
    for o in range(1, 9):  # EXIF orientations: 5-8 swap width and height
        size = (120, 160) if o >= 5 else (160, 120)
        cases.append(Case(f"exif-orientation-{o}.jpg", with_orientation(rgb, o), size=size, content_type="image/jpeg"))
    assert len({c.name for c in cases}) == len(cases)
    return tuple(cases)
