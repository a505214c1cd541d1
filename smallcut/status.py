"""Status of objects and batches in Redis (not Celery's result backend).

Layout (prefix `smallcut:`), every key with the status TTL:
  obj:<bucket>/<key>        hash: state, batch, bucket, key, attempts, worker, output, error,
                            timings (JSON, ms per stage), queued_at/started_at/finished_at/updated_at
  batch:<id>                hash: total, one counter per state, created/started/finished, listed,
                            job (JSON template used by retry-failed)
  batch:<id>:states         hash: object id -> state (makes the counters exact under redelivery)
  batch:<id>:failed         set of object ids that ended failed
  batch:<id>:records        hash: object id -> JSON of the object's record when it ended in this batch
  batch:<id>:flagged        set of s3:// URLs flagged on the review page
  batch:<id>:jobs           hash: object id -> JSON job template of an object queued with its own (the
                            API's cut-outs share a day's batch, each with its caller's options)
  deadletter                list of JSON records for keys that failed for good (bounded, no TTL)
  loads                     hash: worker process -> model loads (one per process is the contract)

Every transition runs as one Lua script, so a batch counter always equals the number of its objects
in that state, whatever the order or number of deliveries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable

PREFIX = "smallcut:"
DEADLETTER_MAX = 100_000
BATCH_INDEX_MAX = 10_000  # `batches`: sorted set batch id -> created time (newest kept)


class State(str, Enum):
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"

# KEYS: obj, batch, states, failed, records   ARGV: object id, new state, ttl, now, n, field1, value1, ...
_TRANSITION = """
local oid, new, ttl, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local old = redis.call('HGET', KEYS[3], oid)
if old ~= new then
  if old then redis.call('HINCRBY', KEYS[2], old, -1) end
  redis.call('HINCRBY', KEYS[2], new, 1)
  redis.call('HSET', KEYS[3], oid, new)
end
if new == 'failed' then redis.call('SADD', KEYS[4], oid) elseif old == 'failed' then redis.call('SREM', KEYS[4], oid) end
local n = tonumber(ARGV[5])
local fields = {'state', new, 'updated_at', now}
for i = 0, n - 1 do
  table.insert(fields, ARGV[6 + 2 * i]); table.insert(fields, ARGV[7 + 2 * i])
end
redis.call('HSET', KEYS[1], unpack(fields))
local attempts = 0
if new == 'processing' then
  attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  redis.call('HSETNX', KEYS[2], 'started', now)
end
if new == 'done' or new == 'failed' or new == 'skipped' then
  -- the batch keeps the record its object ended with: a later batch of the same key leaves it alone
  local flat, rec = redis.call('HGETALL', KEYS[1]), {}
  for i = 1, #flat, 2 do rec[flat[i]] = flat[i + 1] end
  redis.call('HSET', KEYS[5], oid, cjson.encode(rec))
  local c = redis.call('HMGET', KEYS[2], 'total', 'done', 'failed', 'skipped', 'listed')
  local finished = (tonumber(c[2]) or 0) + (tonumber(c[3]) or 0) + (tonumber(c[4]) or 0)
  if c[5] == '1' and finished >= (tonumber(c[1]) or 0) then redis.call('HSETNX', KEYS[2], 'finished', now) end
end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ttl) end
return {old or '', attempts}
"""


# KEYS: batch, states   ARGV: object id. Runs in the same MULTI as the transition that follows it.
_COUNT_ONCE = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return redis.call('HINCRBY', KEYS[1], 'total', 1) end
return -1
"""


def now() -> str:
    return f"{time.time():.3f}"


def _typed(data: dict) -> dict | None:
    """An object's hash as stored (all strings) -> its fields typed."""
    if not data:
        return None
    for k in ("timings", "outputs"):  # outputs: one per profile (and object), workers/outputs.describe
        if k in data:
            data[k] = json.loads(data[k])
    for k in ("attempts", "width", "height", "rois", "passes", "objects"):
        if k in data:
            data[k] = int(data[k])
    if "min_object_frac" in data:
        data["min_object_frac"] = float(data["min_object_frac"])
    return data


@dataclass(frozen=True)
class BatchSummary:
    batch: str
    total: int
    queued: int
    processing: int
    done: int
    failed: int
    skipped: int
    listed: bool
    created: float | None
    started: float | None
    finished: float | None
    job: dict

    @property
    def completed(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def is_finished(self) -> bool:
        return self.listed and self.completed >= self.total

    @property
    def elapsed(self) -> float:
        start = self.started or self.created
        if start is None:
            return 0.0
        return max(0.0, (self.finished or time.time()) - start)

    @property
    def throughput(self) -> float:
        """Objects finished per second since the first one started."""
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.update(completed=self.completed, is_finished=self.is_finished, elapsed=round(self.elapsed, 3),
                 throughput=round(self.throughput, 3))
        return d


class StatusStore:
    """Reads and writes smallcut status; one per process (redis-py pools reconnect after fork)."""

    def __init__(self, redis_client, ttl: int, prefix: str = PREFIX) -> None:
        self.r = redis_client
        self.ttl = int(ttl)
        self.p = prefix
        self._transition = self.r.register_script(_TRANSITION)
        self._count_once = self.r.register_script(_COUNT_ONCE)

    @classmethod
    def from_settings(cls, settings) -> "StatusStore":
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError, TimeoutError
        from redis.retry import Retry

        from smallcut import redisconn

        # a Redis restart leaves dead sockets in the pool: reconnect and retry instead of failing
        client = redisconn.client(
            settings, decode_responses=True, socket_timeout=30,
            socket_connect_timeout=10, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), 5), retry_on_error=[ConnectionError, TimeoutError],
        )
        return cls(client, settings.status_ttl)

    # ------------------------------------------------------------------ key names
    def obj_key(self, oid: str) -> str:
        return f"{self.p}obj:{oid}"

    def batch_key(self, batch: str) -> str:
        return f"{self.p}batch:{batch}"

    # ------------------------------------------------------------------ writes
    def transition(self, batch: str, oid: str, state: State, fields: dict[str, Any] | None = None, client=None):
        """Move one object to `state` within `batch`.

        Returns [previous state in that batch or '', attempts so far (counted on 'processing')];
        inside a pipeline the reply comes with the pipeline's results.
        """
        flat: list[str] = []
        for k, v in (fields or {}).items():
            if v is None:
                continue
            flat += [k, v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)]
        bk = self.batch_key(batch)
        return self._transition(
            keys=[self.obj_key(oid), bk, f"{bk}:states", f"{bk}:failed", f"{bk}:records"],
            args=[oid, State(state).value, self.ttl, now(), len(flat) // 2, *flat],
            client=client,
        )

    def create_batch(self, batch: str, job: dict) -> None:
        """Idempotent: a batch that exists (two event receivers, one day's batch) keeps its counters."""
        bk = self.batch_key(batch)
        pipe = self.r.pipeline()
        for field, value in (("created", now()), ("total", 0), ("listed", 0), ("job", json.dumps(job))):
            pipe.hsetnx(bk, field, value)
        pipe.expire(bk, self.ttl)
        pipe.zadd(f"{self.p}batches", {batch: time.time()}, nx=True)  # recent-batches index
        pipe.zremrangebyrank(f"{self.p}batches", 0, -BATCH_INDEX_MAX - 1)
        pipe.execute()

    def mark_queued(self, batch: str, items: Iterable[tuple[str, str]], extra: dict | None = None, count: bool = True,
                    job: dict | None = None) -> int:
        """Queue many (bucket, key) at once in one round trip; counts them into the batch total
        (count=False when they are already part of it, as on retry-failed). `job`: the objects' own job
        template, kept for retry-failed when it differs from the batch's."""
        pipe = self.r.pipeline(transaction=False)
        jobs_key = f"{self.batch_key(batch)}:jobs"
        n = 0
        for bucket, key in items:
            oid = f"{bucket}/{key}"
            self.transition(batch, oid, State.QUEUED, {"bucket": bucket, "key": key, "batch": batch,
                                                        "queued_at": now(), "error": "", "attempts": 0,
                                                        **(extra or {})}, client=pipe)
            if job is not None:
                pipe.hset(jobs_key, oid, json.dumps(job))
            n += 1
        if job is not None:
            pipe.expire(jobs_key, self.ttl)
        if count:
            pipe.hincrby(self.batch_key(batch), "total", n)
        pipe.execute()
        return n

    def record_refused(self, batch: str, bucket: str, key: str, reason: str) -> None:
        """A key refused before it was queued: it counts in the batch, as failed with the reason."""
        self.r.hincrby(self.batch_key(batch), "total", 1)
        self.transition(batch, f"{bucket}/{key}", State.FAILED,
                        {"bucket": bucket, "key": key, "batch": batch, "error": reason, "finished_at": now()})
        self.dead_letter({"batch": batch, "bucket": bucket, "key": key, "reason": reason})

    def enter_batch(self, batch: str, bucket: str, key: str, state: State, fields: dict | None = None) -> bool:
        """Put one object into `batch` in `state`, counting it into the total only if the batch does not
        have it yet (a second event for the same key, refused or queued, is one object). Returns whether
        it was counted."""
        oid = f"{bucket}/{key}"
        bk = self.batch_key(batch)
        pipe = self.r.pipeline(transaction=True)
        self._count_once(keys=[bk, f"{bk}:states"], args=[oid], client=pipe)
        self.transition(batch, oid, state, {"bucket": bucket, "key": key, "batch": batch, **(fields or {})}, client=pipe)
        return pipe.execute()[0] != -1

    def refuse_once(self, batch: str, bucket: str, key: str, reason: str) -> bool:
        """Like record_refused, but a key refused again in the same batch is not counted twice."""
        counted = self.enter_batch(batch, bucket, key, State.FAILED, {"error": reason, "finished_at": now()})
        self.dead_letter({"batch": batch, "bucket": bucket, "key": key, "reason": reason})
        return counted

    def queue_once(self, batch: str, bucket: str, key: str, extra: dict | None = None) -> bool:
        """Like mark_queued for one key, but a key already in the batch (a new version of an object
        seen earlier that day) is requeued without counting it twice."""
        return self.enter_batch(batch, bucket, key, State.QUEUED,
                                {"queued_at": now(), "error": "", "attempts": 0, **(extra or {})})

    def mark_output(self, bucket: str, key: str) -> None:
        """Register an object a worker is about to write as an output, so that the event its write
        causes is recognised as one (no second round), whatever bucket or prefix the job named."""
        self.r.set(f"{self.p}output:{bucket}/{key}", 1, ex=self.ttl)

    def is_output(self, bucket: str, key: str) -> bool:
        return bool(self.r.exists(f"{self.p}output:{bucket}/{key}"))

    def reopen(self, batch: str) -> None:
        """A finished batch with objects queued again (retry-failed) finishes again when they end."""
        self.r.hdel(self.batch_key(batch), "finished")

    def set_listed(self, batch: str) -> None:
        """All keys of the batch are enqueued: from now on it can finish."""
        bk = self.batch_key(batch)
        pipe = self.r.pipeline()
        pipe.hset(bk, "listed", 1)
        pipe.hmget(bk, "total", "done", "failed", "skipped")
        _, counts = pipe.execute()
        total, *finished = (int(c or 0) for c in counts)
        if sum(finished) >= total:
            self.r.hsetnx(bk, "finished", now())

    def dead_letter(self, record: dict) -> None:
        pipe = self.r.pipeline()
        pipe.lpush(f"{self.p}deadletter", json.dumps({**record, "at": time.time()}))
        pipe.ltrim(f"{self.p}deadletter", 0, DEADLETTER_MAX - 1)
        pipe.execute()

    def record_model_load(self, worker: str) -> int:
        return int(self.r.hincrby(f"{self.p}loads", worker, 1))

    # ------------------------------------------------------------------ reads
    def get_object(self, oid: str) -> dict | None:
        return _typed(self.r.hgetall(self.obj_key(oid)))

    def batch_states(self, batch: str) -> dict[str, str]:
        """Every object id of the batch -> its state in that batch."""
        return self.r.hgetall(f"{self.batch_key(batch)}:states")

    def batch_records(self, batch: str, oids: list[str]) -> dict[str, dict]:
        """The records the objects ended with in this batch (objects still under way are left out)."""
        if not oids:
            return {}
        raw = self.r.hmget(f"{self.batch_key(batch)}:records", oids)
        return {oid: _typed(json.loads(r)) for oid, r in zip(oids, raw) if r}

    def object_jobs(self, batch: str, oids: list[str]) -> dict[str, dict]:
        """The job templates objects of the batch were queued with on their own (mark_queued's `job`)."""
        if not oids:
            return {}
        raw = self.r.hmget(f"{self.batch_key(batch)}:jobs", oids)
        return {oid: json.loads(r) for oid, r in zip(oids, raw) if r}

    def get_batch(self, batch: str) -> BatchSummary | None:
        data = self.r.hgetall(self.batch_key(batch))
        if not data:
            return None
        num = lambda k: int(data.get(k) or 0)  # noqa: E731
        ts = lambda k: float(data[k]) if data.get(k) else None  # noqa: E731
        return BatchSummary(
            batch=batch, total=num("total"), queued=num("queued"), processing=num("processing"), done=num("done"),
            failed=num("failed"), skipped=num("skipped"), listed=data.get("listed") == "1", created=ts("created"),
            started=ts("started"), finished=ts("finished"), job=json.loads(data.get("job") or "{}"),
        )

    def recent_batches(self, limit: int = 50) -> list[str]:
        """Batch ids, newest first (ids whose hash expired are left out)."""
        ids = self.r.zrevrange(f"{self.p}batches", 0, max(0, limit - 1))
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for b in ids:
            pipe.exists(self.batch_key(b))
        return [b for b, alive in zip(ids, pipe.execute()) if alive]

    def batch_items(self, batch: str, cursor: int = 0, count: int = 100) -> tuple[int, dict[str, str]]:
        """One HSCAN page of a batch's object id -> state (0 as the next cursor: no more pages)."""
        nxt, page = self.r.hscan(f"{self.batch_key(batch)}:states", cursor, count=count)
        return int(nxt), page

    def failed_ids(self, batch: str) -> list[str]:
        return sorted(self.r.smembers(f"{self.batch_key(batch)}:failed"))

    def dead_letters(self, limit: int = 100) -> list[dict]:
        return [json.loads(x) for x in self.r.lrange(f"{self.p}deadletter", 0, limit - 1)]

    def model_loads(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.r.hgetall(f"{self.p}loads").items()}

    # ------------------------------------------------------------------ review flags
    def _flags_key(self, batch: str) -> str:
        return f"{self.batch_key(batch)}:flagged"

    def flag(self, batch: str, url: str) -> int:
        """Flag a source object of the batch for review; returns how many are flagged."""
        pipe = self.r.pipeline()
        pipe.sadd(self._flags_key(batch), url)
        pipe.expire(self._flags_key(batch), self.ttl)
        pipe.scard(self._flags_key(batch))
        return int(pipe.execute()[-1])

    def unflag(self, batch: str, url: str) -> int:
        pipe = self.r.pipeline()
        pipe.srem(self._flags_key(batch), url)
        pipe.scard(self._flags_key(batch))
        return int(pipe.execute()[-1])

    def flagged(self, batch: str) -> list[str]:
        return sorted(self.r.smembers(self._flags_key(batch)))

    # ------------------------------------------------------------------ events
    def first_sighting(self, token: str, ttl: int) -> bool:
        """True the first time `token` is seen within `ttl` seconds (event de-duplication)."""
        return bool(self.r.set(f"{self.p}seen:{token}", 1, nx=True, ex=ttl))
