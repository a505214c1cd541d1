"""What every producer command does with infrastructure errors: one clear line, exit code 2."""

from __future__ import annotations

import sys
from contextlib import contextmanager


class CommandFailed(Exception):
    """Raised inside `clear_errors` to end the command with exit code 2."""


def guarded(body):
    """A verb's `run`: `body(args)` under `clear_errors`, exit code 2 when infrastructure fails."""

    def run(args):
        try:
            with clear_errors():
                return body(args)
        except CommandFailed:
            return 2

    run.__doc__ = body.__doc__
    return run


@contextmanager
def clear_errors():
    """Storage or Redis unreachable, a missing bucket: say so plainly instead of a stack trace."""
    from botocore.exceptions import BotoCoreError, ClientError
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    from smallcut.keys import InvalidKey

    from .enqueue import OutputUnavailable

    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        from smallcut.storage import describe

        print(f"error: object storage: {describe(exc)}", file=sys.stderr)
        raise CommandFailed from exc
    except (RedisError, OperationalError) as exc:
        print(f"error: Redis/broker: {exc} (check SMALLCUT_REDIS_URL / SMALLCUT_BROKER_URL)", file=sys.stderr)
        raise CommandFailed from exc
    except (InvalidKey, OutputUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise CommandFailed from exc
