"""The lifecycle end to end, through a real worker process and a real SMTP server: each recipient hears
about its own part, a maintenance window keeps a client out of every message, a re-check by hand finds a
recovery, and a closed incident is never joined again."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from responder.config import load
from responder.model.incident import NOC
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import PAYLOADS, run_responder_async, run_worker_async
from tests.support.fleet import Fleet
from tests.support.links import unsigned
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.smtp import Collector

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}


def everything(m: EmailMessage) -> str:
    """Every word a recipient gets: subject, both bodies, the attachments (less the links' signatures)."""
    parts = [str(m["Subject"]), m.get_body(("plain",)).get_content(), m.get_body(("html",)).get_content()]
    parts += [str(p.get_content()) for p in m.iter_attachments()]
    return unsigned("\n".join(parts))


def to(smtp: Collector, address: str) -> list[EmailMessage]:
    return [m for m in smtp.messages if m["To"] == address]


async def setup(fleet: Fleet, smtp: Collector, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    inventory = await shared_fleet(fleet)
    inventory["clients"]["globex"]["contacts"] = {"email": ["ops@globex.test"]}
    path = write_config(tmp_path, inventory, email={
        "host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]})  # type: ignore[attr-defined]
    return path, inventory


async def drain(path: Path, redis_url: str) -> str:
    """Run a burst worker until the queues are empty; the answer is what it logged."""
    code, _, err = await run_worker_async(path, redis_url)
    assert code == 0, err
    return str(err)


def story(store: Store, iid: str, log: str = "") -> str:
    """What the incident holds and who was told: the message of an assertion on who got mail."""
    incident = store.get_incident(iid)
    if incident is None:
        return f"no incident {iid}"
    lines = [f"{c.client}: {c.severity} {c.summary}" for c in incident.clients]
    lines += [f"{n.channel} {n.to} {n.status} {n.error or ''}" for n in incident.notifications]
    return "\n".join([*lines, log[-3000:]])


async def test_each_recipient_hears_its_own_part_until_the_end(
        fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path) -> None:
    path, _ = await setup(fleet, smtp, tmp_path)
    env = {"RESPONDER_REDIS_URL": redis_url}
    async with TestClient(TestServer(make_app(load(path), store))) as client:
        # s2 carries acme (shop: 503 on s1, refused on s2) and globex (store: s3 never answers)
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s2:9100",)), headers=AUTH)
        [iid] = (await resp.json())["incidents"]
        log = await drain(path, redis_url)
        assert sorted(m["To"] for m in smtp.messages) == ["noc@acme.test", "noc@test", "ops@globex.test"], \
            story(store, iid, log)
        assert all(m["Subject"].endswith("· first verdict") for m in smtp.messages)

        # someone acknowledges in Icinga: who and what is kept, on the API and in the next message
        ack = json.loads((PAYLOADS / "icinga-service-acknowledgement.json").read_text())
        ack.update(host_name="s2", host_display_name="s2", host_address="")
        resp = await client.post("/hooks/icinga", data=json.dumps(ack), headers=AUTH)
        assert resp.status == 202 and (await resp.json())["incidents"] == [iid]
        api = await (await client.get(f"/api/incidents/{iid}")).json()
        assert any("(by jdoe: Looking into it, log rotation stuck" in n for n in api["notes"])

        # only globex changes: its contacts and the NOC hear of it, acme's contacts do not
        await fleet.restart("s3", "store", "ok")
        code, out, err = await run_responder_async("incident", "recheck", iid, "--config", str(path), env=env)
        assert code == 0 and "re-check queued" in out, err
        await drain(path, redis_url)
        assert len(to(smtp, "noc@acme.test")) == 1
        [_, globex] = to(smtp, "ops@globex.test")
        assert globex["Subject"] == "[OK] globex recovered · 1 server alerting · recovered"
        [_, noc] = to(smtp, "noc@test")
        noc_text = noc.get_body(("plain",)).get_content()
        assert noc_text.splitlines()[0] == "what changed"
        assert "globex: store on s3 recovered" in noc_text
        assert "Since the last message:" in noc_text and "(by jdoe: Looking into it" in noc_text
        assert "jdoe" not in everything(globex)  # the note names no client: the NOC's only

        # acme's sites come back and the alert resolves: "recovered" once to those who heard of trouble
        await fleet.restart("s1", "shop", "ok")
        await fleet.restart("s2", "shop", "ok")
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s2:9100",), status="resolved"),
                                 headers=AUTH)
        assert (await resp.json())["incidents"] == [iid]
        await drain(path, redis_url)
        closed = store.get_incident(iid)
        assert closed is not None and closed.status == "resolved"
        assert closed.headline == "recovered: every check passes"
        assert [m["Subject"].rsplit(" · ", 1)[-1] for m in to(smtp, "noc@acme.test")] == \
            ["first verdict", "recovered"]
        assert len(to(smtp, "ops@globex.test")) == 2  # told of its recovery already
        assert to(smtp, "noc@test")[-1]["Subject"] == "[OK] acme recovered · globex recovered · recovered"
        assert store.open_incidents_of(["acme", "globex"]) == {} and not closed.pending

        code, _, err = await run_responder_async("incident", "recheck", iid, "--config", str(path), env=env)
        assert code == 2 and err.strip() == f"responder: incident {iid} is closed; a new alert opens a new one"
        code, _, err = await run_responder_async("incident", "recheck", "nope", "--config", str(path), env=env)
        assert code == 2 and err.strip() == "responder: no incident 'nope'"

        # a later alert opens a new incident
        await fleet.restart("s1", "shop", "503")
        later = storm(fleet, hosts=("s1:9100",)).replace(b"2025-11-18T09:14:12", b"2025-11-18T11:00:00")
        resp = await client.post("/hooks/alertmanager", data=later, headers=AUTH)
        [fresh] = (await resp.json())["incidents"]
        assert fresh != iid


async def test_maintenance_keeps_a_client_out_of_every_message_but_its_neighbour_is_told(
        fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path) -> None:
    path, _ = await setup(fleet, smtp, tmp_path)
    env = {"RESPONDER_REDIS_URL": redis_url}
    code, out, err = await run_responder_async("maintenance", "add", "--client", "acme", "--for", "1h",
                                               "--reason", "PHP upgrade", "--config", str(path), env=env)
    assert code == 0, err
    window_id = out.split(":")[0]
    async with TestClient(TestServer(make_app(load(path), store))) as client:
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s2:9100",)), headers=AUTH)
        [iid] = (await resp.json())["incidents"]
        await drain(path, redis_url)
        assert sorted(m["To"] for m in smtp.messages) == ["noc@test", "ops@globex.test"]
        for m in smtp.messages:
            words = everything(m)
            for detail in ("shop", "s1", "HTTP 503", "connection refused", "PHP upgrade", "noc@acme.test"):
                assert detail not in words, (m["To"], detail)
        [noc] = to(smtp, "noc@test")
        assert "In maintenance (not reported): acme" in noc.get_body(("plain",)).get_content()
        assert "acme" not in noc["Subject"] and "globex degraded" in noc["Subject"]
        [globex] = to(smtp, "ops@globex.test")
        assert "acme" not in everything(globex) and "store" in everything(globex)
        page = await (await client.get(f"/incidents/{iid}")).text()
        assert f"maintenance {window_id} on client acme" in page

        # the window ends: acme is assessed again at once, and told
        code, out, err = await run_responder_async("maintenance", "end", window_id, "--config", str(path), env=env)
        assert code == 0 and "ended" in out, err
        await drain(path, redis_url)
        [acme] = to(smtp, "noc@acme.test")
        assert acme["Subject"] == "[CRITICAL] acme critical · 1 server alerting · maintenance ended; first verdict"
        assert "shop" in everything(acme)
        [_, noc] = to(smtp, "noc@test")
        assert noc["Subject"].endswith("· maintenance ended; what changed") and "acme critical" in noc["Subject"]
        assert len(to(smtp, "ops@globex.test")) == 1  # globex's part did not change
        page = await (await client.get(f"/incidents/{iid}")).text()
        assert f"maintenance {window_id}" not in page and "Notifications held back" not in page
        inc = store.get_incident(iid)
        assert inc is not None and inc.told[NOC].reasons == ["maintenance_ended", "changed"]
