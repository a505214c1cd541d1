"""`smallcut models fetch|list|path`: get and verify weights without running anything else."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["fetch", "list", "path"], help="fetch: download+verify+cache; list: registry; path: cached file")
    p.add_argument("--name", default=None, help="model name (default: SMALLCUT_MODEL, u2netp)")
    p.add_argument("--force", action="store_true", help="download again even if cached")


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
    if name not in models.REGISTRY:
        print(f"error: unknown model {name!r}; known: {', '.join(models.REGISTRY)}")
        return 2
    spec = models.REGISTRY[name]
    try:
        if args.action == "fetch":
            path = models.fetch(spec, s.model_dir, force=args.force)
        else:
            _, path = models.resolve(name, s.model_dir, s.model_path, auto_fetch=False)
    except models.ModelError as exc:
        print(f"error: {exc}")
        return 1
    print(path)
    return 0
