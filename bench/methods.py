"""The methods under test, each `(rgb, set, name) -> alpha`: smallcut in-process (with ablations),
rembg with the same u2netp weights, and the oracle (the network on crops around the true objects,
called with their boxes). rembg never changes, so its masks are cached on disk.

A smallcut method may name the network from the model registry after a colon, e.g.
`smallcut:u2netp_fpn` or `smallcut-noroi:u2netp_cbam`; without one it uses SMALLCUT_MODEL."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .paths import OUT

METHODS = ("smallcut", "smallcut-noroi", "smallcut-nopost", "rembg", "oracle")
_SMALLCUT_FLAGS = {"smallcut": (True, True), "smallcut-noroi": (False, True), "smallcut-nopost": (True, False)}


@dataclass
class Prediction:
    alpha: np.ndarray  # uint8 H x W
    seconds: float  # time spent computing it (0 when read from the cache)
    cached: bool


def engine_overrides(pairs: list[str]) -> dict:
    """`KEY=VALUE` strings -> EngineConfig fields, each parsed as its default's type (tuples: a,b)."""
    from workers.engine.engine import EngineConfig

    defaults = {f.name: getattr(EngineConfig(), f.name) for f in dataclasses.fields(EngineConfig)}
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in defaults:
            raise SystemExit(f"bad engine override {pair!r}: KEY=VALUE with KEY one of {', '.join(defaults)}")
        default = defaults[key]
        if isinstance(default, bool):  # bool("False") is True
            if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise SystemExit(f"bad engine override {pair!r}: {key} is true or false")
            out[key] = text.lower() in ("true", "1", "yes", "on")
        elif isinstance(default, tuple):
            kind = type(default[0]) if default else float
            out[key] = tuple(kind(v) for v in text.split(",") if v)
        else:
            out[key] = type(default)(text)
    return out


class Smallcut:
    _engines: dict = {}  # one engine per model (and overrides) per process, shared by the ablations

    def __init__(self, name: str, model: str | None = None, overrides: dict | None = None) -> None:
        self.name = f"{name}:{model}" if model else name
        self.model = model
        self.overrides = dict(overrides or {})
        self.roi_on, self.post_on = _SMALLCUT_FLAGS[name]

    @classmethod
    def engine(cls, model: str | None = None, overrides: dict | None = None):
        key = (model, tuple(sorted((overrides or {}).items())))
        if key not in cls._engines:
            from smallcut.settings import Settings
            from workers.engine import Engine

            settings = Settings() if model is None else Settings(model=model, model_path=None)
            eng = Engine.from_settings(settings)
            eng.config = dataclasses.replace(eng.config, **(overrides or {}))
            eng.matte(np.zeros((480, 640, 3), np.uint8))  # warm-up: keep it out of the timings
            cls._engines[key] = eng
        return cls._engines[key]

    def __call__(self, rgb: np.ndarray, set_name: str, name: str) -> Prediction:
        eng = self.engine(self.model, self.overrides)
        t0 = time.perf_counter()
        alpha = eng.matte(rgb, roi_on=self.roi_on, postprocess_on=self.post_on).alpha
        return Prediction(alpha, time.perf_counter() - t0, False)


class Rembg:
    """`rembg.remove(..., only_mask=True)` with u2netp, read from a local copy: it never downloads."""

    name = "rembg"

    def __init__(self, cache_root: Path | None = None) -> None:
        self.cache_root = cache_root or OUT / "cache" / "rembg"
        self._session = None

    def _ensure_session(self):
        if self._session is None:
            home = Path(os.environ.setdefault("U2NET_HOME", str(Path.home() / ".u2net")))
            model = home / "u2netp.onnx"
            if not model.exists():
                from smallcut.settings import Settings

                src = Path(Settings().model_dir) / "u2netp.onnx"
                if not src.exists():
                    raise SystemExit(f"rembg needs {model}: run `smallcut models fetch` first (looked for {src})")
                home.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, model)
            import rembg

            self._session = rembg.new_session("u2netp")
            from PIL import Image

            rembg.remove(Image.new("RGB", (640, 480)), session=self._session, only_mask=True)  # warm-up
        return self._session

    def __call__(self, rgb: np.ndarray, set_name: str, name: str) -> Prediction:
        path = self.cache_root / set_name / f"{name}.png"
        if path.exists():
            alpha = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if alpha is not None and alpha.shape == rgb.shape[:2]:
                return Prediction(alpha, 0.0, True)
        from PIL import Image
        import rembg

        session = self._ensure_session()
        t0 = time.perf_counter()
        mask = rembg.remove(Image.fromarray(rgb), session=session, only_mask=True)
        seconds = time.perf_counter() - t0
        alpha = np.asarray(mask.convert("L"), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.png")
        cv2.imwrite(str(tmp), alpha)
        os.replace(tmp, path)
        return Prediction(alpha, seconds, False)


class Oracle:
    """The same network on a square crop around each TRUE object, pasted back: what the engine would
    score with perfect localisation (the ceiling of design.md). Nothing is predicted outside the
    crops and no post-processing runs. Needs the ground truth's boxes, so quality passes `objects`."""

    needs_truth = True
    MARGIN = 0.375  # of the object's size on each side: the middle of the ceiling measure's 25-50 %
    SIZES = (160, 224, 320)  # network input by crop side, as in the ceiling measure

    def __init__(self, model: str | None = None, overrides: dict | None = None) -> None:
        self.name = f"oracle:{model}" if model else "oracle"
        self.model = model
        self.overrides = dict(overrides or {})

    def __call__(self, rgb: np.ndarray, set_name: str, name: str, objects: list[dict] | None = None) -> Prediction:
        from workers.engine import roi
        from workers.engine.resample import resize

        if objects is None:
            raise ValueError("the oracle needs the true objects' boxes")
        net = Smallcut.engine(self.model, self.overrides).net
        h, w = rgb.shape[:2]
        t0 = time.perf_counter()
        boxes, inputs = [], []
        for obj in objects:
            x, y, bw, bh = obj["bbox"]
            box = roi.expand_box(roi.Box(x, y, x + bw, y + bh), (w, h), self.MARGIN)
            side = roi.zoom_size(max(box.w, box.h), self.SIZES)
            boxes.append(box)
            inputs.append(resize(rgb[box.slices()], (side, side)))
        prob = np.zeros((h, w), np.float32)
        for box, zoom in zip(boxes, net.predict(inputs) if inputs else []):
            patch = cv2.resize(zoom, (box.w, box.h), interpolation=cv2.INTER_LINEAR)
            sl = box.slices()
            prob[sl] = np.maximum(prob[sl], patch)
        alpha = np.clip(prob * 255 + 0.5, 0, 255).astype(np.uint8)
        return Prediction(alpha, time.perf_counter() - t0, False)


def make(name: str, overrides: dict | None = None):
    """A method by name; `overrides` (EngineConfig fields) apply to smallcut ones."""
    base, _, model = name.partition(":")
    if base in _SMALLCUT_FLAGS or base == "oracle":
        if model:
            from workers.engine.models import REGISTRY

            if model not in REGISTRY:
                raise SystemExit(f"unknown model {model!r} in {name!r}: one of {', '.join(REGISTRY)}")
        if base == "oracle":
            return Oracle(model or None, overrides)
        return Smallcut(base, model or None, overrides)
    if name == "rembg":
        return Rembg()
    raise SystemExit(f"unknown method {name!r}: one of {', '.join(METHODS)} (smallcut ones may add :MODEL)")
