"""`smallcut api [--host H] [--port P]`: the REST API, review page, event webhook and /metrics."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="bind address (non-loopback needs SMALLCUT_API_TOKEN)")
    p.add_argument("--port", type=int, default=8080, help="port")
    p.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from smallcut.settings import get_settings

    from .api import make_app
    from .api_cutout import ApiConfigError, check_settings
    from .cli_events import _is_loopback

    settings = get_settings()
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if not token and not _is_loopback(args.host):
        print("error: set SMALLCUT_API_TOKEN before listening on a non-loopback address", file=sys.stderr)
        return 2
    logging.getLogger("producer").setLevel(args.log_level.upper())
    try:
        check_settings(settings)
    except ApiConfigError as exc:  # refuse to start rather than fail every cut-out request
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = make_app(settings)
    # log_config=None: uvicorn's own and access lines go through smallcut's root handler, so they are
    # JSON lines with SMALLCUT_LOG_JSON and have credentials and ?token= values masked like every line
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)
    return 0
