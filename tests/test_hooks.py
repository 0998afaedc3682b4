"""POST /hooks/alertmanager on a real Redis: auth, limits, content type, errors, durability, grouping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq.registry import ScheduledJobRegistry

from responder.config import Config, from_data
from responder.runtime.queues import ASSESS_QUEUE
from responder.store import Store, connect
from responder.web.app import make_app
from tests.conftest import PAYLOADS
from tests.support.fleet import free_port

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
INVENTORY = {
    "services": {"reports": {"url": "http://{address}:8001/"}},
    "servers": {f"web-{i:02d}": {"address": f"10.0.1.{i}"} for i in range(1, 6)}
    | {"app-01": {"address": "10.0.2.1"}, "db-01": {"address": "10.0.3.1"}},
    "clients": {
        "acme": {"servers": ["web-01", "web-02"], "services": ["reports"]},
        "globex": {"servers": ["web-02", "web-03"], "services": ["reports"]},
        "initech": {"servers": ["app-01"], "services": ["reports"], "depends_on": ["db-01"]},
        "hooli": {"servers": ["web-05"], "services": ["reports"]},
    },
}


def config(tmp_path: Path, **settings: Any) -> Config:
    data = {"inventory": INVENTORY, "auth": {"tokens": ["test-token", "second-token"]},
            "incidents": {"group_wait": "10s"}, **settings}
    return from_data(data, base=tmp_path)


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(config(tmp_path), store))) as c:
        yield c


async def post(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    resp = await client.post("/hooks/alertmanager", data=body, headers=AUTH if headers is None else headers)
    assert resp.content_type == "application/json", await resp.text()
    return resp.status, await resp.json()


async def test_storm_is_stored_before_the_answer(client: TestClient, store: Store) -> None:
    status, answer = await post(client, (PAYLOADS / "alertmanager-firing-storm.json").read_bytes())
    assert status == 202
    assert answer["accepted"] == 10 and len(answer["incidents"]) == 1
    incident = store.get_incident(answer["incidents"][0])
    assert incident is not None and len(incident.alerts) == 10
    assert {a.server for a in incident.alerts} >= {"web-01", "web-02", "web-03", "web-04", "app-01", "db-01"}
    assert sorted(incident.affected) == ["acme", "globex", "initech"]  # hooli's web-05 is quiet
    assert set(incident.unmapped_hosts) == {"app-02:9100", "app-03:9100", "db-02:9100", "cache-01:9100"}
    assert incident.pending and incident.generation == 1
    [raw] = store.deliveries()
    assert raw["source"] == "alertmanager" and "web-01:9100" in raw["body"]
    scheduled = ScheduledJobRegistry(ASSESS_QUEUE, connection=store.r).get_job_ids()
    assert scheduled == [f"assess-{incident.id}-1"]


async def test_the_kept_record_holds_the_body_as_sent(client: TestClient, store: Store) -> None:
    """The record kept for replay holds the body as a JSON string: what json.loads gives back is the body's
    text exactly (slashes, tabs, quotes, accents, emoji, an escaped lone surrogate), after the other keys."""
    message = json.loads((PAYLOADS / "alertmanager-firing-single.json").read_bytes())
    message["alerts"][0]["annotations"]["summary"] = 'a/b\t"q" caf\u00e9 \u2603 \U0001f525 \\ud800 \x7f'
    body = json.dumps(message, ensure_ascii=False).replace("\\\\ud800", "\\ud800").encode()
    status, _ = await post(client, body)
    assert status == 202
    [raw] = store.deliveries()
    assert raw["body"] == body.decode()
    assert list(raw) == ["source", "received_at", "remote", "user_agent", "alerts", "body"]


async def test_redelivery_makes_no_second_incident(client: TestClient, store: Store) -> None:
    body = (PAYLOADS / "alertmanager-firing-storm.json").read_bytes()
    _, first = await post(client, body)
    status, again = await post(client, body)
    assert status == 202 and again["accepted"] == 0 and again["duplicates"] == 10
    assert again["incidents"] == first["incidents"]
    assert store.count_incidents() == 1
    incident = store.get_incident(first["incidents"][0])
    assert incident is not None and incident.generation == 1


async def test_alerts_within_group_wait_join_one_incident(client: TestClient, store: Store) -> None:
    _, a = await post(client, (PAYLOADS / "alertmanager-firing-single.json").read_bytes())
    _, b = await post(client, (PAYLOADS / "alertmanager-firing-unknown-host.json").read_bytes())
    assert a["incidents"] == b["incidents"]
    incident = store.get_incident(a["incidents"][0])
    assert incident is not None and len(incident.alerts) == 3 and incident.generation == 1


async def test_unknown_hosts_are_listed(client: TestClient, store: Store) -> None:
    status, answer = await post(client, (PAYLOADS / "alertmanager-firing-unknown-host.json").read_bytes())
    assert status == 202
    incident = store.get_incident(answer["incidents"][0])
    assert incident is not None
    assert incident.unmapped_hosts == ["10.250.7.19:9100", "https://legacy-portal.example.net/health"]
    assert incident.affected == []


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json"},
    {"Content-Type": "application/json", "Authorization": "Bearer wrong"},
    {"Content-Type": "application/json", "Authorization": "Basic dGVzdDp0ZXN0"},
    {"Content-Type": "application/json", "Authorization": "Bearer"},
])
async def test_bad_or_missing_token_is_401(client: TestClient, store: Store, headers: dict[str, str]) -> None:
    status, answer = await post(client, (PAYLOADS / "alertmanager-firing-single.json").read_bytes(), headers)
    assert status == 401 and "token" in answer["error"]
    assert store.count_incidents() == 0


async def test_any_configured_token_works(client: TestClient) -> None:
    status, _ = await post(client, (PAYLOADS / "alertmanager-firing-single.json").read_bytes(),
                           {"Content-Type": "application/json", "Authorization": "Bearer second-token"})
    assert status == 202


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_not_json_is_415(client: TestClient, ctype: str) -> None:
    headers = {"Authorization": "Bearer test-token"} | ({"Content-Type": ctype} if ctype else {})
    status, answer = await post(client, b'{"alerts": []}', headers)
    assert status == 415 and "application/json" in answer["error"]


async def test_too_large_is_413(client: TestClient, store: Store) -> None:
    status, answer = await post(client, b'{"alerts": [' + b" " * (1024 * 1024) + b"]}")
    assert status == 413 and "limit" in answer["error"]
    assert store.count_incidents() == 0


async def test_too_large_chunked_is_413(client: TestClient) -> None:
    async def gen() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    resp = await client.post("/hooks/alertmanager", data=gen(), headers=AUTH)
    assert resp.status == 413


@pytest.mark.parametrize("name", ["alertmanager-edge-malformed.json", "alertmanager-edge-empty-alerts.json",
                                  "alertmanager-edge-invalid-body.txt"])
async def test_malformed_samples_get_400_naming_the_problem(client: TestClient, store: Store, name: str) -> None:
    status, answer = await post(client, (PAYLOADS / name).read_bytes())
    assert status == 400 and answer["error"]
    assert store.count_incidents() == 0


async def test_field_is_named(client: TestClient) -> None:
    _, answer = await post(client, (PAYLOADS / "alertmanager-edge-malformed.json").read_bytes())
    assert answer == {"error": "alerts[1].status: Field required", "field": "alerts[1].status"}


async def test_captured_deliveries_with_their_own_headers(client: TestClient, store: Store) -> None:
    """Replay what Alertmanager 0.25 really sent, headers and all (its token was acceptance-token)."""
    for path in sorted((PAYLOADS / "captured/alertmanager/storm10").glob("0*.json")):
        doc = json.loads(path.read_text())
        headers = {k: v for k, v in doc["headers"] if k.lower() in ("content-type", "user-agent")}
        headers["Authorization"] = "Bearer test-token"
        status, answer = await post(client, doc["body_text"].encode(), headers)
        assert status == 202, answer
    incidents = store.list_incidents()
    assert len(incidents) == 1
    assert {a.status for a in incidents[0].alerts} == {"resolved"}


async def test_unknown_source_is_404(client: TestClient) -> None:
    resp = await client.post("/hooks/nagios", data=b"{}", headers=AUTH)
    assert resp.status == 404 and "unknown source" in (await resp.json())["error"]


async def test_store_down_is_503_with_retry_after(tmp_path: Path) -> None:
    dead = Store(connect(f"redis://127.0.0.1:{free_port()}/0"))
    async with TestClient(TestServer(make_app(config(tmp_path), dead))) as c:
        resp = await c.post("/hooks/alertmanager", data=(PAYLOADS / "alertmanager-firing-single.json").read_bytes(),
                            headers=AUTH)
        assert resp.status == 503 and resp.headers["Retry-After"]
        assert "unavailable" in (await resp.json())["error"]
        ready = await c.get("/readyz")
        assert ready.status == 503


async def test_open_hooks_without_tokens(store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path, auth={"tokens": []})
    async with TestClient(TestServer(make_app(cfg, store))) as c:
        resp = await c.post("/hooks/alertmanager", data=(PAYLOADS / "alertmanager-firing-single.json").read_bytes(),
                            headers={"Content-Type": "application/json"})
        assert resp.status == 202
    assert "NO AUTH TOKENS" in caplog.text


async def test_api_and_health(client: TestClient) -> None:
    _, answer = await post(client, (PAYLOADS / "alertmanager-firing-storm.json").read_bytes())
    listing = await (await client.get("/api/incidents?limit=5")).json()
    assert [i["id"] for i in listing["incidents"]] == answer["incidents"]
    one = await client.get(f"/api/incidents/{answer['incidents'][0]}")
    data = await one.json()
    assert data["status"] == "open" and data["severity"] is None and len(data["alerts"]) == 10
    for key in ("id", "opened_at", "assessed_at", "unmapped_hosts", "clients", "notifications"):
        assert key in data
    assert (await client.get("/api/incidents/nope")).status == 404
    assert (await client.get("/api/incidents?limit=zero")).status == 400
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'responder_hook_requests_total{code="202",source="alertmanager"} 1.0' in metrics
    assert "responder_store_up 1.0" in metrics


async def test_survives_a_redis_restart(tmp_path: Path) -> None:
    """Acknowledged means stored: with AOF on, a restarted Redis still has the alert."""
    from tests.support.redis_server import private_redis, start_redis

    with private_redis(tmp_path / "r", appendonly=True) as (url, proc):
        store = Store(connect(url))
        async with TestClient(TestServer(make_app(config(tmp_path), store))) as c:
            status, answer = await post(c, (PAYLOADS / "alertmanager-firing-storm.json").read_bytes())
        assert status == 202
        proc.kill()
        proc.wait()
        restarted = start_redis(tmp_path / "r", appendonly=True)
        try:
            again = Store(redis.Redis.from_url(url))
            incident = again.get_incident(answer["incidents"][0])
            assert incident is not None and len(incident.alerts) == 10
        finally:
            restarted.terminate()
            restarted.wait()
