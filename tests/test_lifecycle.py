"""Incident lifecycle: what changed, maintenance, recoveries, single-flight, cooldown, dependencies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from rq import Queue

from responder.config import from_data, load
from responder.intake.grouping import Intake
from responder.intake.sources import alertmanager
from responder.lifecycle import maintenance
from responder.lifecycle.changes import diff
from responder.lifecycle.flight import begin_assessment, finish_assessment
from responder.lifecycle.maintenance import Window
from responder.lifecycle.settle import settle
from responder.model.alert import utcnow
from responder.model.incident import NOC, Incident
from responder.model.verdict import Check, ClientVerdict
from responder.runtime.queues import ASSESS_QUEUE, NOTIFY_QUEUE, assess_scheduler, notify_scheduler
from responder.store import Store
from tests.conftest import run_responder_async, run_worker_async
from tests.support.fleet import Fleet
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.smtp import Collector
from workers.assess.judge import judge_client, judge_service

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
INVENTORY: dict[str, Any] = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"s1": {"address": "10.0.0.1"}, "s2": {"address": "10.0.0.2"}, "lb": {"address": "10.0.0.9"}},
    "clients": {"acme": {"servers": ["s1", "s2"], "services": ["shop"], "depends_on": ["lb"]},
                "globex": {"servers": ["s2"], "services": ["shop"]}},
}


def verdict(client: str, states: dict[str, str], latency: float = 10.0) -> ClientVerdict:
    checks = [Check(server=s, url=f"http://{s}/", ok=st == "ok", status=200 if st == "ok" else 503,
                    error=None if st == "ok" else "HTTP 503", latency_ms=latency) for s, st in states.items()]
    return judge_client(client, [judge_service("shop", checks, 10)], 10)


# -- pure rules ------------------------------------------------------------------------------------


def test_diff_names_new_failures_recoveries_and_latency() -> None:
    before = verdict("acme", {"s1": "ok", "s2": "fail"}, latency=50)
    after = verdict("acme", {"s1": "fail", "s2": "ok"}, latency=50)
    assert diff(before, after) == ["shop on s1 now failing: HTTP 503", "shop on s2 recovered"]
    assert diff(None, after) == []
    slow = verdict("acme", {"s1": "ok", "s2": "ok"}, latency=900)
    fast = verdict("acme", {"s1": "ok", "s2": "ok"}, latency=100)
    assert diff(fast, slow) == ["shop on s1 slower: 100 → 900 ms", "shop on s2 slower: 100 → 900 ms"]
    assert diff(verdict("acme", {"s1": "ok", "s2": "ok"}), verdict("acme", {"s1": "fail", "s2": "fail"}))[0] == \
        "ok → critical"


def incident_with(alert_status: str = "firing", servers: tuple[str, ...] = ("s2",)) -> Incident:
    now = utcnow()
    inc = Incident(id="i", opened_at=now, updated_at=now, affected=["acme", "globex"])
    for s in servers:
        a = alertmanager.parse_data({"alerts": [{"status": alert_status, "labels": {"instance": s, "alertname": "Down"},
                                                 "startsAt": "2025-11-18T09:00:00Z"}]}).alerts[0]
        inc.add_alert(a.model_copy(update={"server": s}))
    return inc


def test_client_window_never_silences_the_neighbour(tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY}, base=tmp_path)
    now = utcnow()
    window = Window(id="m-1", client="acme", starts=now - timedelta(minutes=1), ends=now + timedelta(hours=1),
                    reason="PHP upgrade")
    inc = incident_with()
    clients = [verdict("acme", {"s1": "ok", "s2": "fail"}), verdict("globex", {"s2": "fail"})]
    settle(inc, clients, {}, [window], cfg, now)
    by = {c.client: c for c in inc.clients}
    assert by["acme"].maintenance and "PHP upgrade" in by["acme"].maintenance
    assert by["globex"].maintenance is None
    assert inc.quiet is None  # globex still needs telling


def test_server_window_covers_clients_failing_only_there(tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY}, base=tmp_path)
    now = utcnow()
    window = Window(id="m-2", server="s2", starts=now - timedelta(minutes=1), ends=now + timedelta(hours=1))
    inc = incident_with()
    both = [verdict("acme", {"s1": "ok", "s2": "fail"}), verdict("globex", {"s2": "fail"})]
    settle(inc, both, {}, [window], cfg, now)
    assert all(c.maintenance for c in inc.clients)
    assert inc.quiet and "planned maintenance" in inc.quiet
    # acme failing on s1 too is not explained by work on s2
    inc = incident_with()
    settle(inc, [verdict("acme", {"s1": "fail", "s2": "fail"})], {}, [window], cfg, now)
    assert inc.clients[0].maintenance is None and inc.quiet is None
    # an expired window covers nothing
    old = Window(id="m-3", client="acme", starts=now - timedelta(hours=2), ends=now - timedelta(hours=1))
    inc = incident_with()
    settle(inc, [verdict("acme", {"s1": "ok", "s2": "fail"})], {}, [old], cfg, now)
    assert inc.clients[0].maintenance is None


def test_resolve_while_still_failing_keeps_severity(tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY}, base=tmp_path)
    inc = incident_with("resolved")
    settle(inc, [verdict("globex", {"s2": "fail"})], {}, [], cfg, utcnow())
    assert inc.status == "assessed" and inc.severity == "critical"
    assert inc.headline == "alerts resolved, but shop on s2 still failing"
    settle(inc, [verdict("globex", {"s2": "ok"})], {}, [], cfg, utcnow())  # the same incident, later
    assert inc.status == "resolved" and inc.headline == "recovered: every check passes"
    inc = incident_with("resolved")  # nothing was ever failing: nothing "recovered"
    settle(inc, [verdict("globex", {"s2": "ok"})], {}, [], cfg, utcnow())
    assert inc.status == "resolved" and inc.headline == "alerts resolved: every check passes"


# -- on a real Redis -------------------------------------------------------------------------------


def post(intake: Intake, hosts: tuple[str, ...], status: str = "firing", starts: str = "2025-11-18T09:00:00Z") -> Any:
    body = {"alerts": [{"status": status, "labels": {"instance": h, "alertname": "Down"}, "startsAt": starts}
                       for h in hosts]}
    return intake.accept(alertmanager.parse_data(body), b"{}")


def test_single_flight_coalesces_changes_into_one_follow_up(store: Store, tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY, "incidents": {"group_wait": "0s"}}, base=tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    queue = Queue(ASSESS_QUEUE, connection=store.r)
    [iid] = post(intake, ("s1",)).incidents
    assert queue.job_ids == [f"assess-{iid}-1"]
    running = begin_assessment(store, iid, 1)
    assert running is not None and running.running
    queue.empty()
    # three more alerts touching acme only while the assessment runs: no second job now
    for i, host in enumerate(("lb", "s1", "lb")):
        assert post(intake, (host,), starts=f"2025-11-18T09:0{i + 1}:00Z").incidents == [iid]
    assert queue.job_ids == []
    inc = store.get_incident(iid)
    assert inc is not None and inc.dirty and inc.generation == 1
    finish_assessment(store, cfg, iid, 1, [verdict("acme", {"s1": "ok", "s2": "ok"})], assess_scheduler(store.r),
                      notify_scheduler(store.r))
    assert queue.job_ids == [f"assess-{iid}-2"]  # exactly one follow-up
    # a stale job of an older generation does nothing
    assert begin_assessment(store, iid, 1) is None


def test_writing_back_an_incident_read_without_its_verdicts_keeps_them(store: Store, tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY, "incidents": {"group_wait": "0s"}}, base=tmp_path)
    [iid] = post(Intake(store, cfg, assess_scheduler(store.r)), ("s1",)).incidents
    begin_assessment(store, iid, 1)
    first = [verdict("acme", {"s1": "fail", "s2": "ok"})]
    finish_assessment(store, cfg, iid, 1, first, assess_scheduler(store.r), notify_scheduler(store.r))
    light = store.get_incident(iid, verdicts=False)
    assert light is not None and light.clients == [] and light.severity == "degraded"

    def note(inc: Incident | None, pipe: Any) -> None:
        assert inc is not None and inc.clients == []
        inc.notes.append("a note")
        store.put_incident(pipe, inc, alerts=False)

    store.update_incident(iid, note, alerts=False, verdicts=False)
    assert store.read_verdicts(light) and [c.client for c in light.clients] == ["acme"]
    full = store.get_incident(iid)
    assert full is not None and [c.client for c in full.clients] == ["acme"] and "a note" in full.notes
    assert store.last_verdicts(["acme"])["acme"].severity == "degraded"
    # the next assessment, read without the old verdicts, writes its own
    post(Intake(store, cfg, assess_scheduler(store.r)), ("s2",), starts="2025-11-18T10:00:00Z")
    begin_assessment(store, iid, 2)
    finish_assessment(store, cfg, iid, 2, [verdict("acme", {"s1": "ok", "s2": "ok"}), verdict("globex", {"s2": "ok"})],
                      assess_scheduler(store.r), notify_scheduler(store.r))
    fresh = store.get_incident(iid, verdicts=False)
    assert fresh is not None and store.read_verdicts(fresh) and len(fresh.clients) == 2
    stale = light.model_copy()
    stale._verdicts_left = True
    assert not store.read_verdicts(stale)  # read at the first assessment: the second wrote others
    full = store.get_incident(iid)
    assert full is not None
    assert sorted((c.client, c.severity) for c in full.clients) == [("acme", "ok"), ("globex", "ok")]


def test_stored_verdicts_parse_in_chunks_as_they_would_whole() -> None:
    import json

    from pydantic import TypeAdapter

    from responder.store.incidents import PER_CHUNK, _json_list, parse_verdicts

    whole = TypeAdapter(list[ClientVerdict])
    tricky = verdict('a,{"client":"x"}', {"s1": "fail"}).model_copy(update={"changes": [',{"client":"y",']})
    for n in (0, 1, 2, PER_CHUNK - 1, PER_CHUNK, PER_CHUNK + 1, 2 * PER_CHUNK + 3):
        verdicts = [tricky if i == 1 else verdict(f"c{i}", {"s1": "ok", "s2": "fail"}) for i in range(n)]
        raw = bytes(_json_list([v.__pydantic_serializer__.to_json(v) for v in verdicts]))
        assert parse_verdicts(raw) == whole.validate_json(raw) == verdicts
        older = json.dumps([v.model_dump(mode="json") for v in verdicts]).encode()  # spaces: parsed whole
        assert parse_verdicts(older) == verdicts


def test_shared_dependency_assesses_every_dependent(store: Store, tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY, "incidents": {"group_wait": "10s"}}, base=tmp_path)
    [iid] = post(Intake(store, cfg, assess_scheduler(store.r)), ("lb",)).incidents
    inc = store.get_incident(iid)
    assert inc is not None and inc.affected == ["acme"]


def test_unchanged_verdict_is_not_resent_within_cooldown(store: Store, tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY, "incidents": {"group_wait": "0s", "cooldown": "30m"}}, base=tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    notify_q = Queue(NOTIFY_QUEUE, connection=store.r)
    [iid] = post(intake, ("s1",)).incidents
    for generation in (1, 2):
        begin_assessment(store, iid, generation)
        finish_assessment(store, cfg, iid, generation, [verdict("acme", {"s1": "fail", "s2": "ok"})],
                          assess_scheduler(store.r), notify_scheduler(store.r))
        if generation == 1:
            post(intake, ("s1",), starts="2025-11-18T10:00:00Z")  # a repeat: re-assess, same picture
    assert len(notify_q.job_ids) == 1
    inc = store.get_incident(iid)
    assert inc is not None and inc.clients[0].changes == []


# -- end to end with a worker process and a real SMTP server ----------------------------------------


async def test_maintenance_window_silences_one_client_not_its_neighbour(
        fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path) -> None:
    path, out, iid = await alert_s2_in_a_window(fleet, store, smtp, redis_url, tmp_path,
                                                "--client", "acme", "--for", "1h", "--reason", "PHP upgrade")
    env = {"RESPONDER_REDIS_URL": redis_url}
    window_id = out.split(":")[0]
    messages = smtp.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["noc@globex.test", "noc@test"]  # acme's contacts hear nothing
    inc = store.get_incident(iid)
    assert inc is not None
    by = {c.client: c for c in inc.clients}
    assert by["acme"].maintenance and "PHP upgrade" in by["acme"].maintenance and by["globex"].maintenance is None
    code, out, _ = await run_responder_async("maintenance", "list", "--json", "--config", str(path), env=env)
    assert window_id in out
    code, out, _ = await run_responder_async("maintenance", "end", window_id, "--config", str(path), env=env)
    assert code == 0 and "ended" in out
    assert not [w for w in maintenance.stored(store) if w.active(utcnow())]


async def test_whole_incident_in_maintenance_sends_nothing(
        fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    path = write_config(tmp_path, inventory, email={
        "host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]})  # type: ignore[attr-defined]
    cfg = load(path)
    maintenance.add(store, cfg, client="acme", server=None, duration=3600, reason="migration")
    async with TestClient(TestServer(make_app_for(path, store))) as client:
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s1:9100",)), headers=AUTH)
        [iid] = (await resp.json())["incidents"]
        assert (await run_worker_async(path, redis_url))[0] == 0
        page = await (await client.get(f"/incidents/{iid}")).text()
    inc = store.get_incident(iid)
    assert inc is not None and inc.severity == "critical" and inc.quiet and "migration" in inc.quiet
    assert inc.notifications == [] and smtp.messages == []
    assert "Notifications held back" in page and "migration" in page


async def test_resolve_while_a_check_still_fails(fleet: Fleet, store: Store, smtp: Collector, redis_url: str,
                                                 tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    path = write_config(tmp_path, inventory, email={
        "host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]})  # type: ignore[attr-defined]
    async with TestClient(TestServer(make_app_for(path, store))) as client:
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s1:9100",)), headers=AUTH)
        [iid] = (await resp.json())["incidents"]
        assert (await run_worker_async(path, redis_url))[0] == 0
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s1:9100",), status="resolved"),
                                 headers=AUTH)
        assert (await resp.json())["incidents"] == [iid]
        assert (await run_worker_async(path, redis_url))[0] == 0
        data = await (await client.get(f"/api/incidents/{iid}")).json()
    assert data["status"] == "assessed" and data["severity"] == "critical"
    assert data["headline"] == "alerts resolved, but shop on s1, shop on s2 still failing"
    subjects = [m["Subject"] for m in smtp.wait_for(4)]
    assert len([s for s in subjects if s.startswith("[CRITICAL]")]) >= 2


def make_app_for(path: Path, store: Store) -> Any:
    from responder.web.app import make_app

    return make_app(load(path), store)


async def alert_s2_in_a_window(fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path,
                               *window: str) -> tuple[Path, str, str]:
    """The shared fleet, globex with contacts of its own: add the window `window` (the arguments of
    `responder maintenance add`), alert on s2 (it carries both acme and globex) and run the worker once.
    Returns the config, what the add printed and the incident's id."""
    inventory = await shared_fleet(fleet)
    inventory["clients"]["globex"]["contacts"] = {"email": ["noc@globex.test"]}
    path = write_config(tmp_path, inventory, email={
        "host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]})  # type: ignore[attr-defined]
    code, out, err = await run_responder_async("maintenance", "add", *window, "--config", str(path),
                                               env={"RESPONDER_REDIS_URL": redis_url})
    assert code == 0, err
    async with TestClient(TestServer(make_app_for(path, store))) as client:
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s2:9100",)), headers=AUTH)
        [iid] = (await resp.json())["incidents"]
        assert (await run_worker_async(path, redis_url))[0] == 0
    return path, out, iid


def test_a_return_to_an_earlier_picture_is_news_again(store: Store, tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY, "incidents": {"group_wait": "0s", "cooldown": "30m"}}, base=tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    notify_q = Queue(NOTIFY_QUEUE, connection=store.r)
    [iid] = post(intake, ("s1",)).incidents
    pictures = [{"s1": "fail", "s2": "fail"}, {"s1": "ok", "s2": "fail"}, {"s1": "fail", "s2": "fail"}]
    told = []
    for generation, picture in enumerate(pictures, 1):
        begin_assessment(store, iid, generation)
        finish_assessment(store, cfg, iid, generation, [verdict("acme", picture)], assess_scheduler(store.r),
                          notify_scheduler(store.r))
        post(intake, ("s1",), starts=f"2025-11-18T1{generation}:00:00Z")
        inc = store.get_incident(iid)
        assert inc is not None
        told.append(inc.told[NOC].reasons)
    assert [j.split(f"notify-{iid}-")[1] for j in notify_q.job_ids] == ["1", "2", "3"]
    assert told == [["first"], ["changed"], ["changed"]]  # the same picture again, told again


def test_an_unknown_name_with_a_known_address_is_mapped(store: Store, tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY, "incidents": {"group_wait": "10s"}}, base=tmp_path)
    body = {"alerts": [{"status": "firing", "labels": {"instance": "web-01.legacy.example", "address": "10.0.0.2",
                                                       "alertname": "Down"}, "startsAt": "2025-11-18T09:00:00Z"}]}
    [iid] = Intake(store, cfg, assess_scheduler(store.r)).accept(alertmanager.parse_data(body), b"{}").incidents
    inc = store.get_incident(iid)
    assert inc is not None and inc.alerts[0].server == "s2" and inc.affected == ["acme", "globex"]


def test_a_recorded_only_event_is_still_a_known_duplicate(store: Store, tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY}, base=tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    ack = alertmanager.parse_data({"alerts": [{"status": "firing", "labels": {"instance": "s1", "alertname": "A"},
                                               "startsAt": "2025-11-18T09:00:00Z"}]})
    ack.alerts[0] = ack.alerts[0].model_copy(update={"event": "acknowledgement"})
    first = intake.accept(ack, b"{}")
    again = intake.accept(ack, b"{}")
    assert (first.accepted, first.incidents) == (1, [])
    assert (again.accepted, again.duplicates, again.incidents) == (0, 1, [])


def test_changes_and_headline_in_russian(tmp_path: Path) -> None:
    cfg = from_data({"inventory": INVENTORY, "report": {"language": "ru"}}, base=tmp_path)
    before = verdict("globex", {"s2": "ok"})
    after = verdict("globex", {"s2": "fail"})
    assert diff(before, after, "ru") == ["норма → критично", "shop на s2: сбой: HTTP 503"]
    inc = incident_with("resolved")
    settle(inc, [after], {"globex": before}, [], cfg, utcnow())
    assert inc.headline == "алерты сняты, но сбой продолжается: shop на s2"
    assert inc.clients[0].changes[0] == "норма → критично"
