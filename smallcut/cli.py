"""`smallcut` command line: one module per verb, imported only when that verb is the one given.

Producer verbs never import the engine (no onnxruntime/OpenCV on producer hosts).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# verb -> module with add_arguments(parser) and run(args) -> exit code; heavy imports live in run()
VERBS: dict[str, tuple[str, str]] = {
    "cutout": ("workers.engine.cli", "cut out local image files into PNGs (no servers needed)"),
    "models": ("workers.engine.cli_models", "fetch, verify and list models"),
    "worker": ("workers.cli_worker", "run a Celery worker in the foreground (one fleet node)"),
    "enqueue": ("producer.cli_enqueue", "enqueue every image under s3://bucket/prefix (or a manifest) as one batch"),
    "status": ("producer.cli_status", "status of a batch or of one s3://bucket/key"),
    "retry-failed": ("producer.cli_retry", "enqueue the failed keys of a batch again"),
    "events": ("producer.cli_events", "receive S3/MinIO upload notifications and enqueue them"),
    "api": ("producer.cli_api", "REST API, review page, event webhook and /metrics (FastAPI)"),
    "stack": ("smallcut.cli_stack", "start/stop a local Redis-protocol server, S3 server and workers"),
    "demo": ("smallcut.cli_demo", "end to end on a local stack with generated sample images"),
}


def version() -> str:
    """The installed distribution's version (pyproject.toml), not a second copy kept in the code."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("smallcut")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def chosen_verb(argv: list[str]) -> str | None:
    """The verb on the command line (the first word that names one), without parsing the rest."""
    return next((a for a in argv if a in VERBS), None)


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """Every verb is listed (with its help line); only `verb`'s module is imported for its arguments,
    so `smallcut status` never loads the engine (OpenCV, numpy, PIL, ONNX Runtime) to parse a batch id."""
    parser = argparse.ArgumentParser(prog="smallcut", description="Background removal that keeps small objects.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"smallcut {version()}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == verb:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(chosen_verb(argv)).parse_args(argv)
    from smallcut.logging_json import setup_logging
    from smallcut.settings import get_settings

    setup_logging(logging.DEBUG if args.verbose else logging.WARNING, json=get_settings().log_json)
    try:
        return int(args._module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
