"""Crash recovery in seconds, on a stack of its own (it kills Redis and workers):
- the stack's Redis SIGKILLed and restarted mid-batch: its append-only file brings back the queue,
  the batch and the statuses; keys whose chunk Celery cancelled on the connection loss are requeued
  by the lease reaper; `enqueue --wait` rides it out and the batch ends 30/30, no key stranded
  (`processing` in one attempt) for more than STRANDED_AT_MOST seconds;
- a whole worker SIGKILLed mid-batch with a second worker running: the second one's reaper requeues
  the dead one's keys within the lease time, far below the broker's visibility timeout (kept at its
  900 s default here, so only the leases can explain a quick finish): none stranded for more than
  STRANDED_AT_MOST seconds, the batch done within that plus the keys' processing time;
- the lease store and the reaper on their own, against the real server.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from smallcut import localstack
from smallcut import keys as keyrules
from smallcut.status import State

from .conftest import ALLOWED, IN_BUCKET, OUT_BUCKET, running_worker, settings_of

pytestmark = pytest.mark.integration

N = 30
# far below the 900 s visibility timeout; covers the lease time (20 s), a reaper round (5 s), model
# loads after the restart and 30 small frames on a busy two-core machine
FINISH_WITHIN = 60 + 120
STRANDED_AT_MOST = 60  # seconds a key may sit `processing` in one attempt (the lease time, a reaper round, the key's work)


@pytest.fixture(scope="module")
def lease_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("leases")
    state = localstack.up(workdir, workers=0)
    env = {**state.env, "SMALLCUT_ALLOWED_BUCKETS": ALLOWED, "SMALLCUT_QUEUE": "cpu", "SMALLCUT_INTRA_OP_THREADS": "1",
           "SMALLCUT_PROVIDERS": "CPUExecutionProvider", "SMALLCUT_RETRY_BACKOFF": "0.2"}
    from smallcut.status import StatusStore
    from smallcut.storage import make_client

    settings = settings_of(env)
    s3 = make_client(settings)
    for b in (IN_BUCKET, OUT_BUCKET):
        s3.create_bucket(Bucket=b)
    yield state, env, settings, s3, StatusStore.from_settings(settings)
    localstack.down(workdir)


def put_frames(s3, prefix: str, n: int = N) -> None:
    from tests.corpus import save, scene

    for i in range(n):  # big enough that a chunk of 3 takes a while, small enough for 30 in a minute
        s3.put_object(Bucket=IN_BUCKET, Key=f"{prefix}{i:03d}.jpg",
                      Body=save(Image.fromarray(scene(480, 360, i)), "JPEG"))


def start_enqueue(env: dict, prefix: str, out_prefix: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "smallcut.cli", "enqueue", f"s3://{IN_BUCKET}/{prefix}", "--out",
         f"s3://{OUT_BUCKET}/{out_prefix}", "--chunk-size", "3", "--wait", "--json"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def batch_of(status, prefix: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = status.get_object(f"{IN_BUCKET}/{prefix}{N - 1:03d}.jpg")
        if obj and obj.get("batch"):
            return obj["batch"]
        time.sleep(0.1)
    raise AssertionError("the batch was not enqueued")


def wait_completed(status, batch: str, at_least: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while (status.get_batch(batch).completed if status.get_batch(batch) else 0) < at_least:
        assert time.monotonic() < deadline, status.get_batch(batch)
        time.sleep(0.1)


class ProcessingSpans:
    """How long each key stays `processing` in one attempt (its status's `attempts` tells attempts
    apart), sampled every `period` s from Redis while the block runs; a failed read (Redis is being
    restarted) skips a sample. A key stranded by a lost worker or a dropped chunk stays `processing`
    until a reaper requeues it: its span is how long it was stranded, plus its own work."""

    def __init__(self, status, oids: list[str], period: float = 0.5) -> None:
        self.status, self.oids, self.period = status, oids, period
        self.spans: dict[tuple[str, int], list[float]] = {}  # (oid, attempts) -> [first seen, last seen]
        self._stop = threading.Event()

    def sample(self) -> None:
        from redis.exceptions import RedisError

        for oid in self.oids:
            try:
                obj = self.status.get_object(oid)
            except RedisError:
                return
            if obj and obj.get("state") == State.PROCESSING.value:
                seen = time.monotonic()
                self.spans.setdefault((oid, int(obj.get("attempts") or 0)), [seen, seen])[1] = seen

    def __enter__(self) -> "ProcessingSpans":
        def poll() -> None:
            while not self._stop.is_set():
                self.sample()
                self._stop.wait(self.period)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def longest(self) -> tuple[float, str]:
        """The longest span in seconds (at least: sampled) and its key; (0, '') when none was seen."""
        return max(((last - first, oid) for (oid, _), (first, last) in self.spans.items()), default=(0.0, ""))


def assert_one_output_each(s3, status, prefix: str, out_prefix: str) -> None:
    outputs = [o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix=f"{out_prefix}/").get("Contents", [])]
    assert len(outputs) == N, outputs
    for i in range(N):
        key = f"{prefix}{i:03d}.jpg"
        obj = status.get_object(f"{IN_BUCKET}/{key}")
        assert obj["state"] in (State.DONE.value, State.SKIPPED.value), obj
        out_key = keyrules.output_key(key, out_prefix, prefix)  # the --out prefix replaces the listed one
        png = Image.open(io.BytesIO(s3.get_object(Bucket=OUT_BUCKET, Key=out_key)["Body"].read()))
        png.load()


def test_redis_sigkill_and_restart_mid_batch(lease_stack):
    state, env, settings, s3, status = lease_stack
    prefix, out_prefix = "rk/", "rk-out"
    put_frames(s3, prefix)
    oids = [f"{IN_BUCKET}/{prefix}{i:03d}.jpg" for i in range(N)]
    with running_worker(env, Path(state.dir), "rk-worker", concurrency=2, queues="cpu"), \
            ProcessingSpans(status, oids) as spans:
        waiter = start_enqueue(env, prefix, out_prefix)
        try:
            batch = batch_of(status, prefix)
            wait_completed(status, batch, 4)
            time.sleep(1.5)  # the append-only file is fsynced once a second: what is older than that survives
            killed_at = time.monotonic()
            localstack.restart_redis(state, kill=True)
            out, err = waiter.communicate(timeout=FINISH_WITHIN)
        finally:
            if waiter.poll() is None:
                waiter.kill()
        took = time.monotonic() - killed_at
    assert "Traceback" not in err and "KeyError" not in err, err
    assert waiter.returncode == 0, (out, err)
    summary = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
    assert summary["total"] == N and summary["done"] + summary["skipped"] == N and summary["failed"] == 0, summary
    assert took < FINISH_WITHIN
    stranded, which = spans.longest()
    assert spans.spans and stranded < STRANDED_AT_MOST, f"{which} was processing for {stranded:.0f} s in one attempt"
    assert_one_output_each(s3, status, prefix, out_prefix)
    # `smallcut status` answers from the reloaded data
    proc = subprocess.run([sys.executable, "-m", "smallcut.cli", "status", batch, "--json"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["total"] == N, proc.stderr
    requeued = sum(1 for i in range(N) if status.get_object(f"{IN_BUCKET}/{prefix}{i:03d}.jpg").get("requeued_from"))
    print(f"\nRedis killed at {summary['total'] - N + 4}+ finished; {requeued} keys requeued by a reaper; "
          f"batch done {took:.0f} s after; longest time a key sat processing: {stranded:.0f} s")


def test_status_says_no_batch_or_redis_error(lease_stack):
    state, env, *_ = lease_stack
    run = lambda e: subprocess.run([sys.executable, "-m", "smallcut.cli", "status", "no-such-batch"],  # noqa: E731
                                   env={**os.environ, **e}, capture_output=True, text=True, timeout=60)
    missing = run(env)
    assert missing.returncode == 1 and "no batch no-such-batch" in missing.stdout, missing
    down = run({**env, "SMALLCUT_REDIS_URL": f"redis://127.0.0.1:{localstack.free_port()}/0"})
    assert down.returncode == 2 and "error: Redis" in down.stderr and "Traceback" not in down.stderr, down


def test_whole_worker_sigkill_second_worker_takes_over(lease_stack):
    state, env, settings, s3, status = lease_stack
    prefix, out_prefix = "wk/", "wk-out"
    put_frames(s3, prefix)
    assert settings.visibility_timeout >= 900  # recovery below cannot come from the broker
    oids = [f"{IN_BUCKET}/{prefix}{i:03d}.jpg" for i in range(N)]
    with running_worker(env, Path(state.dir), "wk-doomed", concurrency=2, queues="cpu") as doomed, \
            ProcessingSpans(status, oids) as spans:
        waiter = start_enqueue(env, prefix, out_prefix)
        try:
            batch = batch_of(status, prefix)
            wait_completed(status, batch, 3)
            with running_worker(env, Path(state.dir), "wk-rescuer", concurrency=1, queues="cpu"):
                held = [oid for oid, st in status.batch_items(batch, count=1000)[1].items()
                        if st == State.PROCESSING.value]
                os.killpg(doomed.pid, signal.SIGKILL)  # main process and children: no warm shutdown, no ack
                doomed.wait(timeout=30)
                killed_at, killed_wall = time.monotonic(), time.time()
                out, err = waiter.communicate(timeout=FINISH_WITHIN)
                took = time.monotonic() - killed_at
        finally:
            if waiter.poll() is None:
                waiter.kill()
    assert waiter.returncode == 0, (out, err)
    summary = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
    assert summary["done"] + summary["skipped"] == N and summary["failed"] == 0, summary
    assert took < FINISH_WITHIN
    assert_one_output_each(s3, status, prefix, out_prefix)
    requeued = [oid for oid in held if status.get_object(oid).get("requeued_from")]
    assert requeued, f"keys held by the killed worker ({held}) were not requeued through their lease"
    stranded, which = spans.longest()
    assert stranded < STRANDED_AT_MOST, f"{which} was processing for {stranded:.0f} s in one attempt"
    # all done within STRANDED_AT_MOST plus the processing time of the keys left (the rescuer is one
    # process: their stage timings, download to upload, add up) and 30 s for its model load and polling
    after = [o for o in map(status.get_object, oids) if float(o["finished_at"]) > killed_wall]
    work = sum(sum(o["timings"].values()) for o in after) / 1000
    assert took < STRANDED_AT_MOST + work + 30, (took, len(after), work)
    print(f"\n{len(held)} keys held at the kill, {len(requeued)} requeued by a reaper; batch done {took:.0f} s after "
          f"({len(after)} keys left, {work:.0f} s of processing); longest time a key sat processing: {stranded:.0f} s")


# ---------------------------------------------------------------------- the lease store and the reaper
def test_leases_expire_unless_renewed_and_are_claimed_once(lease_stack):
    from smallcut.leases import LeaseStore

    *_, status = lease_stack
    store = LeaseStore(status.r, ttl=1.0, prefix="smallcut:test-leases:")
    kept, dropped = store.acquire({"job": {"n": 1}}), store.acquire({"job": {"n": 2}})
    assert store.claim_expired() == []
    for _ in range(4):
        time.sleep(0.4)
        assert store.renew([kept]) == 1
    claimed = store.claim_expired()
    assert claimed == [(dropped, {"job": {"n": 2}})]
    assert store.claim_expired() == []  # claimed: held by the claimer for one more ttl
    store.release(dropped)
    assert store.renew([dropped]) == 0  # a released lease is not brought back by a late heartbeat
    assert set(store.held()) == {kept}
    store.release(kept)


def test_reaper_requeues_only_unfinished_keys_of_its_batch(lease_stack):
    from smallcut.leases import LeaseStore
    from workers.leases import requeue_expired

    *_, status = lease_stack
    store = LeaseStore(status.r, ttl=0.5, prefix="smallcut:test-reap:")
    batch, keys = "reap-unit", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, k) for k in keys])
    status.transition(batch, f"{IN_BUCKET}/a.jpg", State.PROCESSING)
    status.transition(batch, f"{IN_BUCKET}/b.jpg", State.DONE)
    status.transition(batch, f"{IN_BUCKET}/c.jpg", State.FAILED, {"error": "bad"})
    job = {"batch": batch, "bucket": IN_BUCKET, "keys": keys, "out_bucket": OUT_BUCKET, "out_prefix": "x"}
    store.acquire({"job": job, "queue": "cpu", "holder": "host:123"})
    sent: list = []
    assert requeue_expired(store, status, lambda j, q: sent.append((j, q))) == []  # not expired yet
    time.sleep(0.7)
    requeued = requeue_expired(store, status, lambda j, q: sent.append((j, q)))
    assert requeued == [f"{IN_BUCKET}/a.jpg", f"{IN_BUCKET}/d.jpg"]
    assert sent == [({**job, "keys": ["a.jpg", "d.jpg"]}, "cpu")]
    a = status.get_object(f"{IN_BUCKET}/a.jpg")
    assert a["state"] == "queued" and a["requeued_from"] == "host:123" and "stopped renewing" in a["error"]
    assert status.get_batch(batch).processing == 0 and status.get_batch(batch).queued == 2
    assert store.held() == {}  # released once requeued
