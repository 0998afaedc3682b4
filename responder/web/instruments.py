"""What /metrics reports: this process's hook counters; and, read from Redis at scrape time, the queue
gauges and everything the workers count (notifications, checks, assessment and probe durations, kept
in the store's stats hash), so the numbers are right however many `serve` and `worker` processes
share the store."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from rq import Queue

from responder.model.alert import Alert
from responder.runtime.queues import QUEUES
from responder.store import Store


class StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("responder_store_up", "1 when Redis answers")
        queued = GaugeMetricFamily("responder_queue_jobs", "jobs waiting per RQ queue", labels=["queue"])
        oldest = GaugeMetricFamily("responder_queue_oldest_job_age_seconds",
                                   "how long the oldest waiting job has waited, per RQ queue", labels=["queue"])
        incidents = GaugeMetricFamily("responder_incidents", "incidents in the store")
        stats: dict[str, float] = {}
        try:
            now = time.time()
            for name in QUEUES:
                queue = Queue(name, connection=self.store.r)
                queued.add_metric([name], queue.count)
                oldest.add_metric([name], _oldest_age(queue, now))
            incidents.add_metric([], self.store.count_incidents())
            stats = self.store.stats()
            up.add_metric([], 1)
        except RedisError:
            self.store.errors += 1
            up.add_metric([], 0)
        errors = CounterMetricFamily("responder_store_errors", "times this serve process found the store unavailable")
        errors.add_metric([], self.store.errors)
        yield from (up, queued, oldest, incidents, errors)
        yield from worker_metrics(stats)


def _oldest_age(queue: Queue, now: float) -> float:
    ids = queue.get_job_ids(0, 0)
    job = queue.fetch_job(ids[0]) if ids else None
    if job is None or job.enqueued_at is None:
        return 0.0
    enqueued = job.enqueued_at.timestamp() if job.enqueued_at.tzinfo else \
        job.enqueued_at.replace(tzinfo=UTC).timestamp()
    return max(0.0, now - enqueued)


def worker_metrics(stats: dict[str, float]) -> Iterator[Metric]:
    """The workers' counters and histograms from the store's stats hash (see Store.count/observe)."""
    sent = CounterMetricFamily("responder_notifications", "notifications by channel and status (sent, failed, "
                               "skipped)", labels=["channel", "status"])
    checks = CounterMetricFamily("responder_checks", "HTTP checks by result (ok, slow, failing)", labels=["result"])
    for field, value in sorted(stats.items()):
        parts = field.split("|")
        if parts[:2] == ["c", "notifications"] and len(parts) == 4:
            sent.add_metric(parts[2:], value)
        elif parts[:2] == ["c", "checks"] and len(parts) == 3:
            checks.add_metric(parts[2:], value)
    yield sent
    yield checks
    for name, doc in (("assessment", "seconds an assessment took (probes, evidence, judging)"),
                      ("probe", "seconds one HTTP check took")):
        count = stats.get(f"h|{name}|count", 0.0)
        buckets = [(f"{b:g}", stats.get(f"h|{name}|{b:g}", 0.0)) for b in Store.BUCKETS]
        hist = HistogramMetricFamily(f"responder_{name}_duration_seconds", doc)
        hist.add_metric([], [*buckets, ("+Inf", count)], sum_value=stats.get(f"h|{name}|sum", 0.0))
        yield hist


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
        self._children: dict[tuple[object, ...], Any] = {}

    def _child(self, counter: Counter, *labels: str) -> Any:
        """`counter.labels(*labels)`, looked up once per label set (labels() takes a lock and builds
        the key on every call)."""
        key = (counter, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(*labels)
        return child

    def hook(self, source: str, code: int) -> None:
        self._child(self.requests, source, str(code)).inc()

    def login_failed(self, reason: str) -> None:
        self.login_failures.labels(reason).inc()

    def alerts(self, source: str, alerts: Iterable[Alert]) -> None:
        counts: dict[str, int] = {}
        for a in alerts:
            counts[a.status] = counts.get(a.status, 0) + 1
        for status, n in counts.items():  # one increment per status, not per alert
            self._child(self.received, source, status).inc(n)
