"""Output profiles: what one cut-out becomes for publishing (crop, scale, position, canvas, background,
format), as named presets or custom fields, with remove.bg's field names where it has one.

Pure Python + pydantic (the producer, the API and the CLI import it; the pixels are workers/render.py).

A profile on the command line is a preset's name (`amazon-main`) or comma-separated fields
(`name=thumb,format=jpg,scale=80%,size=1000x1000,bg_color=white`), optionally starting from a preset
(`base=amazon-main,format=png`). A value may itself hold commas (`bg_color=255,255,255`): a piece
without `=` belongs to the field before it.

Outputs of a profile sit at `<out-prefix>/<profile>/<key>.<ext>`; the `default` profile is the
engine's own output at today's key (`<out-prefix>/<key>.png`), so nothing written before moves.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smallcut.keys import relative_key
from smallcut.options import COLOUR_HELP, color_hex, parse_color

DEFAULT = "default"  # the engine's own output, at the key outputs had before profiles existed
Format = Literal["png", "jpg", "webp", "zip"]
EXTENSIONS: dict[str, str] = {"png": "png", "jpg": "jpg", "webp": "webp", "zip": "zip"}
CONTENT_TYPES: dict[str, str] = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "zip": "application/zip"}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_MARGIN_RE = re.compile(r"^(\d+(?:\.\d+)?)(px|%)?$")
_SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_ASPECT_RE = re.compile(r"^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)$")
_PCT_RE = re.compile(r"^(\d+(?:\.\d+)?)%$")
MAX_SIDE = 10_000  # a canvas side above this is a typo, not a catalog image


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the profile and the field."""


class Profile(BaseModel):
    """One output's recipe. Geometry: the product's box (alpha above a floor, all objects together, or
    one object with split outputs) is scaled so it fills `scale` of the canvas (the limiting side), or
    kept at its size; the canvas is `size`, or the natural size grown to `aspect` and clamped to
    `min_side`/`max_side`; the product box is placed at `position`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Folder of the outputs below the output prefix (a-z, 0-9, - and _).")
    crop: bool = Field(False, description="Cut to the product(s) plus crop_margin (remove.bg `crop`).")
    crop_margin: str = Field("0", description="Margin around the product when cropping: pixels (`30px`) or a share "
                                              "of the product box's side (`10%`) (remove.bg `crop_margin`).")
    scale: float | None = Field(None, description="Share of the canvas the product box fills, 0.1-1 (`0.85` or "
                                                  "`85%`); none: the product keeps its size (remove.bg `scale`).")
    position: str = Field("center", description="Where the product box sits: `center` or `X% Y%` (0 % left/top, "
                                                "100 % right/bottom, as CSS) (remove.bg `position`).")
    size: str = Field("auto", description="Canvas `WxH` in pixels, or `auto`: the frame, the crop box, or the "
                                          "product box / scale (remove.bg `size` names a resolution instead).")
    aspect: str | None = Field(None, description="`W:H` the auto canvas is padded to (`1:1`: square).")
    min_side: int = Field(0, ge=0, le=MAX_SIDE, description="An auto canvas with a shorter long side is scaled up to it.")
    max_side: int = Field(0, ge=0, le=MAX_SIDE, description="An auto canvas with a longer long side is scaled down to "
                                                            "it; 0: no limit.")
    bg_color: str | None = Field(None, description=f"Background colour ({COLOUR_HELP}); none: transparent "
                                                   "(white for jpg) (remove.bg `bg_color`).")
    format: Format = Field("png", description="png (fpng), jpg, webp (lossless unless quality is set), or zip: "
                                              "color.jpg + alpha.png (remove.bg `format`).")
    quality: int | None = Field(None, ge=1, le=100, description="JPEG quality (default 90; the colour part of a zip too), or lossy WebP "
                                                                  "quality; png ignores it.")
    channels: Literal["rgba", "alpha"] = Field("rgba", description="`alpha`: the 8-bit mask only (remove.bg `channels`).")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("a profile name is 1-40 of a-z, 0-9, - and _, starting with a letter or digit")
        return v

    @field_validator("crop_margin", mode="before")
    @classmethod
    def _margin(cls, v: object) -> str:
        text = str(v).strip().replace(" ", "")
        if not _MARGIN_RE.match(text):
            raise ValueError("use pixels (30px or 30) or a share of the product box (10%)")
        return text

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, v: object) -> object:
        if isinstance(v, str):
            text = v.strip()
            if text in ("", "original", "none"):
                return None
            pct = _PCT_RE.match(text)
            return float(pct.group(1)) / 100 if pct else text
        return v

    @field_validator("scale")
    @classmethod
    def _scale_range(cls, v: float | None) -> float | None:
        if v is not None and not 0.1 <= v <= 1.0:
            raise ValueError("a share of the canvas between 0.1 and 1 (10%-100%)")
        return v

    @field_validator("position", mode="before")
    @classmethod
    def _position(cls, v: object) -> str:
        text = " ".join(str(v).strip().lower().split())
        if text in ("center", "centre"):
            return "center"
        parts = text.split(" ")
        if len(parts) in (1, 2) and all(_PCT_RE.match(p) and float(p[:-1]) <= 100 for p in parts):
            return " ".join(parts if len(parts) == 2 else parts * 2)
        raise ValueError("use center or 'X% Y%' (each 0-100 %)")

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, v: object) -> str:
        text = str(v).strip().lower()
        if text == "auto":
            return text
        m = _SIZE_RE.match(text)
        if not m or not all(1 <= int(g) <= MAX_SIDE for g in m.groups()):
            raise ValueError(f"use auto or WxH, each side 1-{MAX_SIDE} pixels (2048x2048)")
        return text

    @field_validator("aspect")
    @classmethod
    def _aspect(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = _ASPECT_RE.match(v.strip())
        if not m or float(m.group(1)) <= 0 or float(m.group(2)) <= 0:
            raise ValueError("use W:H with positive numbers (1:1, 4:5)")
        return v.strip()

    @field_validator("bg_color")
    @classmethod
    def _bg(cls, v: str | None) -> str | None:
        return None if v is None or v.strip().lower() in ("", "none") else color_hex(parse_color(v))

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.size != "auto" and (self.aspect or self.min_side or self.max_side):
            raise ValueError("aspect, min_side and max_side shape an auto canvas: drop them or use size=auto")
        if self.max_side and self.min_side > self.max_side:
            raise ValueError("min_side is larger than max_side")
        if self.channels == "alpha" and self.format not in ("png", "webp"):
            raise ValueError("channels=alpha (a mask) is written as png or webp")
        return self

    # ------------------------------------------------------------------ derived values
    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    def margin_px(self, box_w: int, box_h: int) -> int:
        m = _MARGIN_RE.match(self.crop_margin)
        assert m is not None  # checked by the validator
        value = float(m.group(1))
        return round(value * max(box_w, box_h) / 100) if m.group(2) == "%" else round(value)

    def canvas_size(self) -> tuple[int, int] | None:
        """(w, h) of a fixed canvas, None for auto."""
        m = _SIZE_RE.match(self.size)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def aspect_ratio(self) -> float | None:
        m = _ASPECT_RE.match(self.aspect or "")
        return float(m.group(1)) / float(m.group(2)) if m else None

    def anchor(self) -> tuple[float, float]:
        """Position as fractions (0-1) of the free space left of and above the product box."""
        if self.position == "center":
            return 0.5, 0.5
        x, y = self.position.split(" ")
        return float(x[:-1]) / 100, float(y[:-1]) / 100

    def background(self) -> tuple[int, int, int, int] | None:
        """RGBA to composite on; jpg (no alpha) falls back to white."""
        if self.bg_color:
            return parse_color(self.bg_color)
        return (255, 255, 255, 255) if self.format == "jpg" else None


PRESETS: dict[str, Profile] = {p.name: p for p in (
    # the engine's own output (honours the job's mask_only / bg_color), at the key used before profiles
    Profile(name=DEFAULT),
    # Amazon's main image: pure white, the product fills 85 % of a square, >= 1000 px for zoom
    Profile(name="amazon-main", crop=True, scale=0.85, aspect="1:1", min_side=1000, max_side=3000,
            bg_color="white", format="jpg", quality=90),
    # Shopify's recommended square; transparent so the theme's background shows
    Profile(name="shopify-square", crop=True, scale=0.9, size="2048x2048", format="png"),
    Profile(name="transparent-png", format="png"),
    Profile(name="mask", channels="alpha", format="png"),
    # remove.bg's zip: color.jpg + alpha.png, no RGBA PNG of the whole frame
    Profile(name="zip", format="zip"),
)}
PRESET_LIST = ", ".join(PRESETS)  # for help texts: one list, never a hand copy that drifts


def _describe(exc: ValidationError, label: str) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err.get("loc", ())) or "profile"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = f"unknown field (fields: {', '.join(Profile.model_fields)})"
        parts.append(f"{field}: {msg}")
    return f"profile {label}: " + "; ".join(parts)


def make(fields: dict, label: str | None = None) -> Profile:
    """A profile from fields (API form, JSON); `base` starts from a preset. ProfileError names the field."""
    fields = {k: v for k, v in fields.items() if v is not None}
    base = fields.pop("base", None)
    start: dict = {}
    if base is not None:
        if base not in PRESETS:
            raise ProfileError(f"profile {label or base!r}: base: unknown preset {base!r} (presets: {', '.join(PRESETS)})")
        start = PRESETS[base].model_dump(exclude={"name"})
        fields.setdefault("name", f"{base}-custom")
    fields.setdefault("name", "custom")
    try:
        made = Profile.model_validate({**start, **fields})
    except ValidationError as exc:
        raise ProfileError(_describe(exc, repr(label or fields.get("name")))) from None
    if made.name == DEFAULT and made != PRESETS[DEFAULT]:
        raise ProfileError(f"profile {label or DEFAULT!r}: name: {DEFAULT} is the engine's own output "
                           "(shaped by --mask-only / --bg-color); give this profile another name")
    return made


def parse(text: str) -> Profile:
    """`amazon-main` or `name=thumb,format=jpg,scale=80%,...` -> Profile."""
    text = text.strip()
    if not text:
        raise ProfileError("empty profile: give a preset name or field=value pairs")
    if "=" not in text:
        if text not in PRESETS:
            raise ProfileError(f"unknown profile {text!r}: presets are {', '.join(PRESETS)}, "
                               "or give fields (name=thumb,format=jpg,scale=80%)")
        return PRESETS[text]
    fields: dict[str, str] = {}
    last = None
    for piece in text.split(","):
        key, eq, value = piece.partition("=")
        if not eq:
            if last is None:
                raise ProfileError(f"profile {text!r}: {piece!r} is not field=value")
            fields[last] += "," + piece
            continue
        last = key.strip()
        if last in fields:
            raise ProfileError(f"profile {text!r}: {last} given twice")
        fields[last] = value.strip()
    return make(fields, label=text)


def parse_many(texts: list[str] | None) -> list[Profile]:
    """Several profiles (a list of specs, or one comma-free spec each); names must differ (their folders)."""
    return distinct([parse(t) for t in texts or []])


def distinct(profiles: list[Profile]) -> list[Profile]:
    """`profiles`, or ProfileError when two share a name (they would write to one folder)."""
    names = [p.name for p in profiles]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ProfileError(f"profile name {dup!r} given twice: each profile writes to its own folder")
    return profiles


def from_job(data: list | None) -> list[Profile]:
    """The profiles a job carries (each a dict of fields, as `to_job` writes them)."""
    return distinct([make(dict(d)) if isinstance(d, dict) else parse(str(d)) for d in data or []])


def to_job(profiles: list[Profile]) -> list[dict]:
    return [p.model_dump(mode="json") for p in profiles]


def fingerprint(engine_fingerprint: str, profile: Profile, obj: int | None = None) -> str:
    """An output's fingerprint: the engine's (model, version, options) with the profile's fields and,
    for one of a frame's objects, its number: a changed profile redoes its outputs, nothing else."""
    if profile.name == DEFAULT and obj is None:
        return engine_fingerprint
    payload = {"engine": engine_fingerprint, "profile": profile.model_dump(mode="json"), "object": obj}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def output_key(key: str, out_prefix: str, in_prefix: str, profile: Profile, obj: int | None = None) -> str:
    """`<out-prefix>/<profile>/<key without extension>[-<n>].<ext>`; the default profile keeps
    `<out-prefix>/<key>.png`. `obj` numbers the outputs of a split frame from 1."""
    rel = relative_key(key, in_prefix)
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    if obj is not None:
        stem = f"{stem}-{obj}"
    parts = [p for p in (out_prefix.strip("/"), "" if profile.name == DEFAULT else profile.name) if p]
    return "/".join([*parts, f"{stem}.{profile.extension}"])


def job_fields(profiles: list[Profile] | None, split: bool = False) -> dict:
    """What a job's options carry for its outputs: only what was chosen (left out: the worker's
    SMALLCUT_PROFILES, one output per frame)."""
    out: dict = {}
    if profiles:
        out["profiles"] = to_job(profiles)
    if split:
        out["split_objects"] = True
    return out


def for_job(options: dict | None, default: list[str] | None = None) -> tuple[list[Profile], bool]:
    """(profiles, split) of a job's options; `default` (SMALLCUT_PROFILES) when it names none."""
    options = options or {}
    chosen = from_job(options.get("profiles")) or parse_many(default) or [PRESETS[DEFAULT]]
    return chosen, bool(options.get("split_objects"))
