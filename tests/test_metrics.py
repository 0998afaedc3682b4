"""/metrics: the workers' counters from the store, queue depth and age, and rules promtool accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from responder.config import from_data
from responder.runtime.queues import NOTIFY_QUEUE
from responder.store import Store
from responder.web.app import make_app

RULES = Path(__file__).resolve().parent.parent / "samples" / "prometheus" / "responder-rules.yml"


async def test_metrics_read_the_workers_counters(store: Store, tmp_path: Path) -> None:
    store.count("notifications", "email", "sent", n=3)
    store.count("notifications", "teams", "failed")
    store.count("checks", "failing", n=2)
    store.observe("assessment", [0.3, 4.0])
    store.observe("probe", [0.01, 0.02, 0.2])
    Queue(NOTIFY_QUEUE, connection=store.r).enqueue("workers.notify.job.notify_job", "x", "y")
    cfg = from_data({"inventory": {"servers": {}, "clients": {}}}, base=tmp_path)
    async with TestClient(TestServer(make_app(cfg, store))) as client:
        text = await (await client.get("/metrics")).text()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("responder_notifications_total", (("channel", "email"), ("status", "sent")))] == 3
    assert samples[("responder_notifications_total", (("channel", "teams"), ("status", "failed")))] == 1
    assert samples[("responder_checks_total", (("result", "failing"),))] == 2
    assert samples[("responder_assessment_duration_seconds_bucket", (("le", "0.5"),))] == 1
    assert samples[("responder_assessment_duration_seconds_count", ())] == 2
    assert samples[("responder_probe_duration_seconds_bucket", (("le", "+Inf"),))] == 3
    assert samples[("responder_queue_jobs", (("queue", NOTIFY_QUEUE),))] == 1
    assert samples[("responder_queue_oldest_job_age_seconds", (("queue", NOTIFY_QUEUE),))] >= 0
    assert samples[("responder_store_errors_total", ())] == 0


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; make system-deps)")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 rules found" in result.stdout
    text = RULES.read_text()
    for metric in ("responder_notifications_total", "responder_queue_oldest_job_age_seconds"):
        assert metric in text
