"""Per-request switches of a cutout and the fingerprint that identifies an output made with them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from smallcut.options import SHADOW_MODES, parse_color

if TYPE_CHECKING:
    from .config import EngineConfig

# Part of every output's fingerprint: bump it when a change to the plan or post-processing changes
# outputs, so that re-runs redo what an older engine made instead of skipping it as current.
ENGINE_VERSION = "22"


@dataclass(frozen=True)
class CutoutOptions:
    """Per-request switches. Their fingerprint (with the model's) identifies an output for idempotency."""

    roi: bool = True
    postprocess: bool = True
    mask_only: bool = False
    bg_color: tuple[int, int, int, int] | None = None  # RGBA to composite on; None keeps transparency
    shadow: str = "remove"  # "keep": the object's shadow stays as a soft dark layer in the alpha

    def __post_init__(self) -> None:
        if self.shadow not in SHADOW_MODES:
            raise ValueError(f"bad shadow mode {self.shadow!r}: one of {', '.join(SHADOW_MODES)}")

    def fingerprint(self, model_id: str, config: "EngineConfig | None" = None) -> str:
        """Engine version, model, these options and (when given) the engine's tuning knobs."""
        payload = {"v": ENGINE_VERSION, "model": model_id, **asdict(self)}
        if config is not None:
            payload["config"] = asdict(config)
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict | None) -> "CutoutOptions":
        data = dict(data or {})
        bg = data.get("bg_color")
        if isinstance(bg, str):
            bg = parse_color(bg)
        elif bg is not None:
            bg = tuple(int(c) for c in bg)
            if len(bg) == 3:
                bg = (*bg, 255)
        return cls(
            roi=bool(data.get("roi", True)),
            postprocess=bool(data.get("postprocess", True)),
            mask_only=bool(data.get("mask_only", False)),
            bg_color=bg,
            shadow=str(data.get("shadow") or "remove"),
        )
