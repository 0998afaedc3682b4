"""Who gets what, once: routes by severity, a client's contacts see only their client on every channel,
the idempotency ledger across job runs, `responder notifications retry`, and a storm end to end through
a real worker to email, Teams, Slack and Telegram."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from responder.config import load
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import NotificationRecord
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import run_responder_async, run_worker_async
from tests.support.chat_endpoints import (
    TELEGRAM_TOKEN,
    ChatEndpoints,
    sample_config,
    sample_incident,
    sample_inventory,
)
from tests.support.fleet import Fleet
from tests.support.links import unsigned
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.smtp import Collector
from workers.notify.channels.base import RetryPolicy
from workers.notify.job import RetryLater, notify, plan, retry_failed
from workers.notify.render import render

FAST = RetryPolicy(attempts=2, backoff=0.01, max_wait=5.0, timeout=5.0)
AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}


@pytest.fixture
async def chat() -> AsyncIterator[ChatEndpoints]:
    async with ChatEndpoints() as endpoints:
        yield endpoints


def save(store: Store, incident: Incident) -> None:
    with store.transaction() as pipe:
        store.put_incident(pipe, incident)


def labels(wanted: list[Any]) -> list[tuple[str, str, str | None]]:
    return [(d.channel, d.to, d.scope) for d in wanted]


# -- plan ---------------------------------------------------------------------------------------------


def test_plan_routes_and_contacts(chat: ChatEndpoints) -> None:
    cfg = sample_config(chat, email={"to": ["noc@test"]})
    got = plan(cfg, sample_incident())
    assert labels(got) == [
        ("email", "noc@test", None), ("teams", "teams", None), ("slack", "slack", None),
        ("telegram", "telegram:-100100", None),
        ("email", "noc@acme.test", "acme"), ("teams", "teams:acme", "acme"), ("slack", "slack:acme", "acme"),
        ("telegram", "telegram:-100200", "acme"),
        ("email", "ops@globex.test", "globex"),  # initech is ok and unchanged: its contacts hear nothing
    ]
    for d in got:
        assert "http" not in d.to  # a label, never the secret URL
    assert {d.target for d in got if d.channel == "teams"} == {chat.teams_url(), chat.teams_url("acme")}


def test_plan_routes_each_client_by_its_own_severity(chat: ChatEndpoints) -> None:
    cfg = sample_config(chat, email={"to": ["noc@test"]},
                        routes={"critical": ["email", "teams"], "degraded": ["email"], "ok": ["email"]})
    got = labels(plan(cfg, sample_incident()))
    assert ("teams", "teams:acme", "acme") in got and ("slack", "slack:acme", "acme") not in got
    assert ("email", "ops@globex.test", "globex") in got


def test_plan_recovery_follows_the_channels_that_carried_the_problem(chat: ChatEndpoints) -> None:
    cfg = sample_config(chat, email={"to": ["noc@test"]})
    inc = sample_incident()
    inc.notifications = [NotificationRecord(channel="teams", to="teams:acme", status="sent", at=utcnow(),
                                            client="acme", state="state-1"),
                         NotificationRecord(channel="slack", to="slack", status="sent", at=utcnow(), state="state-1")]
    for c in inc.clients:
        c.severity, c.changes = "ok", [f"{c.client} recovered"]
    inc.severity, inc.status = "ok", "resolved"
    got = labels(plan(cfg, inc))  # routes say ok: [email]
    assert ("teams", "teams:acme", "acme") in got and ("slack", "slack", None) in got
    assert ("slack", "slack:acme", "acme") not in got and ("teams", "teams", None) not in got


def test_plan_skips_clients_under_maintenance(chat: ChatEndpoints) -> None:
    inc = sample_incident()
    inc.clients[0].maintenance = "PHP upgrade"
    got = labels(plan(sample_config(chat), inc))
    assert not [g for g in got if g[2] == "acme"] and ("teams", "teams", None) in got


def test_plan_dedupes_a_contact_that_is_also_the_channel(chat: ChatEndpoints) -> None:
    inv = sample_inventory(chat)
    inv["clients"]["acme"]["contacts"]["teams"] = chat.teams_url()  # acme's own people sit in the NOC channel
    got = labels(plan(sample_config(chat, inventory=inv), sample_incident()))
    assert ("teams", "teams", None) in got and ("teams", "teams:acme", "acme") not in got


async def test_telegram_contact_without_a_bot_is_recorded_as_skipped(chat: ChatEndpoints, store: Store) -> None:
    # config now refuses a route to a channel with no config; the channel's own guard stays the safety net
    full = sample_config(chat)
    cfg = full.model_copy(update={"chat": full.chat.model_copy(update={"telegram": None})})
    inc = sample_incident()
    save(store, inc)
    outcomes = await notify(store, cfg, inc.id, "state-1", policy=FAST)
    assert outcomes is not None
    [skipped] = [o.record for o in outcomes if o.record.channel == "telegram"]
    assert skipped.status == "skipped" and "chat.telegram.token" in (skipped.error or "")


# -- one client's part on every channel -------------------------------------------------------------


async def test_client_contacts_see_only_their_client_on_every_channel(chat: ChatEndpoints, store: Store,
                                                                       smtp: Collector) -> None:
    cfg = sample_config(chat, email={"host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]})  # type: ignore[attr-defined]
    inc = sample_incident()
    save(store, inc)
    outcomes = await notify(store, cfg, inc.id, "state-1", policy=FAST)
    assert outcomes is not None and {o.record.status for o in outcomes} == {"sent"}, outcomes
    assert chat.problems == []
    acme_parts = {
        "teams": json.dumps(chat.of("teams", "acme")[0].payload, ensure_ascii=False),
        "slack": json.dumps(chat.of("slack", "acme")[0].payload, ensure_ascii=False),
        "telegram": json.dumps([r.payload for r in chat.of("telegram", "-100200")], ensure_ascii=False),
    }
    mails = {m["To"]: m for m in smtp.messages}  # every send was awaited: all are in
    acme_mail = mails["noc@acme.test"]
    acme_parts["email"] = acme_mail.get_body(("plain",)).get_content() + acme_mail.get_body(("html",)).get_content()
    acme_parts["email"] += "".join(p.get_content() for p in acme_mail.iter_attachments()) + acme_mail["Subject"]
    for channel, body in acme_parts.items():
        body = unsigned(body)
        assert "acme" in body, channel
        for other in ("globex", "initech", "store", "portal", "s3", "s4", "s5"):
            assert other not in body, (channel, other)
    whole = json.dumps(chat.of("teams", "noc")[0].payload) + json.dumps(chat.of("slack", "noc")[0].payload)
    assert "globex" in whole and "initech" in whole
    assert sorted(mails) == ["noc@acme.test", "noc@test", "ops@globex.test"]  # not initech: ok, unchanged


# -- the ledger ---------------------------------------------------------------------------------------


async def test_teams_503_then_success_delivers_once_even_when_the_job_runs_again(chat: ChatEndpoints,
                                                                                  store: Store) -> None:
    cfg = sample_config(chat, chat={"teams": {"url": chat.teams_url()}}, routes={"critical": ["teams"]})
    inc = sample_incident()
    save(store, inc)
    chat.script("teams/noc", 503)
    first = await notify(store, cfg, inc.id, "state-1", policy=FAST)
    assert first is not None and sorted((o.record.to, o.record.status) for o in first) == \
        [("teams", "sent"), ("teams:acme", "sent")]
    assert len(chat.of("teams", "noc")) == 2  # the 503, then the one that landed
    again = await notify(store, cfg, inc.id, "state-1", policy=FAST)  # RQ runs the job again
    assert again == []
    assert len(chat.of("teams", "noc")) == 2 and len(chat.of("teams", "acme")) == 1
    stored = store.get_incident(inc.id)
    assert stored is not None
    assert sorted((n.to, n.status, n.state) for n in stored.notifications) == \
        [("teams", "sent", "state-1"), ("teams:acme", "sent", "state-1")]


async def test_a_sender_that_died_mid_send_delays_the_message_but_never_loses_it(chat: ChatEndpoints,
                                                                                  store: Store) -> None:
    """A worker killed while sending leaves its claim at "sending": the job's retries wait until the
    claim is stale (no send lasts that long), then take it over and send exactly once."""
    cfg = sample_config(chat, chat={"teams": {"url": chat.teams_url()}}, routes={"critical": ["teams"]})
    inc = sample_incident()
    save(store, inc)
    store.hold_message(inc.id, "state-1", "teams", "teams", int(time.time()))  # at work, or just died
    with pytest.raises(RetryLater, match="teams teams"):
        await notify(store, cfg, inc.id, "state-1", policy=FAST)
    assert chat.of("teams", "noc") == []
    store.hold_message(inc.id, "state-1", "teams", "teams", int(time.time()) - store.CLAIM_STALE - 1)  # long ago
    outcomes = await notify(store, cfg, inc.id, "state-1", policy=FAST)
    assert outcomes is not None and ("teams", "sent") in [(o.record.to, o.record.status) for o in outcomes]
    assert len(chat.of("teams", "noc")) == 1
    assert await notify(store, cfg, inc.id, "state-1", policy=FAST) == []  # and only once
    assert len(chat.of("teams", "noc")) == 1


async def test_stale_state_is_not_sent(chat: ChatEndpoints, store: Store) -> None:
    inc = sample_incident(state="state-2")
    save(store, inc)
    assert await notify(store, sample_config(chat), inc.id, "state-1", policy=FAST) == []
    assert chat.received == []


async def test_transient_failure_is_released_permanent_one_waits_for_retry(chat: ChatEndpoints,
                                                                            store: Store) -> None:
    cfg = sample_config(chat, routes={"critical": ["teams", "slack"]})
    inc = sample_incident()
    save(store, inc)
    chat.script("teams/noc", 503, 503)  # transient, both attempts
    chat.script("slack/noc", (404, {}, "no_service"))  # permanent
    outcomes = await notify(store, cfg, inc.id, "state-1", policy=FAST)
    assert outcomes is not None
    failed = {o.record.to: o.transient for o in outcomes if o.record.status == "failed"}
    assert failed == {"teams": True, "slack": False}
    assert store.message_status(inc.id, "state-1", "teams", "teams") is None  # released: the retry sends it
    assert store.message_status(inc.id, "state-1", "slack", "slack") == "failed"  # kept: waits for a person

    rerun = await notify(store, cfg, inc.id, "state-1", policy=FAST)  # what RQ's retry of the job does
    assert rerun is not None and [(o.record.to, o.record.status) for o in rerun] == [("teams", "sent")]
    assert len(chat.of("slack", "noc")) == 1

    result = await retry_failed(store, cfg, inc.id, policy=FAST)  # the slack hook was fixed meanwhile
    assert [(o.record.to, o.record.status) for o in result.outcomes] == [("slack", "sent")]
    assert await retry_failed(store, cfg, inc.id, policy=FAST) == type(result)([], [], [])
    stored = store.get_incident(inc.id)
    assert stored is not None
    history = [(n.to, n.status) for n in stored.notifications if n.to in ("teams", "slack")]
    assert history == [("teams", "failed"), ("slack", "failed"), ("teams", "sent"), ("slack", "sent")]


async def test_notifications_retry_command(chat: ChatEndpoints, store: Store, redis_url: str,
                                           tmp_path: Path) -> None:
    inventory = sample_inventory(chat)
    path = write_config(tmp_path, inventory, redis_url=redis_url, public_url="https://responder.example.test",
                        chat={"slack": {"url": chat.slack_url()}}, routes={"critical": ["slack"]})
    cfg = load(path)
    inc = sample_incident()
    save(store, inc)
    chat.script("slack/noc", (410, {}, "channel_is_archived"))
    outcomes = await notify(store, cfg, inc.id, "state-1", policy=FAST)
    assert outcomes is not None
    assert {(o.record.to, o.record.status) for o in outcomes} == {("slack", "failed"), ("slack:acme", "sent")}

    code, out, err = await run_responder_async("notifications", "retry", inc.id, "--config", str(path))
    assert code == 0, err
    assert out.strip() == "slack slack: sent"
    assert len(chat.of("slack", "noc")) == 2 and len(chat.of("slack", "acme")) == 1
    code, out, _ = await run_responder_async("notifications", "retry", inc.id, "--config", str(path))
    assert code == 0 and "no failed notifications" in out
    code, _, err = await run_responder_async("notifications", "retry", "nope", "--config", str(path))
    assert code == 2 and err.strip() == "responder: no incident 'nope'"


async def test_notifications_retry_command_exits_1_when_still_failing(chat: ChatEndpoints, store: Store,
                                                                      redis_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, sample_inventory(), redis_url=redis_url,
                        chat={"slack": {"url": chat.slack_url()}}, routes={"critical": ["slack"]})
    inc = sample_incident()
    save(store, inc)
    chat.script("slack/noc", (400, {}, "invalid_payload"), (400, {}, "invalid_payload"))
    await notify(store, load(path), inc.id, "state-1", policy=FAST)
    code, out, _ = await run_responder_async("notifications", "retry", inc.id, "--config", str(path))
    assert code == 1 and out.strip() == "slack slack: failed (HTTP 400: invalid_payload)"


# -- a storm end to end ------------------------------------------------------------------------------


async def test_storm_of_three_webhooks_gives_one_message_per_recipient(
        fleet: Fleet, store: Store, smtp: Collector, chat: ChatEndpoints, redis_url: str, tmp_path: Path) -> None:
    inventory = await shared_fleet(fleet)
    inventory["clients"]["acme"]["contacts"].update(
        teams=chat.teams_url("acme"), slack=chat.slack_url("acme"), telegram="-100200")
    everything = ["email", "teams", "slack", "telegram"]
    path = write_config(
        tmp_path, inventory, incidents={"group_wait": "2s", "threshold": 10, "cooldown": "30m"},
        email={"host": "127.0.0.1", "port": smtp.port, "sender": "responder@test", "to": ["noc@test"]},  # type: ignore[attr-defined]
        chat={"teams": {"url": chat.teams_url()}, "slack": {"url": chat.slack_url()},
              "telegram": {"token": TELEGRAM_TOKEN, "chat_id": "-100100", "api_url": chat.base_url}},
        routes={"critical": everything, "degraded": everything, "ok": ["email"]})
    cfg = load(path)
    async with TestClient(TestServer(make_app(cfg, store))) as client:
        ids = set()
        for host in ("s1:9100", "s3.dc1.example.net", f"{fleet.address('s4')}:9100"):
            resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=(host,)), headers=AUTH)
            assert resp.status == 202
            ids |= set((await resp.json())["incidents"])
        [incident_id] = ids  # one incident: the three arrived within group_wait
        pending = store.get_incident(incident_id)
        assert pending is not None and pending.due_at is not None
        await asyncio.sleep(max(0.0, (pending.due_at - utcnow()).total_seconds()) + 0.3)  # until it is due
        code, _, err = await run_worker_async(path, redis_url)
        assert code == 0, err

    final = store.get_incident(incident_id)
    assert final is not None and final.severity == "critical", final
    assert chat.problems == []
    per_recipient = {(r.kind, r.name) for r in chat.received}
    assert per_recipient == {("teams", "noc"), ("teams", "acme"), ("slack", "noc"), ("slack", "acme"),
                             ("telegram", "-100100"), ("telegram", "-100200")}
    assert len(chat.received) == len(per_recipient)  # one message each
    mails = smtp.wait_for(2)
    assert sorted(m["To"] for m in mails) == ["noc@acme.test", "noc@test"]
    assert sorted((n.channel, n.to, n.status) for n in final.notifications) == [
        ("email", "noc@acme.test", "sent"), ("email", "noc@test", "sent"),
        ("slack", "slack", "sent"), ("slack", "slack:acme", "sent"),
        ("teams", "teams", "sent"), ("teams", "teams:acme", "sent"),
        ("telegram", "telegram:-100100", "sent"), ("telegram", "telegram:-100200", "sent")]
    telegram_acme = chat.of("telegram", "-100200")[0].payload["text"]
    assert "globex" not in telegram_acme and "acme" in telegram_acme
    rendered = render(cfg, final)
    assert rendered.subject.startswith("[CRITICAL] acme critical")


async def test_rq_runs_a_job_again_after_a_transient_failure_and_sends_once(
        chat: ChatEndpoints, store: Store, redis_url: str, tmp_path: Path) -> None:
    from rq import Queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from responder.runtime.queues import NOTIFY_QUEUE, notify_scheduler

    path = write_config(tmp_path, sample_inventory(chat), chat={"teams": {"url": chat.teams_url()}},
                        routes={"critical": ["teams"]})
    inc = sample_incident()
    save(store, inc)
    chat.script("teams/noc", 503, 503, 503)  # every try of the first run
    with store.transaction() as pipe:
        notify_scheduler(store.r)(pipe, inc.id, "state-1")
    code, _, err = await run_worker_async(path, redis_url)
    assert code == 0, err
    job = Job.fetch(f"notify-{inc.id}-state-1", connection=store.r)
    assert job.get_status() == "scheduled"  # it failed, and RQ will run it again
    first = store.get_incident(inc.id)
    assert first is not None
    assert sorted((n.to, n.status) for n in first.notifications) == [("teams", "failed"), ("teams:acme", "sent")]

    when = ScheduledJobRegistry(queue=Queue(NOTIFY_QUEUE, connection=store.r)).get_scheduled_time(job)
    await asyncio.sleep(max(0.0, (when - utcnow()).total_seconds()) + 0.3)  # until RQ's retry is due
    code, _, err = await run_worker_async(path, redis_url)
    assert code == 0, err
    assert job.get_status(refresh=True) == "finished"
    assert len(chat.of("teams", "noc")) == 4 and len(chat.of("teams", "acme")) == 1  # acme's is not sent twice
    final = store.get_incident(inc.id)
    assert final is not None
    assert [(n.to, n.status) for n in final.notifications][-1] == ("teams", "sent")
