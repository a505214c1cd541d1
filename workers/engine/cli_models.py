"""`smallcut models fetch|list|path|quantize`: get, verify and convert weights without running anything else."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", choices=["fetch", "list", "path", "quantize"],
        help="fetch: download+verify+cache; list: registry; path: cached file; "
        "quantize: build the checked int8 copy used with SMALLCUT_PRECISION=int8",
    )  # fmt: skip
    p.add_argument("--name", default=None, help="model name (default: SMALLCUT_MODEL, u2netp)")
    p.add_argument("--force", action="store_true", help="download (or quantize) again even if cached")
    p.add_argument("--int8", action="store_true",
                   help="fetch: also build the checked int8 copy CPU workers run, so that a read-only model "
                        "dir (an image layer, a read-only volume) has it ready")
    p.add_argument("--images", type=Path, default=None,
                   help="quantize: calibrate on these photos (a folder; default: the sample frames)")
    p.add_argument("--limit", type=int, default=60, help="quantize: at most this many images from --images")


def run(args: argparse.Namespace) -> int:
    from smallcut.settings import get_settings

    from . import models

    s = get_settings()
    name = args.name or s.model
    if args.action == "list":
        for spec in models.REGISTRY.values():
            cached = models.symbolic_path(s.model_dir, spec).exists()
            print(f"{spec.name:12s} md5={spec.md5 or '-':32s} input={spec.input_size} cached={'yes' if cached else 'no'} source={spec.source or '(drop in by path)'}")
        return 0
    if args.action == "quantize":
        return _quantize(args, s, name)
    # without --name, fetch gets every network the engine loads: the main one and the close passes' one
    names = [name] if args.name or args.action != "fetch" or not s.close_model else [name, s.close_model]
    for name in names:
        if name not in models.REGISTRY:
            print(f"error: unknown model {name!r}; known: {', '.join(models.REGISTRY)}")
            return 2
        spec = models.REGISTRY[name]
        try:
            if args.action == "fetch":
                path = models.fetch(spec, s.model_dir, force=args.force)
                if args.int8:
                    rc = _quantize(args, s, name)
                    if rc:
                        return rc
                    continue
            else:
                _, path = models.resolve(name, s.model_dir, s.model_path, auto_fetch=False)
        except models.ModelError as exc:
            print(f"error: {exc}")
            return 1
        print(path)
    return 0


def _quantize(args: argparse.Namespace, s, name: str) -> int:
    from . import models, quantize

    try:
        spec, path = models.resolve(name, s.model_dir, s.model_path)
    except models.ModelError as exc:
        print(f"error: {exc}")
        return 1
    if args.images is not None and not args.images.is_dir():
        print(f"error: {args.images} is not a folder")
        return 2
    dst = quantize.int8_path(Path(path))
    if dst.exists() and not args.force and args.images is None:
        print(dst)  # already built (and checked); --images or --force builds it again
        return 0
    try:
        if args.images:
            report = quantize.build(Path(path), spec, quantize.folder_images(args.images, args.limit), dst)
        else:
            report = quantize.build_default(Path(path), spec, dst)
    except quantize.QuantizeError as exc:
        print(f"error: {exc}")
        return 1
    source = "the shipped ranges (real photos)" if report.shipped_ranges else f"{report.calibration_images} images"
    print(
        f"{report.path}\n  calibrated on {source}, checked on {report.check_images}: "
        f"agreement with the float model {report.agreement:.3f} (mean IoU of masks); "
        f"{report.float_ms:.0f} -> {report.int8_ms:.0f} ms per {spec.input_size}² pass on this machine"
    )
    return 0
