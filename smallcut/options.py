"""Cut-out options as both sides read them: colours, image suffixes, the option fields of a job
(roi, postprocess, mask_only, bg_color, shadow: the names the engine's CutoutOptions.from_dict reads).

Pure Python (no numpy, PIL or OpenCV), so producers, the API and the engine CLI share one copy of
the colour format, the suffixes and the option names instead of each keeping its own.
"""

from __future__ import annotations

import posixpath
from typing import Literal, get_args

# files and keys smallcut treats as images (anything else in a listing is ignored, not failed)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})

# CSS's basic colour keywords and a few common ones; any other colour as #rrggbb[aa] or r,g,b[,a]
NAMED_COLOURS: dict[str, tuple[int, int, int, int]] = {
    "white": (255, 255, 255, 255), "black": (0, 0, 0, 255), "red": (255, 0, 0, 255),
    "green": (0, 128, 0, 255), "lime": (0, 255, 0, 255), "blue": (0, 0, 255, 255),
    "yellow": (255, 255, 0, 255), "cyan": (0, 255, 255, 255), "aqua": (0, 255, 255, 255),
    "magenta": (255, 0, 255, 255), "fuchsia": (255, 0, 255, 255), "gray": (128, 128, 128, 255),
    "grey": (128, 128, 128, 255), "lightgray": (211, 211, 211, 255), "lightgrey": (211, 211, 211, 255),
    "silver": (192, 192, 192, 255), "maroon": (128, 0, 0, 255), "olive": (128, 128, 0, 255),
    "navy": (0, 0, 128, 255), "purple": (128, 0, 128, 255), "teal": (0, 128, 128, 255),
    "orange": (255, 165, 0, 255), "transparent": (0, 0, 0, 0),
}
COLOUR_HELP = "a name (white, black, grey, ...), #rrggbb, #rrggbbaa or r,g,b[,a]"

Shadow = Literal["remove", "keep"]
SHADOW_MODES: tuple[str, ...] = get_args(Shadow)  # remove: the cast shadow is background; keep: part of the object

def parse_color(text: str) -> tuple[int, int, int, int]:
    """'white', '#rrggbb', '#rrggbbaa' or 'r,g,b[,a]' -> RGBA; ValueError says which forms work."""
    raw = text.strip()
    named = NAMED_COLOURS.get(raw.lower().replace(" ", "").replace("-", ""))
    if named is not None:
        return named
    bad = ValueError(f"bad colour {text!r}: use {COLOUR_HELP}")
    try:
        if raw.startswith("#"):
            if len(raw) not in (7, 9):
                raise bad
            vals = [int(raw[i : i + 2], 16) for i in range(1, len(raw), 2)]
        else:
            vals = [int(v) for v in raw.split(",")]
    except ValueError:
        raise bad from None
    if len(vals) == 3:
        vals.append(255)
    if len(vals) != 4 or not all(0 <= v <= 255 for v in vals):
        raise bad
    return (vals[0], vals[1], vals[2], vals[3])


def color_hex(rgba: tuple[int, int, int, int]) -> str:
    """RGBA -> '#rrggbbaa': the form a job carries, which every engine version reads."""
    return "#" + "".join(f"{v:02x}" for v in rgba)


def job_options(*, roi: bool | None = None, postprocess: bool | None = None, mask_only: bool | None = None,
                bg_color: str | None = None, shadow: str | None = None) -> dict:
    """The options dict of a job, checked, with only what the caller chose: a field left out takes
    the worker's default (SMALLCUT_ROI, SMALLCUT_POSTPROCESS, SMALLCUT_SHADOW; workers/pipeline.py).
    A colour is normalised to #rrggbbaa (named colours are resolved here, on the producer side);
    `shadow` must be one of SHADOW_MODES."""
    if shadow is not None and shadow not in SHADOW_MODES:
        raise ValueError(f"bad shadow mode {shadow!r}: use {' or '.join(SHADOW_MODES)}")
    chosen = {"roi": roi, "postprocess": postprocess, "mask_only": mask_only, "shadow": shadow}
    opts: dict = {k: v for k, v in chosen.items() if v is not None}
    if bg_color:
        opts["bg_color"] = color_hex(parse_color(bg_color))
    return opts


def is_image_name(name: str) -> bool:
    """True for a file name or key whose suffix is an image suffix (case-insensitive)."""
    return posixpath.splitext(name)[1].lower() in IMAGE_SUFFIXES
