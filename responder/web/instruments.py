"""What /metrics reports: this process's counters, and gauges read from Redis at scrape time (right
however many `serve` and `worker` processes share the store)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter
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
        self.login_failures = Counter("responder_login_failures", "failed logins on the pages and API by reason",
                                      ["reason"], registry=self.registry)
        self.registry.register(StoreCollector(store))

    def hook(self, source: str, code: int) -> None:
        self.requests.labels(source, str(code)).inc()

    def login_failed(self, reason: str) -> None:
        self.login_failures.labels(reason).inc()

    def alerts(self, source: str, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            self.received.labels(source, a.status).inc()
