"""A float16 copy of a network for GPUs: half the bytes per weight and activation, and convolutions
on the tensor cores' half-precision path.

Inputs and outputs stay float32 (casts at the graph's edges), so the engine feeds and reads it
exactly as the float network. Weights under float16's smallest normal value are clamped to ±1e-7,
since float16 would flush them to zero; u2netp has only a handful, and its masks stay close to the
float network's (docs/gpu.md).
On a CPU it is slower than fp32: ONNX Runtime's CPU kernels mostly run half precision through casts.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

# Part of the cached file's name: a change to how the copy is built makes workers build a new one.
RECIPE = "h1"


class HalfPrecisionError(RuntimeError):
    """The float16 copy cannot be built (converter missing, unwritable cache)."""


def fp16_path(float_path: Path) -> Path:
    """Where the fp16 copy of a cached model lives: next to it, `<stem>.fp16-<recipe>.onnx`."""
    stem = float_path.name.removesuffix(".onnx").removesuffix(".dyn")
    return float_path.with_name(f"{stem}.fp16-{RECIPE}.onnx")


def convert(src: Path, dst: Path) -> Path:
    """Write the float16 model of `src` to `dst` atomically (a crash leaves no half-written file)."""
    import onnx

    try:
        from onnxconverter_common import float16
    except ImportError as exc:  # pragma: no cover - a core dependency; only a broken install lacks it
        raise HalfPrecisionError("SMALLCUT_PRECISION=fp16 needs the onnxconverter-common package") from exc
    model = onnx.load(str(src))
    with warnings.catch_warnings():  # one warning per clamped weight: noise, the docstring says why
        warnings.simplefilter("ignore", UserWarning)
        half = float16.convert_float_to_float16(model, keep_io_types=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dst.name, suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        onnx.save(half, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


def ensure_fp16(src: Path) -> Path:
    """The fp16 copy of `src`, converted once if the cache has none."""
    dst = fp16_path(src)
    if not dst.exists():
        log.info("no fp16 model at %s: converting %s", dst, src.name)
        try:
            convert(src, dst)
        except OSError as exc:  # a read-only model cache, a full disk
            raise HalfPrecisionError(
                f"cannot write the fp16 model at {dst} ({exc}); make the model cache writable or unset SMALLCUT_PRECISION"
            ) from exc
    return dst
