"""`smallcut events serve [--host H] [--port P] [--redis-list KEY]`: the event receiver."""

from __future__ import annotations

import argparse
import ipaddress
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    serve = sub.add_parser("serve", help="HTTP webhook for S3/MinIO notifications (+ MinIO's Redis list target)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address")
    serve.add_argument("--port", type=int, default=8090, help="port")
    serve.add_argument("--redis-list", default=None,
                       help="also consume this Redis list (MinIO Redis target, format=access); "
                            "default: SMALLCUT_EVENTS_REDIS_KEY")
    serve.add_argument("--queue", default=None, help="queue for the tasks (default: SMALLCUT_QUEUE)")
    serve.add_argument("--log-level", default="info")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from smallcut.settings import get_settings
    from smallcut.status import StatusStore
    from smallcut.celery_config import producer_app

    from .events import Intake, make_app

    settings = get_settings()
    if settings.events_token is None and not _is_loopback(args.host):
        print("error: set SMALLCUT_EVENTS_TOKEN before listening on a non-loopback address", file=sys.stderr)
        return 2
    logging.getLogger("producer").setLevel(args.log_level.upper())
    intake = Intake(settings, StatusStore.from_settings(settings), producer_app(), queue=args.queue)
    app = make_app(settings, intake, redis_key=args.redis_list or settings.events_redis_key)
    # log_config=None: uvicorn's own and access lines go through smallcut's root handler, which masks
    # tokens in URLs (a request line can carry ?token=...)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)
    return 0
