"""`smallcut worker` arguments and CPU thread sharing between prefork children."""

from __future__ import annotations

import argparse
import os

from smallcut.settings import Settings, get_settings
from workers import cli_worker


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli_worker.add_arguments(p)
    return p.parse_args(argv)


def test_argv_defaults_come_from_settings():
    argv = cli_worker.build_argv(parse(), Settings(_env_file=None, queue="gpu", concurrency=3))
    assert "--queues=gpu" in argv and "--concurrency=3" in argv and "--pool=prefork" in argv
    argv = cli_worker.build_argv(parse("--queues", "cpu,gpu", "-c", "2", "--pool", "solo"), Settings(_env_file=None))
    assert "--queues=cpu,gpu" in argv and "--concurrency=2" in argv and "--pool=solo" in argv


def test_children_share_the_cores(monkeypatch):
    monkeypatch.delenv("SMALLCUT_INTRA_OP_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    cli_worker.share_cores(Settings(_env_file=None), concurrency=2, pool="prefork")
    assert os.environ["SMALLCUT_INTRA_OP_THREADS"] == str(max(1, cores // 2))
    assert get_settings().intra_op_threads == max(1, cores // 2)
    monkeypatch.delenv("SMALLCUT_INTRA_OP_THREADS")
    get_settings.cache_clear()
    cli_worker.share_cores(Settings(_env_file=None, intra_op_threads=1), concurrency=4, pool="prefork")
    assert "SMALLCUT_INTRA_OP_THREADS" not in os.environ  # explicit setting wins
