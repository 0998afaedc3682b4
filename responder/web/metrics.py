"""GET /metrics (Prometheus text), /healthz and /readyz.

Counters cover what this process saw; gauges are read from Redis at scrape time, so they are right
however many `serve` and `worker` processes share the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue

from responder.model.alert import Alert
from responder.runtime.queues import QUEUES
from responder.store import Store


class StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("responder_store_up", "1 when Redis answers")
        queued = GaugeMetricFamily("responder_queue_jobs", "jobs waiting per RQ queue", labels=["queue"])
        incidents = GaugeMetricFamily("responder_incidents", "incidents in the store")
        try:
            for name in QUEUES:
                queued.add_metric([name], Queue(name, connection=self.store.r).count)
            incidents.add_metric([], self.store.count_incidents())
            up.add_metric([], 1)
        except RedisError:
            up.add_metric([], 0)
        yield up
        yield queued
        yield incidents


class Metrics:
    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("responder_hook_requests", "hook requests by source and answer",
                                ["source", "code"], registry=self.registry)
        self.received = Counter("responder_alerts_received", "alerts accepted by source and status",
                                ["source", "status"], registry=self.registry)
        self.registry.register(StoreCollector(store))

    def hook(self, source: str, code: int) -> None:
        self.requests.labels(source, str(code)).inc()

    def alerts(self, source: str, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            self.received.labels(source, a.status).inc()


async def metrics(request: web.Request) -> web.Response:
    from responder.web.app import CONTEXT

    m = request.app[CONTEXT].metrics
    body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, m.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    from responder.web.app import CONTEXT

    store = request.app[CONTEXT].store
    ok = await asyncio.get_running_loop().run_in_executor(None, store.ping)
    return web.json_response({"ok": ok, "store": "up" if ok else "down"}, status=200 if ok else 503)


def setup(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
