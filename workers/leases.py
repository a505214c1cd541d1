"""Heartbeats and the reaper: a crashed worker costs seconds, not the broker's visibility timeout.

Every worker process runs one `LeaseKeeper` with two daemon threads:
- the heartbeat renews the leases of the jobs this process is running;
- the reaper claims leases nobody renewed (their holder died, or a Redis restart made Celery cancel
  the task) and requeues the jobs' keys that are still `queued` or `processing` in their batch,
  recording on each key who dropped it.
A key can run twice (the dead holder's message also comes back after the visibility timeout, and a
holder that only stalled may finish too): outputs are written whole and skip when current, so each
key still ends with exactly one output.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Callable

from smallcut import keys as keyrules
from smallcut.job import InvalidJob, Job
from smallcut.leases import LeaseStore
from smallcut.status import State, StatusStore, now

log = logging.getLogger(__name__)

UNFINISHED = (State.QUEUED.value, State.PROCESSING.value)


def requeue_expired(leases: LeaseStore, status: StatusStore, send: Callable[[dict, str | None], None]) -> list[str]:
    """Claim expired leases and requeue their unfinished keys (`send` gets the job's message and the
    queue it came from); returns the object ids requeued."""
    requeued: list[str] = []
    for lease_id, record in leases.claim_expired():
        try:
            job = Job.from_message(record.get("job"))
        except InvalidJob:
            leases.release(lease_id)  # not a job this code wrote: nothing to requeue
            continue
        batch, bucket = job.batch, job.bucket
        holder = record.get("holder") or "?"
        keys = []
        for key in job.keys:
            obj = status.get_object(keyrules.object_id(bucket, key)) or {}
            if obj.get("batch") == batch and obj.get("state") in UNFINISHED:
                keys.append(key)
        if keys:
            reason = f"requeued: {holder} stopped renewing its lease (crashed, killed, or cut off from Redis)"
            for key in keys:
                status.transition(batch, keyrules.object_id(bucket, key), State.QUEUED,
                                  {"error": reason, "requeued_at": now(), "requeued_from": holder})
            send(job.with_keys(keys).to_message(), record.get("queue"))
            log.warning("lease %s of %s expired: %d key(s) of batch %s requeued", lease_id, holder, len(keys), batch)
            requeued += [keyrules.object_id(bucket, k) for k in keys]
        leases.release(lease_id)
    return requeued


class LeaseKeeper:
    """One per worker process: holds, renews and reaps leases."""

    def __init__(self, leases: LeaseStore, status: StatusStore, send: Callable[[dict, str | None], None],
                 reap_interval: float) -> None:
        self.leases = leases
        self.status = status
        self.send = send
        self.heartbeat_interval = max(0.2, leases.ttl / 4)  # three missed beats before anyone reaps
        self.reap_interval = max(0.2, float(reap_interval))
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._started = False
        self.stop_event = threading.Event()

    def start(self) -> "LeaseKeeper":
        with self._lock:
            if not self._started:
                self._started = True
                threading.Thread(target=self._beat, name="smallcut-heartbeat", daemon=True).start()
                threading.Thread(target=self._reap, name="smallcut-reaper", daemon=True).start()
        return self

    def hold(self, record: dict) -> str:
        lease_id = self.leases.acquire(record)
        with self._lock:
            self._held.add(lease_id)
        self.start()
        return lease_id

    def drop(self, lease_id: str) -> None:
        with self._lock:
            self._held.discard(lease_id)
        try:
            self.leases.release(lease_id)
        except Exception:  # noqa: BLE001 - Redis blip: the lease expires and the reaper finds nothing to requeue
            log.warning("could not release lease %s", lease_id, exc_info=True)

    def _beat(self) -> None:
        while not self.stop_event.wait(self.heartbeat_interval):
            with self._lock:
                ids = list(self._held)
            try:
                self.leases.renew(ids)
            except Exception:  # noqa: BLE001 - Redis down: keep beating; the task itself notices too
                log.warning("lease heartbeat failed", exc_info=True)

    def _reap(self) -> None:
        while not self.stop_event.wait(self.reap_interval * random.uniform(0.5, 1.5)):
            try:
                requeue_expired(self.leases, self.status, self.send)
            except Exception:  # noqa: BLE001 - Redis down: try again next round
                log.warning("lease reaper failed", exc_info=True)
