"""The saliency network as a function: RGB crops in, probability maps out, batched."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .models import ModelSpec

BATCH_BUCKETS = (1, 2, 4, 8)  # GPU batches are padded up to one of these: few shapes, few sessions


@dataclass
class SaliencyNet:
    """One loaded network. `predict` is thread-safe (ORT sessions are) and batches same-size inputs.

    On a GPU, give `session_for_shape` (a factory of sessions like `session`): each input shape then
    runs on a session of its own, batches padded to BATCH_BUCKETS. Why: ONNX Runtime's CUDA
    convolutions re-plan (cuDNN descriptors, algorithm, workspace) whenever a node sees another input
    shape than last time. A frame's passes alternate coarse, tile and zoom shapes, so on one session
    every pass re-planned all of u2netp's convolutions and cost many times a repeated pass, whatever
    its size (docs/gpu.md).
    """

    session: object  # onnxruntime.InferenceSession
    spec: ModelSpec
    max_batch: int = 8
    session_for_shape: Callable[[], object] | None = None
    max_sessions: int = 24  # beyond this many shapes the shared session serves the rest
    other_session: object | None = None  # CPU: serves every run but the steady coarse pass (Settings.cpu_arena)

    def __post_init__(self) -> None:
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name
        self.passes = 0  # network runs, for stats
        self._lock = threading.Lock()
        self._shrink = arena_shrink_options()
        self._sessions: dict[tuple[int, ...], object] = {}

    def _session_for(self, shape: tuple[int, ...]):
        with self._lock:
            sess = self._sessions.get(shape)
            if sess is None and len(self._sessions) < self.max_sessions:
                sess = self._sessions[shape] = self.session_for_shape()
        return sess or self.session

    def warm(self, sides: tuple[int, ...]) -> int:
        """Create and run the per-shape sessions of square inputs of these sides, every batch bucket,
        so a worker's first frames do not pay for them. Returns how many exist (0 off the GPU path)."""
        if self.session_for_shape is None:
            return 0
        for side in sorted(set(sides)):
            for n in BATCH_BUCKETS:
                if n <= self.max_batch:
                    self.predict([np.zeros((side, side, 3), np.uint8)] * n)
        return len(self._sessions)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        n = batch.shape[0]
        if self.session_for_shape is not None:
            size = next((b for b in BATCH_BUCKETS if b >= n), n)
            if size > n:
                batch = np.concatenate([batch, np.zeros((size - n, *batch.shape[1:]), batch.dtype)])
            return self._session_for(batch.shape).run([self._output], {self._input: batch})[0][:n]
        # the CPU arena keeps the peak of every batch shape it served; odd shapes (tiles, zoom
        # batches) run on the arena-less other session, or give their memory back at once: the
        # steady coarse pass's buffers stay warm
        steady = n == 1 and batch.shape[2:] == (self.spec.input_size,) * 2
        if self.other_session is not None and not steady:
            return self.other_session.run([self._output], {self._input: batch})[0]
        return self.session.run([self._output], {self._input: batch}, None if steady else self._shrink)[0]

    def normalise(self, rgb: np.ndarray) -> np.ndarray:
        return normalise(rgb, self.spec)

    def predict(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Probability maps (float32, same HxW as each input) for uint8 RGB inputs of any sizes.

        Inputs of equal size run as one batch (up to max_batch); different sizes run separately.
        """
        out: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, img in enumerate(images):
            groups.setdefault(img.shape[:2], []).append(i)
        for idx in groups.values():
            for start in range(0, len(idx), self.max_batch):
                chunk = idx[start : start + self.max_batch]
                pred = self._run(np.stack([self.normalise(images[i]) for i in chunk]))
                with self._lock:
                    self.passes += 1
                for j, i in enumerate(chunk):
                    out[i] = np.ascontiguousarray(pred[j, 0], dtype=np.float32)
        return out  # type: ignore[return-value]


def normalise(rgb: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """uint8 HxWx3 -> float32 3xHxW the way the weights were trained (and rembg feeds them)."""
    x = rgb.astype(np.float32)
    x *= 1.0 / (max(float(x.max()), 1e-6) if spec.scale_by_max else 255.0)
    x -= np.asarray(spec.mean, np.float32)
    x /= np.asarray(spec.std, np.float32)
    return x.transpose(2, 0, 1)


def arena_shrink_options():
    """Run options that return the CPU arena's free memory to the system at the end of a run.

    With the arena off every pass pays for its allocations (zoom and tile batches run slower); on
    and never shrunk, it grows to the peak of every batch shape seen, gigabytes per process.
    """
    import onnxruntime as ort

    opts = ort.RunOptions()
    opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return opts
