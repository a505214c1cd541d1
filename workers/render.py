"""A cut-out (RGBA pixels) -> the outputs of its profiles: product box, crop + margin, scale to a share
of the canvas, placement, background, encoders (bytes out).

Pure numpy-in / numpy-or-bytes-out functions; the profile (smallcut/profiles.py) says what to do.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from smallcut.profiles import Profile
from workers.engine.roi import Box  # the engine's half-open pixel box

# alpha at or above this counts for a product's box: the faint haze at an object's soft edge (and
# what little the network leaves on a backdrop) is not where a catalog crop should end
BOX_ALPHA = 32
# an object of a split frame has at least this share of the frame and MIN_OBJECT_PX pixels: specks
# and crumbs are not products, a ring in a six-ring tray shot is
MIN_OBJECT_FRAC = 0.0005
MIN_OBJECT_PX = 64


@dataclass(frozen=True)
class Obj:
    box: Box
    area: int  # pixels at or above BOX_ALPHA
    label: int  # its pixels (the soft edge included) in the labels image split_objects returns


@dataclass(frozen=True)
class Layout:
    """Where the source lands: canvas (w, h); canvas = source * factor + (dx, dy); the source
    region `crop` (None: all of it) is what may show."""

    canvas: tuple[int, int]
    factor: float
    dx: float
    dy: float
    crop: Box | None


@dataclass
class Rendered:
    profile: Profile
    data: bytes
    width: int
    height: int
    box: list[int] | None = None  # the product's [x, y, w, h] on the canvas
    obj: int | None = None  # number of the object (split outputs), from 1
    source_box: list[int] | None = None  # the object's box in the input frame
    area: int | None = None  # the object's pixels in the input frame


def product_box(alpha: np.ndarray, threshold: int = BOX_ALPHA) -> Box | None:
    """Bounding box of the pixels with alpha >= threshold, or None when there are none."""
    on = alpha >= threshold
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    if rows.size == 0:
        return None
    return Box(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def split_objects(alpha: np.ndarray, min_frac: float = MIN_OBJECT_FRAC,
                  min_px: int = MIN_OBJECT_PX) -> tuple[list[Obj], np.ndarray]:
    """The separate objects of a cut-out and the labels image: connected regions of alpha > 0
    (8-connected, so an object's soft edge stays with it) whose core (alpha >= BOX_ALPHA) is big
    enough; in reading order (rows of objects top to bottom, left to right within a row) so numbers
    are stable. Work per object is bounded by its box, not the frame (a tray of rings on 24 MP)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).view(np.uint8), connectivity=8)
    if count <= 1:
        return [], labels
    core = alpha >= BOX_ALPHA
    areas = np.bincount(labels[core].ravel(), minlength=count)
    floor = max(min_px, min_frac * alpha.size)
    objs = []
    for label in np.flatnonzero(areas >= floor):
        if label == 0:
            continue
        x, y, w, h = (int(v) for v in stats[label, :4])
        sub = np.where(labels[y : y + h, x : x + w] == label, alpha[y : y + h, x : x + w], 0)
        box = product_box(sub)
        if box is not None:
            box = Box(box.x0 + x, box.y0 + y, box.x1 + x, box.y1 + y)
            objs.append(Obj(box=box, area=int(areas[label]), label=int(label)))
    # reading order: objects whose vertical centres are within half a box height share a row
    objs.sort(key=lambda o: (o.box.y0 + o.box.h / 2, o.box.x0))
    rows: list[list[Obj]] = []
    for o in objs:
        if rows and abs((o.box.y0 + o.box.h / 2) - (rows[-1][0].box.y0 + rows[-1][0].box.h / 2)) < rows[-1][0].box.h / 2:
            rows[-1].append(o)
        else:
            rows.append([o])
    return [o for row in rows for o in sorted(row, key=lambda o: o.box.x0)], labels


def layout(frame: tuple[int, int], box: Box | None, profile: Profile) -> Layout:
    """Canvas and transform for `frame` (w, h) whose product box is `box` (None: an empty cut-out,
    the frame stands in for it)."""
    fw, fh = frame
    box = box or Box(0, 0, fw, fh)
    crop = None
    if profile.crop:
        m = profile.margin_px(box.w, box.h)
        crop = Box(max(0, box.x0 - m), max(0, box.y0 - m), min(fw, box.x1 + m), min(fh, box.y1 + m))
    # what is placed: the product box when scaling to a share, else the crop box, else the frame
    subject = box if profile.scale is not None else (crop or Box(0, 0, fw, fh))
    fixed = profile.canvas_size()
    if fixed is not None:
        cw, ch = fixed
        share = profile.scale or 1.0
        factor = min(cw * share / subject.w, ch * share / subject.h)
    else:
        share = profile.scale or 1.0
        w, h = subject.w / share, subject.h / share
        ratio = profile.aspect_ratio()
        if ratio is not None:  # pad the short side to the aspect
            w, h = max(w, h * ratio), max(h, w / ratio)
        grow = 1.0
        if profile.min_side and max(w, h) < profile.min_side:
            grow = profile.min_side / max(w, h)
        if profile.max_side and max(w, h) > profile.max_side:
            grow = profile.max_side / max(w, h)
        factor = grow
        cw, ch = max(1, round(w * grow)), max(1, round(h * grow))
        if profile.scale is not None:  # rounding the canvas must not change the share
            factor = min(cw * share / subject.w, ch * share / subject.h)
    ax, ay = profile.anchor()
    dx = (cw - subject.w * factor) * ax - subject.x0 * factor
    dy = (ch - subject.h * factor) * ay - subject.y0 * factor
    return Layout(canvas=(cw, ch), factor=factor, dx=dx, dy=dy, crop=crop)


def place(rgba: np.ndarray, lay: Layout, only: tuple[np.ndarray, int] | None = None) -> np.ndarray:
    """The RGBA canvas: the (cropped) source scaled by lay.factor and placed at (dx, dy); transparent
    where nothing lands. Colour under zero alpha is kept (the engine's bleed), so edges resample cleanly.
    `only` = (labels, label): one object of a split frame, the others cleared."""
    cw, ch = lay.canvas
    h, w = rgba.shape[:2]
    src = lay.crop or Box(0, 0, w, h)
    # the source region that lands on the canvas, in source pixels
    x0 = max(src.x0, int(np.floor(-lay.dx / lay.factor)))
    y0 = max(src.y0, int(np.floor(-lay.dy / lay.factor)))
    x1 = min(src.x1, int(np.ceil((cw - lay.dx) / lay.factor)))
    y1 = min(src.y1, int(np.ceil((ch - lay.dy) / lay.factor)))
    canvas = np.zeros((ch, cw, 4), np.uint8)
    if x1 <= x0 or y1 <= y0:
        return canvas
    # canvas pixels the region covers (rounded to whole pixels: at most half a pixel off)
    cx0, cy0 = round(x0 * lay.factor + lay.dx), round(y0 * lay.factor + lay.dy)
    cx1, cy1 = round(x1 * lay.factor + lay.dx), round(y1 * lay.factor + lay.dy)
    tw, th = cx1 - cx0, cy1 - cy0
    if tw <= 0 or th <= 0:
        return canvas
    region = rgba[y0:y1, x0:x1]
    if only is not None:
        labels, label = only
        region = region.copy()
        region[..., 3][labels[y0:y1, x0:x1] != label] = 0
    if (tw, th) != (x1 - x0, y1 - y0):
        interp = cv2.INTER_AREA if lay.factor < 1 else cv2.INTER_CUBIC
        region = cv2.resize(region, (tw, th), interpolation=interp)
    # clip to the canvas
    sx0, sy0 = max(0, -cx0), max(0, -cy0)
    ex, ey = min(tw, cw - cx0), min(th, ch - cy0)
    canvas[cy0 + sy0 : cy0 + ey, cx0 + sx0 : cx0 + ex] = region[sy0:ey, sx0:ex]
    return canvas


def on_background(rgba: np.ndarray, bg: tuple[int, int, int, int] | None) -> np.ndarray:
    """Composite over a colour (exactly the colour where alpha is 0); None keeps transparency. An
    opaque colour gives RGB; a translucent one RGBA."""
    if bg is None:
        return rgba
    a = rgba[..., 3:4].astype(np.uint16)
    inv = 255 - a
    rgb = ((rgba[..., :3] * a + np.array(bg[:3], np.uint16) * inv + 127) // 255).astype(np.uint8)
    if bg[3] == 255:
        return rgb
    alpha = ((a[..., 0] * 255 + bg[3] * inv[..., 0] + 127) // 255).astype(np.uint8)
    return np.dstack([rgb, alpha])


# ---------------------------------------------------------------------- encoders
def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def with_icc(png: bytes, icc: bytes | None) -> bytes:
    """A PNG with the input's ICC profile (an iCCP chunk after IHDR); unchanged without one."""
    if not icc:
        return png
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR body, CRC
    return png[:ihdr_end] + _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)) + png[ihdr_end:]


def encode_png(img: np.ndarray, icc: bytes | None = None) -> bytes:
    """RGB/RGBA through fpng (fast); a mask (HxW) through OpenCV's fast defaults."""
    from workers.engine.codec import encode_png as fast_png

    return with_icc(fast_png(img, "fpng"), icc)


def encode_jpeg(rgb: np.ndarray, quality: int = 90, icc: bytes | None = None) -> bytes:
    if rgb.ndim == 3 and rgb.shape[2] == 4:
        raise ValueError("JPEG has no alpha: composite on a background first")
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=quality, icc_profile=icc or None, optimize=False)
    return out.getvalue()


def encode_webp(img: np.ndarray, quality: int | None = None, icc: bytes | None = None) -> bytes:
    """Lossless unless a quality is given. libwebp's method 1 both ways: method 0 skips the analysis
    that makes a mostly transparent cut-out small (its files come out many times larger, larger than
    fpng's PNG), and the slower methods above 1 save little more on such frames."""
    out = io.BytesIO()
    kw = {"lossless": True, "quality": 25} if quality is None else {"quality": quality}
    Image.fromarray(img).save(out, format="WEBP", method=1, icc_profile=icc or None, **kw)
    return out.getvalue()


def encode_zip(rgba: np.ndarray, bg: tuple[int, int, int, int] | None, quality: int = 90,
               icc: bytes | None = None) -> bytes:
    """remove.bg's zip: color.jpg (the colours; on `bg` when one is given) and alpha.png (the mask),
    both canvas-sized, stored as is (both are compressed already)."""
    colour = rgba[..., :3] if bg is None else on_background(rgba, (*bg[:3], 255))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("color.jpg", encode_jpeg(np.ascontiguousarray(colour), quality, icc))
        zf.writestr("alpha.png", encode_png(np.ascontiguousarray(rgba[..., 3])))
    return out.getvalue()


def encode(canvas: np.ndarray, profile: Profile, icc: bytes | None = None) -> bytes:
    """The placed RGBA canvas -> the profile's bytes (background, channels, format)."""
    bg = profile.background()
    if profile.format == "zip":
        return encode_zip(canvas, bg, profile.quality or 90, icc)
    if profile.channels == "alpha":
        mask = np.ascontiguousarray(canvas[..., 3])
        return encode_png(mask) if profile.format == "png" else encode_webp(mask, profile.quality)
    img = np.ascontiguousarray(on_background(canvas, bg))
    if profile.format == "jpg":
        return encode_jpeg(img, profile.quality or 90, icc)
    if profile.format == "webp":
        return encode_webp(img, profile.quality, icc)
    return encode_png(img, icc)


def render(rgba: np.ndarray, profile: Profile, icc: bytes | None = None, split: bool = False) -> list[Rendered]:
    """All outputs of one profile for one cut-out: one, or one per object with `split` (none when the
    cut-out holds no object)."""
    frame = (rgba.shape[1], rgba.shape[0])
    if not split:
        box = product_box(rgba[..., 3])
        lay = layout(frame, box, profile)
        canvas = place(rgba, lay)
        return [Rendered(profile, encode(canvas, profile, icc), *lay.canvas, box=_placed(box, lay))]
    out = []
    objs, labels = split_objects(rgba[..., 3])
    for n, obj in enumerate(objs, start=1):
        lay = layout(frame, obj.box, profile)
        canvas = place(rgba, lay, only=(labels, obj.label))
        out.append(Rendered(profile, encode(canvas, profile, icc), *lay.canvas, box=_placed(obj.box, lay), obj=n,
                            source_box=obj.box.as_list(), area=obj.area))
    return out


def _placed(box: Box | None, lay: Layout) -> list[int] | None:
    if box is None:
        return None
    x0, y0 = round(box.x0 * lay.factor + lay.dx), round(box.y0 * lay.factor + lay.dy)
    x1, y1 = round(box.x1 * lay.factor + lay.dx), round(box.y1 * lay.factor + lay.dy)
    return [x0, y0, x1 - x0, y1 - y0]


def icc_profile(data: bytes) -> bytes | None:
    """The input's embedded ICC profile (read from the header, no pixels decoded), or None."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            icc = im.info.get("icc_profile")
    except Exception:  # noqa: BLE001 - an unreadable file fails in the engine's decode with the reason
        return None
    return icc or None


def decode_rgba(png: bytes) -> np.ndarray:
    """The engine's RGBA PNG -> HxWx4 uint8."""
    arr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.ndim != 3 or arr.shape[2] != 4:
        raise ValueError("the engine's output is not an RGBA PNG")
    return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
