"""The cutout engine: image bytes in, RGBA (or mask) PNG out. No Celery, no S3, no globals.

Plan per image (a cascade: extra passes only where the coarse map says an object is small, faint or
absent):
  coarse pass on the whole frame (320², the trained size: large objects keep rembg's exact path)
  -> detection (detect.py): candidates from the coarse map, plus a tiled pass when the frame is huge
     or the coarse map holds nothing confident
  -> zooms (zooms.py): fine passes on square crops around small candidates, batched by input size,
     each judged (confident, compact, consistent) so texture noise is rejected, and fused into one
     full-resolution probability map
  -> post-processing (steps.py: a registry of named steps — shadows, holes, smoothing, specks, edges)
  -> compose (compose.py) -> PNG.
Options are in options.py, tuning knobs in config.py, model loading and session policy in models.py
and session.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from smallcut.options import parse_color

from . import codec, large, roi, steps
from .alloc import release_freed_memory
from .compose import compose, object_sizes, to_alpha
from .config import EngineConfig
from .detect import detect
from .net import SaliencyNet
from .options import ENGINE_VERSION, CutoutOptions
from .resample import resize
from .timing import Timer
from .zooms import zoom_candidates

log = logging.getLogger(__name__)

__all__ = ["ENGINE_VERSION", "CutoutOptions", "CutoutResult", "Engine", "EngineConfig", "Matte", "Timer", "compose",
           "minmax", "object_sizes", "parse_color", "to_alpha"]


@dataclass
class Matte:
    alpha: np.ndarray  # uint8 HxW
    rois: list[roi.Box] = field(default_factory=list)
    rejected: list[roi.Box] = field(default_factory=list)
    passes: int = 0
    detection: bool = False  # the tiled detection pass ran
    shadow: np.ndarray | None = None  # uint8 opacity of the kept shadow layer (options.shadow == "keep")


@dataclass
class CutoutResult:
    png: bytes
    width: int
    height: int
    timings: dict[str, float]  # milliseconds per stage
    rois: int
    passes: int
    objects: int = 0  # separate foreground regions in the final alpha
    min_object_frac: float = 0.0  # the smallest of them as a share of the frame (0 when none)


class Engine:
    """Holds the network(s); call `cutout` (bytes) or `matte` (pixels). Safe to share across threads.

    `close_net`: a second network for the close passes only (detection tiles and zooms); the coarse
    pass over the whole frame always runs `net`. None: `net` runs every pass.
    """

    def __init__(self, net: SaliencyNet, config: EngineConfig | None = None, model_id: str = "u2netp",
                 close_net: SaliencyNet | None = None) -> None:
        self.net = net
        self.close_net = close_net or net
        self.config = config or EngineConfig()
        self.model_id = model_id
        self.trace: list[dict] | None = None  # set to a list to record every zoom decision (training.zoom_judge)

    def output_fingerprint(self, options: CutoutOptions) -> str:
        """What an output made by this engine with `options` is stamped with (idempotent re-runs)."""
        return options.fingerprint(self.model_id, self.config)

    @classmethod
    def from_settings(cls, settings=None) -> "Engine":
        """Build from Settings (model resolution, precision, providers, threads). Loads the model: call once."""
        from smallcut.settings import get_settings

        from .models import prepare
        from .session import open_net

        s = settings or get_settings()
        if s.keep_freed_memory:
            from .alloc import keep_freed_memory

            keep_freed_memory()
        model = prepare(s)
        config = EngineConfig(png_encoder=s.png_encoder, max_pixels=s.max_pixels, detection=s.detection,
                              post_steps=tuple(s.post_steps))
        close = None
        if s.close_model or s.close_model_path:
            close = prepare(s.model_copy(update={"model": s.close_model or s.model, "model_path": s.close_model_path}))
        if close is None or close.path == model.path:
            net = open_net(model, s, (config.coarse_size, config.detect_tile, *config.zoom_sizes))
            return cls(net, config, model_id=model.model_id)
        net = open_net(model, s, (config.coarse_size,))
        close_net = open_net(close, s, (config.detect_tile, *config.zoom_sizes))
        return cls(net, config, model_id=f"{model.model_id}+close={close.model_id}", close_net=close_net)

    def with_config(self, config: EngineConfig) -> "Engine":
        """The same networks under other knobs (ablations, training collectors)."""
        return type(self)(self.net, config, self.model_id, close_net=self.close_net)

    def _passes(self) -> int:
        """Network runs so far, both networks together."""
        return self.net.passes + (self.close_net.passes if self.close_net is not self.net else 0)

    # ------------------------------------------------------------------ bytes -> PNG
    def cutout(self, data: bytes, options: CutoutOptions | None = None) -> CutoutResult:
        options = options or CutoutOptions()
        timer = Timer()
        if large.is_large(codec.dimensions(data), self.config):
            return self._cutout_large(data, options, timer)
        with timer.stage("decode"):
            rgb = codec.decode(data, self.config.max_pixels)
        return self._finish(rgb, options, timer)

    def cutout_many(self, datas: list[bytes], options: CutoutOptions | None = None) -> list[CutoutResult | Exception]:
        """Several images with their coarse passes run as one batch (what a GPU wants).

        Each entry is a result or the exception that image raised (DecodeError for bad input), so
        one bad image never costs the others.
        """
        options = options or CutoutOptions()
        out: list[CutoutResult | Exception] = []
        decoded: list[tuple[int, np.ndarray, Timer]] = []
        for i, data in enumerate(datas):
            timer = Timer()
            if large.is_large(codec.dimensions(data), self.config):
                try:  # on its own, band by band (a batch would hold it at full resolution)
                    out.append(self._cutout_large(data, options, timer))
                except Exception as exc:  # noqa: BLE001 - returned per image, like a single cutout raises it
                    out.append(exc)
                continue
            try:
                with timer.stage("decode"):
                    decoded.append((i, codec.decode(data, self.config.max_pixels), timer))
            except Exception as exc:  # noqa: BLE001 - returned per image, like a single cutout raises it
                out.append(exc)
                continue
            out.append(None)  # type: ignore[arg-type]
        if decoded:
            size = (self.config.coarse_size, self.config.coarse_size)
            t0 = time.perf_counter()
            coarse = self.net.predict([resize(rgb, size) for _, rgb, _ in decoded])
            share = (time.perf_counter() - t0) * 1000.0 / len(decoded)
            for (i, rgb, timer), c in zip(decoded, coarse):
                timer.ms["coarse"] = share
                try:
                    out[i] = self._finish(rgb, options, timer, coarse=c)
                except Exception as exc:  # noqa: BLE001
                    out[i] = exc
        return out

    def cutout_pixels(self, data: bytes, options: CutoutOptions | None = None) -> tuple[CutoutResult, np.ndarray] | None:
        """The composed RGBA of `data` and its result (`png` empty), without the PNG encode, for
        callers that encode it themselves (output profiles). None for a frame the engine takes on its
        large path: that one exists only band by band, through `cutout`."""
        options = options or CutoutOptions()
        if large.is_large(codec.dimensions(data), self.config):
            return None
        timer = Timer()
        with timer.stage("decode"):
            rgb = codec.decode(data, self.config.max_pixels)
        return self._composed(rgb, options, timer)

    def _finish(self, rgb: np.ndarray, options: CutoutOptions, timer: Timer, coarse: np.ndarray | None = None) -> CutoutResult:
        result, out = self._composed(rgb, options, timer, coarse)
        with timer.stage("encode"):
            result.png = codec.encode_png(out, self.config.png_encoder)
        return result

    def _composed(self, rgb: np.ndarray, options: CutoutOptions, timer: Timer,
                  coarse: np.ndarray | None = None) -> tuple[CutoutResult, np.ndarray]:
        passes_before = self._passes()
        matte = self.matte(rgb, roi_on=options.roi, postprocess_on=options.postprocess, timer=timer, coarse=coarse,
                           keep_shadow=options.shadow == "keep")
        with timer.stage("compose"):
            out = compose(rgb, matte.alpha, options, bleed=options.postprocess and bool(steps.enabled(self.config.post_steps, "compose")), shadow=matte.shadow)
            sizes = object_sizes(matte.alpha)  # a full-resolution labelling: CPU work of its own, counted here
        result = CutoutResult(
            png=b"",
            width=rgb.shape[1],
            height=rgb.shape[0],
            timings=timer.ms,
            rois=len(matte.rois),
            passes=self._passes() - passes_before + (1 if coarse is not None else 0),
            **sizes,
        )
        return result, out

    def _cutout_large(self, data: bytes, options: CutoutOptions, timer: Timer) -> CutoutResult:
        """A frame over `large_above_px`: the plan on a reduced copy, the output band by band at full
        resolution (large.py), so memory stays bounded whatever the frame's size."""
        passes_before = self._passes()
        with timer.stage("decode"):
            small = large.work_frame(data, self.config, self.config.max_pixels)
        matte = self.matte(small, roi_on=options.roi, postprocess_on=options.postprocess, timer=timer,
                           keep_shadow=options.shadow == "keep")
        del small
        release_freed_memory()  # what the plan freed, before the full-resolution photo arrives
        with timer.stage("decode"):
            rgb = codec.decode(data, self.config.max_pixels)
        h, w = rgb.shape[:2]
        # composed and encoded together, band by band (no separate encode stage: they interleave)
        with timer.stage("compose"):
            post = self.config.post_steps if options.postprocess else ()
            blocks = large.compose_bands(rgb, matte.alpha, matte.shadow, options, bleed=bool(steps.enabled(post, "compose")),
                                         edges="edges" in post)
            png = codec.encode_png_rows(w, h, large.channels(options), blocks)
            sizes = object_sizes(matte.alpha)
        del rgb
        return CutoutResult(png=png, width=w, height=h, timings=timer.ms, rois=len(matte.rois),
                            passes=self._passes() - passes_before, **sizes)

    # ------------------------------------------------------------------ pixels -> alpha
    def matte(
        self, rgb: np.ndarray, roi_on: bool = True, postprocess_on: bool = True, timer: Timer | None = None, coarse: np.ndarray | None = None,
        keep_shadow: bool = False, shadows: bool = True,
    ) -> Matte:
        """Alpha for one decoded image; `coarse` is its 320² map when a batch already computed it.

        `keep_shadow`: also return the objects' shadow as a layer (Matte.shadow). `shadows=False`
        skips the object-vs-backdrop step even when post-processing runs (its training data)."""
        timer = timer or Timer()
        cfg = self.config
        h, w = rgb.shape[:2]
        passes0 = self._passes()
        view = None  # the frame as the coarse pass saw it
        with timer.stage("coarse"):
            if coarse is None:
                view = resize(rgb, (cfg.coarse_size, cfg.coarse_size))
                coarse = self.net.predict([view])[0]
        result = Matte(alpha=np.zeros((h, w), np.uint8))
        if roi_on:
            with timer.stage("detect"):
                found = detect(self.close_net, rgb, coarse, view, cfg)
                result.detection = found.tiled
            with timer.stage("roi"):
                # raw probabilities: min-max stretching turns an empty frame's texture into "object"
                prob = resize(found.coarse, (w, h))
                zoomed = zoom_candidates(self.close_net, rgb, prob, found.candidates, found.labels, found.tiled,
                                         found.rare_table if cfg.rare_parts else None, cfg, self.trace)
                result.rois, result.rejected = zoomed.accepted, zoomed.rejected
        else:
            prob = resize(minmax(coarse), (w, h))
        state = steps.PostState(cfg, rgb, prob, result.rois, keep_shadow=keep_shadow)
        if postprocess_on:
            frame_steps = tuple(n for n in cfg.post_steps if shadows or n != "shadows")
            if steps.enabled(frame_steps, "frame"):
                with timer.stage("shadows"):
                    steps.run_frame_steps(state, frame_steps)
            with timer.stage("postprocess"):
                state.prob = steps.postprocess_region(state, cfg.post_steps)
        prob = state.prob
        if state.layer is not None:
            result.shadow = to_alpha(np.where(prob > 0.5, 0.0, state.layer))
        result.alpha = to_alpha(prob)
        result.passes = self._passes() - passes0
        return result


def minmax(p: np.ndarray) -> np.ndarray:
    """rembg's normalisation of a saliency map, kept for the whole-frame pass (no regression)."""
    lo, hi = float(p.min()), float(p.max())
    return (p - lo) / max(hi - lo, 1e-6)
