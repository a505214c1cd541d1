"""An int8 copy of a network for CPUs: static QDQ quantization, calibrated on the user's images.

Why static int8: on CPUs with VNNI (AVX512-VNNI, AVX-VNNI) integer convolutions run a u2netp pass
much faster than float. Why not everything: quantizing the residual Adds (or every op) ruins the
masks, and two convolutions of the stage-2 decoder of u2netp lose most of the quality on their
own (found by quantizing one layer at a time); those stay float. What is quantized — Conv, Concat,
MaxPool, Resize, Relu, weights per channel — keeps the plain pass's quality on ECSSD. Every build
is checked against the float network on held-out images before it is used. The measurements are
in docs/engine.md, "Precision on the CPU".

Activation ranges decide the rest. Calibrated on smallcut's synthetic sample frames (plain
backdrops), real photos were cut worse than with ranges measured on real photos. Those ranges ship
with the package (`data/u2netp.int8-ranges.json`, made by `python -m training.int8_ranges` from
ECSSD's development photos, keyed to the published weights), so the default build needs no
calibration run; `smallcut models quantize --images DIR` still calibrates on your own photos.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .models import ModelSpec
from .net import normalise
from .resample import resize

log = logging.getLogger(__name__)

QUANT_OPS = ("Conv", "Concat", "MaxPool", "Resize", "Relu")
# Nodes that must stay float, per registry model (names as the published file's exporter gave them).
KEEP_FLOAT: dict[str, tuple[str, ...]] = {
    "u2netp": ("Conv_765", "Conv_787"),  # the stage-2 decoder's last two convs
}
# The same two convs in a retrained network exported by training.export (PyTorch's node names): a
# fine-tuned u2netp quantized without them disagreed with its float self (mask IoU 0.45 -> 0.97 with).
KEEP_FLOAT_EXPORTED = ("/stage2d/dec.3/conv/Conv", "/stage2d/dec.4/conv/Conv")
# int8 vs float masks (> 0.5), mean IoU on held-out frames: below this the build is refused. Set
# well under what a good build reaches (the sample frames' small objects make the check strict) and
# far above a broken one, such as a build with the residual Adds quantized (docs/engine.md).
MIN_AGREEMENT = 0.85


class QuantizeError(RuntimeError):
    """The int8 build failed or disagrees with the float network."""


@dataclass(frozen=True)
class QuantReport:
    path: Path
    calibration_images: int
    check_images: int
    agreement: float  # mean IoU of int8 vs float masks on the check images
    float_ms: float  # mean ms per pass on the check images, this machine
    int8_ms: float
    shipped_ranges: bool = False  # ranges from the package (no calibration run)


# Part of the cached file's name: a change to how the copy is built makes workers build a new one
# instead of loading an older build (r7: 7-bit weights; r8: and ranges measured on real photos).
RECIPE = "r8"
# Activation ranges measured on real photos, per registry model, next to this module.
SHIPPED_RANGES: dict[str, str] = {"u2netp": "u2netp.int8-ranges.json"}
DATA_DIR = Path(__file__).with_name("data")


def int8_path(float_path: Path) -> Path:
    """Where the int8 copy of a cached model lives: next to it, `<stem>.int8-<recipe>.onnx`."""
    stem = float_path.name.removesuffix(".onnx").removesuffix(".dyn")
    return float_path.with_name(f"{stem}.int8-{RECIPE}.onnx")


def keep_float_for(spec: ModelSpec, model) -> tuple[str, ...]:
    """The float-only nodes known for this model that its graph has: the published file's names, or
    those of a network exported by training.export."""
    names = {node.name for node in model.graph.node}
    return tuple(n for n in (*KEEP_FLOAT.get(spec.name, ()), *KEEP_FLOAT_EXPORTED) if n in names)


def weights_digest(model) -> str:
    """sha256 of a graph's weights (initializers by name): the same for the published file and its
    symbolic-dims copy, different for any retrained network."""
    from onnx import numpy_helper

    h = hashlib.sha256()
    for init in sorted(model.graph.initializer, key=lambda t: t.name):
        h.update(init.name.encode())
        h.update(np.ascontiguousarray(numpy_helper.to_array(init)).tobytes())
    return h.hexdigest()


def _cache_supported() -> bool:
    """Whether this onnxruntime's quantize_static can take ranges instead of calibrating (≥ 1.26)."""
    from onnxruntime.quantization import quantize_static

    return "calibration_cache_path" in inspect.signature(quantize_static).parameters


def shipped_ranges(spec: ModelSpec, model) -> dict[str, list[float]] | None:
    """The packaged activation ranges for this network ({tensor: [lowest, highest]}), or None when
    none ship for it, its weights are not the ones they were measured on, or this onnxruntime cannot
    use them."""
    name = SHIPPED_RANGES.get(spec.name)
    path = DATA_DIR / name if name else None
    if path is None or not path.is_file() or not _cache_supported():
        return None
    data = json.loads(path.read_text())
    if data.get("weights_sha256") != weights_digest(model):
        log.info("shipped int8 ranges %s are for other weights: calibrating on images instead", path.name)
        return None
    return data["ranges"]


def measure_ranges(src: Path, feeds: list[np.ndarray]) -> dict[str, list[float]]:
    """MinMax activation ranges of the network at `src` over `feeds` (normalised NCHW inputs of any
    sizes): what `quantize` builds from, and what `training.int8_ranges` ships."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    model = onnx.load(str(src))
    input_name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "float13.onnx"
        onnx.save(_opset13(model, version_converter), str(staged))
        calibrator = create_calibrator(staged, list(QUANT_OPS), augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=CalibrationMethod.MinMax)
        calibrator.collect_data(Reader())
        data = calibrator.compute_data()
    return {name: [float(np.min(r.range_value[0])), float(np.max(r.range_value[1]))] for name, r in data.data.items()}


def _opset13(model, version_converter):
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)
    return version_converter.convert_version(model, 13) if opset < 13 else model


def _write_cache(ranges: dict[str, list[float]], path: Path) -> None:
    """Ranges in the calibration-cache format of onnxruntime's quantize_static."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData, save_tensors_data

    data = {k: TensorData(lowest=np.array(lo, np.float32), highest=np.array(hi, np.float32)) for k, (lo, hi) in ranges.items()}
    save_tensors_data(TensorsData(CalibrationMethod.MinMax, data), path)


def quantize(src: Path, dst: Path, spec: ModelSpec, calibration: Iterable[np.ndarray],
             ranges: dict[str, list[float]] | None = None) -> int:
    """Write the int8 QDQ model of `src` to `dst` (atomically); returns the calibration image count.

    Opset is raised to 13 first: per-channel weight scales need it. With `ranges` (shipped_ranges)
    nothing is calibrated; otherwise calibration is MinMax over the `calibration` frames at the
    trained input size — the view the coarse pass has.
    """
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    model = onnx.load(str(src))
    keep_float = keep_float_for(spec, model)
    input_name = model.graph.input[0].name
    size = (spec.input_size, spec.input_size)
    feeds = [] if ranges else [{input_name: normalise(resize(rgb, size), spec)[None].copy()} for rgb in calibration]
    if not feeds and not ranges:
        raise QuantizeError("no calibration images")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self):
            return next(self._it, None)

    model = _opset13(model, version_converter)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        staged = Path(tmp) / "float13.onnx"
        onnx.save(model, str(staged))
        out = Path(tmp) / dst.name
        cache = {}
        if ranges:
            cache_path = Path(tmp) / "ranges.json"  # a copy: quantize_static may rewrite a cache it rejects
            _write_cache(ranges, cache_path)
            cache = {"calibration_cache_path": str(cache_path)}
        quantize_static(
            str(staged), str(out), Reader(),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            # 7-bit weights: CPUs without VNNI (AVX2, AVX-512F) sum u8 x s8 pairs in saturating
            # int16 and lose accuracy with full 8-bit weights, while 7 bits cost no speed
            # (docs/engine.md); a cached model may also move to another machine.
            reduce_range=True,
            op_types_to_quantize=list(QUANT_OPS), nodes_to_exclude=list(keep_float),
            calibrate_method=CalibrationMethod.MinMax, **cache,
        )  # fmt: skip
        os.replace(out, dst)
    return len(feeds)


def agreement(float_net, int8_net, images: list[np.ndarray], size: int) -> tuple[float, float, float]:
    """Mean IoU of the two networks' masks (> 0.5) on `images` at `size`², and mean ms per pass of each."""
    import time

    ious, t_float, t_int8 = [], 0.0, 0.0
    for rgb in images:
        x = resize(rgb, (size, size))
        t0 = time.perf_counter()
        a = float_net.predict([x])[0] > 0.5
        t1 = time.perf_counter()
        b = int8_net.predict([x])[0] > 0.5
        t2 = time.perf_counter()
        t_float, t_int8 = t_float + t1 - t0, t_int8 + t2 - t1
        union = int((a | b).sum())
        ious.append(1.0 if union == 0 else int((a & b).sum()) / union)
    n = max(1, len(images))
    return float(np.mean(ious)) if ious else 0.0, 1000 * t_float / n, 1000 * t_int8 / n


def build(
    src: Path, spec: ModelSpec, images: list[np.ndarray], dst: Path | None = None, check_share: float = 0.25, min_agreement: float = MIN_AGREEMENT,
    ranges: dict[str, list[float]] | None = None,
) -> QuantReport:
    """Calibrate on most of `images` (or take `ranges`, and check on all of them), check against the
    float network on the rest, keep the build if they agree.

    A refused build leaves nothing at `dst`: a worker never loads a model that was not checked.
    """
    from .net import SaliencyNet
    from .session import create_session

    need = 2 if ranges else 4
    if len(images) < need:
        raise QuantizeError(f"need at least {need} images to {'check' if ranges else 'calibrate and check'}, got {len(images)}")
    dst = dst or int8_path(src)
    n_check = len(images) if ranges else max(2, int(round(len(images) * check_share)))
    calib, check = images[: len(images) - n_check], images[len(images) - n_check :]
    staged = dst.with_name(f"{dst.stem}.{os.getpid()}.unchecked.onnx")  # workers may build at once
    n = quantize(src, staged, spec, calib, ranges=ranges)
    try:
        cpu = ["CPUExecutionProvider"]
        float_net = SaliencyNet(create_session(src, cpu), spec)
        int8_net = SaliencyNet(create_session(staged, cpu), spec)
        score, f_ms, q_ms = agreement(float_net, int8_net, check, spec.input_size)
        if score < min_agreement:
            raise QuantizeError(
                f"int8 model disagrees with the float one on {len(check)} held-out images: mean IoU "
                f"{score:.3f} < {min_agreement:.2f}; not used"
            )
        os.replace(staged, dst)
    finally:
        staged.unlink(missing_ok=True)
    log.info("int8 model %s: agreement %.3f on %d images, %.0f -> %.0f ms per pass", dst, score, len(check), f_ms, q_ms)
    return QuantReport(dst, n, len(check), score, f_ms, q_ms, shipped_ranges=bool(ranges))


def build_default(src: Path, spec: ModelSpec, dst: Path | None = None) -> QuantReport:
    """The build used when nobody gives photos: the shipped ranges where they fit these weights
    (checked on 12 sample frames), else calibrated on the sample frames."""
    import onnx

    ranges = shipped_ranges(spec, onnx.load(str(src)))
    return build(src, spec, sample_images(12 if ranges else 40), dst, ranges=ranges)


def ensure_int8(src: Path, spec: ModelSpec) -> Path:
    """The checked int8 copy of `src`, built once (build_default) if the cache has none.

    `smallcut models quantize --images DIR` builds it from your own photos instead.
    """
    dst = int8_path(src)
    if not dst.exists():
        log.info("no int8 model at %s: building one", dst)
        try:
            build_default(src, spec, dst)
        except OSError as exc:  # a read-only model cache, a full disk
            raise QuantizeError(
                f"cannot build the int8 model at {dst} ({exc}); run `smallcut models quantize` where the "
                "model cache is writable, or set SMALLCUT_PRECISION=fp32"
            ) from exc
    return dst


def sample_images(count: int = 40) -> list[np.ndarray]:
    """Catalog-like calibration frames when the user gives none: smallcut's deterministic samples."""
    from smallcut import samples

    from . import codec

    out: list[np.ndarray] = []
    seed = 0
    while len(out) < count:
        out.extend(codec.decode(data) for _, data in samples.generate(seed=seed))
        seed += 1
    return out[:count]


def folder_images(folder: Path, limit: int = 60) -> list[np.ndarray]:
    """Up to `limit` decodable images under `folder` (sorted, recursive), as RGB."""
    from . import codec

    out = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            out.append(codec.decode(path.read_bytes()))
        except Exception:  # noqa: BLE001 - not an image: skip it, calibration needs only images
            continue
        if len(out) >= limit:
            break
    return out
