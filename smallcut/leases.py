"""Leases on running jobs, in Redis: who holds which keys, until when.

A worker process takes a lease on a job before it touches the job's keys and renews it while it
works (a heartbeat); it gives the lease back when the job ends. A lease that is not renewed expires:
its holder crashed, its node is gone, or a Redis restart made Celery cancel the running task (a
late-ack task cannot be acknowledged on a dead connection). A reaper then claims the lease and
requeues the job's unfinished keys, in seconds instead of the broker's visibility timeout.

Layout (prefix `smallcut:`):
  leases              sorted set: lease id -> expiry (Redis server time, seconds)
  lease:<id>          string: JSON record {job, queue, holder, task_id, since}

Expiry times come from the Redis server's clock (TIME inside the scripts), so workers whose clocks
disagree still agree on which lease is stale.
"""

from __future__ import annotations

import json
import uuid

from smallcut.status import PREFIX

# KEYS: zset, record   ARGV: id, ttl, record JSON
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('SET', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""

# KEYS: zset   ARGV: ttl, id1, id2, ...   (only leases still held are renewed: a reaped one stays gone)
_RENEW = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1e6 + tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', until_, ARGV[i])
end
return n
"""

# KEYS: zset   ARGV: ttl, limit, record key prefix
# Claims expired leases for the caller by pushing their expiry one ttl ahead (a reaper that dies
# half-way leaves them to the next one) and returns id, record pairs.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
  table.insert(out, id)
  table.insert(out, redis.call('GET', ARGV[3] .. id) or '')
end
return out
"""


class LeaseStore:
    """Lease records of running jobs; thread-safe (redis-py clients are)."""

    def __init__(self, redis_client, ttl: float, prefix: str = PREFIX) -> None:
        self.r = redis_client
        self.ttl = float(ttl)
        self.zkey = f"{prefix}leases"
        self.rprefix = f"{prefix}lease:"
        self._acquire = self.r.register_script(_ACQUIRE)
        self._renew = self.r.register_script(_RENEW)
        self._claim = self.r.register_script(_CLAIM)

    def acquire(self, record: dict) -> str:
        """A new lease on `record` (the job and who runs it), valid for one ttl; returns its id."""
        lease_id = uuid.uuid4().hex
        self._acquire(keys=[self.zkey, self.rprefix + lease_id], args=[lease_id, self.ttl, json.dumps(record)])
        return lease_id

    def renew(self, lease_ids) -> int:
        """Push the expiry of these leases one ttl ahead; returns how many were still held."""
        ids = list(lease_ids)
        if not ids:
            return 0
        return int(self._renew(keys=[self.zkey], args=[self.ttl, *ids]))

    def release(self, lease_id: str) -> None:
        pipe = self.r.pipeline()
        pipe.zrem(self.zkey, lease_id)
        pipe.delete(self.rprefix + lease_id)
        pipe.execute()

    def claim_expired(self, limit: int = 100) -> list[tuple[str, dict]]:
        """Expired leases, now held by the caller for one ttl: release each once its keys are requeued."""
        flat = self._claim(keys=[self.zkey], args=[self.ttl, limit, self.rprefix])
        out = []
        for lease_id, raw in zip(flat[0::2], flat[1::2]):
            if isinstance(lease_id, bytes):
                lease_id, raw = lease_id.decode(), raw.decode()
            try:
                out.append((lease_id, json.loads(raw) if raw else {}))
            except ValueError:
                out.append((lease_id, {}))
        return out

    def held(self) -> dict[str, float]:
        """Every lease id with its expiry (server time): for tests and `status`-like tools."""
        return {(k.decode() if isinstance(k, bytes) else k): float(v)
                for k, v in self.r.zrange(self.zkey, 0, -1, withscores=True)}
