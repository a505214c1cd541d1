"""/metrics of the API: its own process's samples plus gauges read from Redis at scrape time.

Queue depth comes from the broker's Redis lists (what KEDA scales on); per-state object counts of the
most recent batches come from the status store, so a dashboard shows tonight's batch without
scraping every worker. Unauthenticated like the workers' endpoints: counts, no keys or secrets.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from .api_common import Ctx

log = logging.getLogger(__name__)

RECENT_BATCHES = 20
STATES = ("queued", "processing", "done", "failed", "skipped")
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's Redis priority lists


class RedisCollector:
    def __init__(self, status, broker_redis, queues: list[str]) -> None:
        self.status = status
        self.broker = broker_redis
        self.queues = queues

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("smallcut_queue_depth", "Tasks waiting in the broker queue", labels=["queue"])
        objects = GaugeMetricFamily("smallcut_batch_objects", "Objects of recent batches by state",
                                    labels=["batch", "state"])
        up = GaugeMetricFamily("smallcut_status_store_up", "1 when Redis answered this scrape")
        try:
            if self.broker is not None:
                pipe = self.broker.pipeline(transaction=False)
                for q in self.queues:
                    for suffix in _PRIORITY_SUFFIXES:
                        pipe.llen(q + suffix)
                counts = pipe.execute()
                n = len(_PRIORITY_SUFFIXES)
                for i, q in enumerate(self.queues):
                    depth.add_metric([q], sum(counts[i * n:(i + 1) * n]))
            for batch in self.status.recent_batches(RECENT_BATCHES):
                summary = self.status.get_batch(batch)
                if summary is None:
                    continue
                for state in STATES:
                    objects.add_metric([batch, state], getattr(summary, state))
            up.add_metric([], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when Redis does not
            log.warning("metrics: Redis unreachable: %s", exc)
            up.add_metric([], 0)
        yield depth
        yield objects
        yield up


def live_registry(status, settings):
    """A registry whose collector reads Redis at scrape time (queue depths, recent batches)."""
    from prometheus_client import CollectorRegistry

    broker = None
    if settings.broker.startswith(("redis://", "rediss://", "unix://")):
        from smallcut import redisconn

        broker = redisconn.client(settings, settings.broker, socket_timeout=5, socket_connect_timeout=5)
    live = CollectorRegistry(auto_describe=False)
    live.register(RedisCollector(status, broker, sorted({settings.gpu_queue, settings.cpu_queue, settings.queue})))
    return live


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics_endpoint(ctx: Ctx):
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    from smallcut import metrics  # noqa: F401 - defines the smallcut_* families on the default registry

    return Response(generate_latest(REGISTRY) + generate_latest(ctx.metrics), media_type=CONTENT_TYPE_LATEST)
