"""Grouping rules on a real Redis: one alert one incident, host-less alerts, host labels, the outbox,
concurrent receivers; and the rules combined at random (hypothesis)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import Queue

from responder.config import from_data, load
from responder.intake.grouping import Intake, _mapped_json
from responder.intake.sources import alertmanager, parser_for
from responder.lifecycle.flight import UNMAPPED, begin_assessment, finish_assessment
from responder.model.alert import with_server
from responder.model.verdict import Check, ClientVerdict
from responder.runtime.queues import ASSESS_QUEUE, assess_scheduler, notify_scheduler
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import PAYLOADS, run_worker_async
from tests.support.fleet import Fleet
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.smtp import Collector
from workers.assess.judge import judge_client, judge_service

HOOK = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}

INVENTORY: dict[str, Any] = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"s1": {"address": "10.0.0.1"}, "s2": {"address": "10.0.0.2"}, "s3": {"address": "10.0.0.3"},
                "k8s-node-7": {"address": "10.0.0.7"}},
    "clients": {"acme": {"servers": ["s1"], "services": ["shop"]},
                "globex": {"servers": ["s2"], "services": ["shop"]},
                "both": {"servers": ["s1", "s2"], "services": ["shop"]},
                "initech": {"servers": ["s3", "k8s-node-7"], "services": ["shop"]}},
}


def config(tmp_path: Path, wait: str = "0s", **extra: Any) -> Any:
    return from_data({"inventory": INVENTORY, "incidents": {"group_wait": wait}, **extra}, base=tmp_path)


def alert(labels: dict[str, str], status: str = "firing", starts: str = "2025-11-18T09:00:00Z") -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": "Down", **labels}, "startsAt": starts}


def post(intake: Intake, *alerts: dict[str, Any]) -> Any:
    return intake.accept(alertmanager.parse_data({"alerts": list(alerts)}), b"{}")


def ok(client: str, servers: list[str]) -> ClientVerdict:
    checks = [Check(server=s, url=f"http://{s}/", ok=True, status=200, latency_ms=1.0) for s in servers]
    return judge_client(client, [judge_service("shop", checks, 10)], 10)


def assessed(store: Store, cfg: Any, iid: str, generation: int) -> None:
    inc = begin_assessment(store, iid, generation)
    assert inc is not None
    finish_assessment(store, cfg, iid, generation, [ok(c, ["s1"]) for c in inc.affected],
                      assess_scheduler(store.r), notify_scheduler(store.r))


def test_one_alert_over_an_open_incident_and_a_new_client_goes_to_one_incident(store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    [first] = post(intake, alert({"instance": "s1"})).incidents  # acme and both
    assessed(store, cfg, first, 1)
    # s2 carries both (open in `first`) and globex (in none): one incident, globex joins it
    answer = post(intake, alert({"instance": "s2"}))
    assert answer.incidents == [first]
    inc = store.get_incident(first)
    assert inc is not None and inc.affected == ["acme", "both", "globex"] and inc.generation == 2
    assert store.open_incidents_of(["acme", "both", "globex"]) == {c: first for c in ("acme", "both", "globex")}


def test_a_host_less_alert_is_listed_and_reassesses_nobody(store: Store, tmp_path: Path) -> None:
    # while a storm gathers, it is listed on the storm's incident
    intake = Intake(store, config(tmp_path, wait="1h"), assess_scheduler(store.r))
    [storm] = post(intake, alert({"instance": "s1"})).incidents
    answer = post(intake, alert({"job": "blackbox"}), alert({"instance": "db-99:9100"}))
    assert answer.incidents == [storm] and answer.accepted == 2
    inc = store.get_incident(storm)
    assert inc is not None and inc.generation == 1 and inc.unmapped_hosts == ["db-99:9100"]
    assert any("names no host" in n for n in inc.notes)
    assert any("db-99:9100" in n and "tried instance=db-99:9100" in n for n in inc.notes)
    # once the clients' incident is assessed, it is not re-probed for an alert that names none of them
    store.clear()
    cfg = config(tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    queue = Queue(ASSESS_QUEUE, connection=store.r)
    [iid] = post(intake, alert({"instance": "s1"})).incidents
    assessed(store, cfg, iid, 1)
    queue.empty()
    [other] = post(intake, alert({"job": "blackbox"})).incidents
    inc, alone = store.get_incident(iid), store.get_incident(other)
    assert inc is not None and alone is not None and other != iid
    assert inc.generation == 1 and alone.affected == [] and queue.job_ids == [f"assess-{other}-1"]


def test_unmapped_alerts_alone_make_an_incident_with_no_clients(store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    [iid] = post(intake, alert({"instance": "db-99:9100"})).incidents
    assert post(intake, alert({"instance": "db-98:9100"})).incidents == [iid]
    inc = store.get_incident(iid)
    assert inc is not None and inc.affected == [] and inc.unmapped_hosts == ["db-99:9100", "db-98:9100"]
    assert store.open_incidents_of([UNMAPPED]) == {UNMAPPED: iid}


def test_the_first_host_label_that_maps_wins(store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    # the exporter's instance is a pod address the inventory lacks; the node label names the server
    [iid] = post(intake, alert({"instance": "10.244.3.17:9100", "pod": "shop-7f9c", "node": "k8s-node-7"})).incidents
    inc = store.get_incident(iid)
    assert inc is not None and inc.alerts[0].server == "k8s-node-7" and inc.affected == ["initech"]
    # configured: only `nodename` names the host, so `instance: s1` is not looked at
    store.clear()
    only = Intake(store, config(tmp_path, intake={"host_labels": ["nodename"]}), assess_scheduler(store.r))
    [other] = post(only, alert({"instance": "s1", "nodename": "s3"}, starts="2025-11-18T10:00:00Z")).incidents
    found = store.get_incident(other)
    assert found is not None and [a.server for a in found.alerts] == ["s3"]


def test_a_receiver_that_dies_after_storing_leaves_its_assessment_to_the_sweep(store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    queue = Queue(ASSESS_QUEUE, connection=store.r)
    intake._queue = lambda *args: False  # type: ignore[method-assign]  # dies right after the script
    [iid] = post(intake, alert({"instance": "s1"})).incidents
    assert queue.job_ids == []
    sweeper = Intake(store, cfg, assess_scheduler(store.r))
    assert sweeper.recover() == 0  # too fresh: its receiver may still be queueing it
    assert [e[:2] for e in store.assessments_due(2**62)] == [(iid, 1)]
    done = [sweeper._queue(i, g, w) for i, g, w in store.assessments_due(2**62)]
    again = [sweeper._queue(i, g, w) for i, g, w in [(iid, 1, 0)]]
    assert done == [True] and again == [False] and queue.job_ids == [f"assess-{iid}-1"]  # once
    assert store.assessments_due(2**62) == []


def test_concurrent_receivers_make_one_incident_per_storm(store: Store, tmp_path: Path) -> None:
    cfg = config(tmp_path, wait="30s")
    intakes = [Intake(store, cfg, assess_scheduler(store.r)) for _ in range(8)]
    answers: list[list[str]] = []

    def send(n: int) -> None:
        for i in range(10):
            answers.append(post(intakes[n], alert({"instance": f"s{1 + (n + i) % 3}", "n": f"{n}-{i}"},
                                                   starts=f"2025-11-18T09:{n:02d}:{i:02d}Z")).incidents)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({i for a in answers for i in a}) == 1
    [iid] = answers[0]
    inc = store.get_incident(iid)
    assert inc is not None and len(inc.alerts) == 80 and inc.generation == 1
    assert Queue(ASSESS_QUEUE, connection=store.r).count + len(
        Queue(ASSESS_QUEUE, connection=store.r).scheduled_job_registry) == 1


HOSTS = st.sampled_from(["s1", "s2", "s3", "k8s-node-7", "db-99", ""])
ALERTS = st.tuples(HOSTS, st.sampled_from(["firing", "resolved"]), st.integers(0, 5))
STEPS = st.lists(st.one_of(st.lists(ALERTS, min_size=1, max_size=6), st.just("assess")), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, wait=st.sampled_from(["0s", "1h"]))
def test_rules_combined(store: Store, tmp_path: Path, steps: list[Any], wait: str) -> None:
    """Whatever arrives in whatever order: every accepted alert is in exactly one incident, which holds
    it; a client's open incident lists it; an incident has at most one assessment queued."""
    store.clear()
    cfg = config(tmp_path, wait=wait)
    intake = Intake(store, cfg, assess_scheduler(store.r))
    placed: dict[str, str] = {}
    for step in steps:
        if step == "assess":  # a worker takes every queued job
            queue = Queue(ASSESS_QUEUE, connection=store.r)
            queue.empty()
            for job_id in queue.scheduled_job_registry.get_job_ids():
                queue.scheduled_job_registry.remove(job_id)
            for inc in store.list_incidents(100):
                if inc.pending and not inc.running:
                    assessed(store, cfg, inc.id, inc.generation)
            continue
        body = [alert({"instance": h} if h else {"job": "x"}, status=s, starts=f"2025-11-18T09:00:0{n}Z")
                for h, s, n in step]
        batch = alertmanager.parse_data({"alerts": body})
        answer = intake.accept(batch, b"{}")
        known = store.known_alert_keys([a.key for a in batch.alerts])
        for a in batch.alerts:
            assert len(known[a.key]) == 1, known[a.key]  # one alert, one incident
            placed.setdefault(a.identity + "|" + a.key, known[a.key][0])
            assert known[a.key][0] in answer.incidents
    incidents = {i.id: i for i in store.list_incidents(1000)}
    for identity_key, iid in placed.items():
        assert identity_key.split("|")[0] in {a.identity for a in incidents[iid].alerts}
    pointers = store.open_incidents_of(list(INVENTORY["clients"]))
    for client, iid in pointers.items():
        inc = incidents[iid]
        if inc.status != "resolved":
            assert client in inc.affected
    queue = Queue(ASSESS_QUEUE, connection=store.r)
    jobs = [j for j in queue.job_ids + queue.scheduled_job_registry.get_job_ids()]
    per_incident = [j.rsplit("-", 1)[0] for j in jobs]
    assert len(per_incident) == len(set(per_incident))  # single-flight


async def test_one_event_across_an_open_incident_and_a_new_client_is_one_noc_message(
        fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    path = write_config(tmp_path, inventory, email={
        "host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]})  # type: ignore[attr-defined]
    async with TestClient(TestServer(make_app(load(path), store))) as client:
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s1:9100",)), headers=HOOK)
        [iid] = (await resp.json())["incidents"]  # acme
        assert (await run_worker_async(path, redis_url))[0] == 0
        assert len([m for m in smtp.wait_for(2) if m["To"] == "noc@test"]) == 1
        # s2 carries acme (open in iid) and globex (in none): one event
        resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=("s2:9100",)), headers=HOOK)
        assert (await resp.json())["incidents"] == [iid]
        assert (await run_worker_async(path, redis_url))[0] == 0
    assert [i.id for i in store.list_incidents()] == [iid]
    inc = store.get_incident(iid)
    assert inc is not None and inc.affected == ["acme", "globex"]
    assert sorted(c.client for c in inc.clients) == ["acme", "globex"]
    noc = [m for m in smtp.wait_for(4) if m["To"] == "noc@test"]
    assert len(noc) == 2 and "globex" in noc[1]["Subject"]  # one message for the second event


@pytest.mark.parametrize("name", ["alertmanager-firing-storm.json", "alertmanager-mixed-partial-resolve.json",
                                  "icinga-host-down-storm.json", "icinga-service-acknowledgement.json",
                                  "zabbix-problem-storm.json", "zabbix-recovery.json"])
def test_a_mapped_alerts_stored_json_is_the_mapped_copys_dump(name: str) -> None:
    """Intake dumps a mapped alert from its fields and the server, without the copy: the bytes must be
    the copy's own dump, for every source's alerts."""
    batch = parser_for(name.split("-")[0])((PAYLOADS / name).read_bytes())
    for a in batch.alerts:
        assert _mapped_json(a, "s1") == with_server(a, "s1").model_dump_json().encode()
        assert _mapped_json(a, None) == a.model_dump_json().encode()
