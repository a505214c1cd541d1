"""What an image will cost before any pixel is decoded, and decodes at reduced scale.

PIL only (no OpenCV, no numpy): the API may import it for previews, the worker for its memory gate.
The header gives the pixel count; the pixel count gives the memory a decode and a whole cutout
need (`bench/memory.py` measures the factors below on a worker-like process).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# Peak resident memory of one cutout above the process's baseline: a fixed part (tile and zoom
# buffers, encoder) and a part per input pixel (the RGB frame, float maps and the RGBA output at full
# resolution). Frames over the engine's large-frame threshold (EngineConfig.large_above_px) run the plan
# on a reduced copy and build the output band by band, so only the decoded frame grows with the
# pixels there. The constants bound bench/memory.py's measurements from above (docs/engine.md).
CUTOUT_FIXED_BYTES = 200 * 2**20
CUTOUT_BYTES_PER_PIXEL = 30
LARGE_FRAME_PX = 16_000_000  # = the engine's default large_above_px (a test keeps them equal)
LARGE_FIXED_BYTES = 500 * 2**20  # the reduced plan (4096 px long side), the bands, the encoder
LARGE_BYTES_PER_PIXEL = 4  # the full-resolution RGB frame, and slack


class ImageRefused(ValueError):
    """The header is unreadable, or decoding it would cost more than allowed; str(exc) says why."""


@dataclass(frozen=True)
class Header:
    format: str
    width: int
    height: int
    bands: int  # channels a full decode holds (RGBA: 4)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        """Memory of the decoded frame at full size (8 bits per channel)."""
        return self.pixels * max(3, self.bands)

    @property
    def cutout_bytes(self) -> int:
        """Estimated peak memory of one whole cutout of this frame, above the process baseline."""
        if self.pixels > LARGE_FRAME_PX:
            return LARGE_FIXED_BYTES + self.pixels * LARGE_BYTES_PER_PIXEL
        return CUTOUT_FIXED_BYTES + self.pixels * CUTOUT_BYTES_PER_PIXEL


def probe(data: bytes) -> Header:
    """The header only: format, size, channels. No pixel is decoded."""
    if not data:
        raise ImageRefused("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRefused("not a recognised image format") from None
    except Image.DecompressionBombError as exc:  # PIL's own guard, far above any limit of ours
        raise ImageRefused(f"image too large: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds on garbage
        raise ImageRefused(f"unreadable image header: {exc}") from None
    return Header(str(im.format), int(im.size[0]), int(im.size[1]), len(im.getbands()))


def decode_reduced(data: bytes, max_side: int, *, max_pixels: int, max_decoded_bytes: int,
                   keep_alpha: bool = False) -> Image.Image:
    """An RGB image (RGBA with `keep_alpha` when the source has transparency) whose longest side is
    at most `max_side`, decoded with bounded memory.

    JPEG decodes at 1/2, 1/4 or 1/8 scale inside the decoder (PIL draft: the DCT is scaled, a
    120 MP frame never exists at full size). Other formats decode at full size first, so they are
    refused when that would take more than `max_decoded_bytes`; any frame above `max_pixels` is
    refused too (a decompression bomb). Raises ImageRefused with the reason."""
    from PIL import ImageOps

    head = probe(data)
    if head.width < 1 or head.height < 1:
        raise ImageRefused(f"image has no pixels ({head.width}x{head.height})")
    if head.pixels > max_pixels:
        raise ImageRefused(f"image too large: {head.width}x{head.height} = {head.pixels} pixels exceeds "
                           f"the limit of {max_pixels}")
    im = Image.open(io.BytesIO(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if head.format == "JPEG":
                scale = max(head.width, head.height) / max(1, max_side)
                im.draft("RGB", (max(1, int(head.width / scale)), max(1, int(head.height / scale))))
            elif head.decoded_bytes > max_decoded_bytes:
                raise ImageRefused(f"{head.format} of {head.width}x{head.height} needs "
                                   f"{head.decoded_bytes / 2**20:.0f} MiB to decode, above the "
                                   f"{max_decoded_bytes / 2**20:.0f} MiB allowed here")
            im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
            im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
            if im.mode in ("PA", "LA", "RGBA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                if keep_alpha:
                    return im
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            return im.convert("RGB")
    except ImageRefused:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRefused(f"corrupt or truncated image: {exc}") from None
