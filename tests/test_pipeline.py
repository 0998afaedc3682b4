"""The first vertical slice end to end on real parts: webhook -> Redis -> RQ worker process -> probes
against real sites -> verdict -> email through a real SMTP server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from responder.config import load
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import run_worker_async
from tests.support.fleet import Fleet
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.smtp import Collector

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}


async def test_storm_over_shared_servers(fleet: Fleet, store: Store, smtp: Collector, redis_url: str,
                                         tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    path = write_config(tmp_path, inventory, email={
        "host": "127.0.0.1", "port": smtp.port, "sender": "responder@test", "to": ["noc@test"]})  # type: ignore[attr-defined]
    cfg = load(path)
    async with TestClient(TestServer(make_app(cfg, store))) as client:
        body = storm(fleet, hosts=("s1:9100", "s3.dc1.example.net", f"{fleet.address('s4')}:9100", "db-99:9100"))
        resp = await client.post("/hooks/alertmanager", data=body, headers=AUTH)
        assert resp.status == 202
        [incident_id] = (await resp.json())["incidents"]

        code, _, err = await run_worker_async(path, redis_url)
        assert code == 0, err

        verdict = await (await client.get(f"/api/incidents/{incident_id}")).json()
    assert verdict["status"] == "assessed"
    assert verdict["severity"] == "critical"
    severities = {c["client"]: c["severity"] for c in verdict["clients"]}
    assert severities == {"acme": "critical", "globex": "degraded", "initech": "ok"}  # hooli left alone
    assert verdict["unmapped_hosts"] == ["db-99:9100"]
    acme = verdict["clients"][0]
    assert acme["client"] == "acme" and acme["summary"] == "shop down on both servers"
    [shop] = acme["services"]
    assert (shop["servers_total"], shop["servers_failing"]) == (2, 2)
    errors = {c["server"]: (c["status"], c["error"]) for c in shop["checks"]}
    assert errors == {"s1": (503, "HTTP 503"), "s2": (None, "connection refused")}
    globex = next(c for c in verdict["clients"] if c["client"] == "globex")
    hung = next(k for k in globex["services"][0]["checks"] if k["server"] == "s3")
    assert hung["error"] == "no answer within 1s"
    # every service of each affected client was probed on all its servers, not only the alerting ones
    assert {(k["server"]) for c in verdict["clients"] for s in c["services"] for k in s["checks"]} == \
        {"s1", "s2", "s3", "s4", "s5"}

    messages = smtp.wait_for(2)
    by_to = {m["To"]: m for m in messages}
    assert set(by_to) == {"noc@test", "noc@acme.test"}
    noc = by_to["noc@test"]
    # every alerting host counts, db-99 (not in the inventory) too; why it was sent comes last
    assert noc["Subject"] == ("[CRITICAL] acme critical · globex degraded · initech ok · 4 servers alerting"
                              " · first verdict")
    html = noc.get_body(("html",)).get_content()
    text = noc.get_body(("plain",)).get_content()
    assert text.splitlines()[0] == "first verdict"
    assert f"/incidents/{incident_id}" in html and f"/incidents/{incident_id}" in text
    assert "shop down on both servers" in text
    [attachment] = [p for p in noc.iter_attachments()]
    assert attachment.get_filename() == f"checks-{incident_id}.csv"
    rows = list(csv.DictReader(io.StringIO(attachment.get_content())))
    assert len(rows) == 7 and {r["client"] for r in rows} == {"acme", "globex", "initech"}
    # the client's own contact sees that client's part only
    acme_mail = by_to["noc@acme.test"]
    acme_text = acme_mail.get_body(("plain",)).get_content()
    assert "globex" not in acme_text and "initech" not in acme_text and "db-99" not in acme_text
    assert acme_mail["Subject"].startswith("[CRITICAL] acme critical")

    final = store.get_incident(incident_id)
    assert final is not None
    assert sorted((n.channel, n.to, n.status) for n in final.notifications) == [
        ("email", "noc@acme.test", "sent"), ("email", "noc@test", "sent")]


async def test_unknown_host_only(fleet: Fleet, store: Store, redis_url: str, tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    path = write_config(tmp_path, inventory)
    async with TestClient(TestServer(make_app(load(path), store))) as client:
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("10.250.7.19:9100",)), headers=AUTH)
        [incident_id] = (await resp.json())["incidents"]
        code, _, err = await run_worker_async(path, redis_url)
        assert code == 0, err
        verdict = await (await client.get(f"/api/incidents/{incident_id}")).json()
    assert verdict["unmapped_hosts"] == ["10.250.7.19:9100"]
    assert verdict["clients"] == [] and verdict["severity"] == "ok"


async def test_resolve_rechecks_and_closes(fleet: Fleet, store: Store, redis_url: str, tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    path = write_config(tmp_path, inventory)
    async with TestClient(TestServer(make_app(load(path), store))) as client:
        hosts = (f"{fleet.address('s5')}:9100",)  # initech (and hooli): everything passes
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=hosts), headers=AUTH)
        [incident_id] = (await resp.json())["incidents"]
        assert (await run_worker_async(path, redis_url))[0] == 0
        first = await (await client.get(f"/api/incidents/{incident_id}")).json()
        assert first["status"] == "assessed" and first["severity"] == "ok"
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=hosts, status="resolved"),
                                 headers=AUTH)
        assert (await resp.json())["incidents"] == [incident_id]
        assert (await run_worker_async(path, redis_url))[0] == 0
        final = await (await client.get(f"/api/incidents/{incident_id}")).json()
    assert final["status"] == "resolved" and final["resolved_at"], json.dumps(final)
    assert sorted(c["client"] for c in final["clients"]) == ["hooli", "initech"]
