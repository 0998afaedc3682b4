"""Recipient records tell the truth, against a real SMTP server (aiosmtpd) that answers DATA slowly.

A reply to DATA slower than the connect timeout is no failure (the old single `email.timeout` made every
attempt `failed` while each one delivered a copy); a reply that never comes in `email.data_timeout`
leaves the message possibly delivered: recorded `unknown`, shown so, and never sent again by a retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller

from responder.config import from_data
from responder.store import Store
from responder.web.app import make_app
from tests.support.chat_endpoints import sample_incident, sample_inventory
from tests.support.fleet import free_port
from tests.support.smtp import Collector
from workers.notify.job import notify


class SlowCollector(Collector):
    """Keeps the message as soon as it arrives, then waits `delay` seconds before its 250."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return answer


@pytest.fixture
def slow_smtp(request: pytest.FixtureRequest) -> Iterator[tuple[SlowCollector, int]]:
    port = free_port()
    collector = SlowCollector(request.param)
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    yield collector, port
    controller.stop()


def config(tmp_path: Path, port: int, **email: Any) -> Any:
    return from_data({
        "inventory": sample_inventory(), "public_url": "https://responder.example.test",
        "email": {"host": "127.0.0.1", "port": port, "to": ["noc@example.test"], **email},
        "routes": {"critical": ["email"], "degraded": ["email"], "ok": ["email"]},
    }, base=tmp_path)


def save(store: Store, incident: Any) -> None:
    with store.transaction() as pipe:
        store.put_incident(pipe, incident)


@pytest.mark.parametrize("slow_smtp", [2.0], indirect=True)
async def test_a_slow_250_is_sent_once(slow_smtp: tuple[SlowCollector, int], store: Store, tmp_path: Path) -> None:
    collector, port = slow_smtp
    cfg = config(tmp_path, port, connect_timeout="0.5s")  # shorter than the server's wait after DATA
    inc = sample_incident()
    save(store, inc)
    first = await notify(store, cfg, inc.id, "state-1")
    assert first is not None
    statuses = {(o.record.to, o.record.status) for o in first}
    assert ("noc@example.test", "sent") in statuses and all(s == "sent" for _, s in statuses), first
    again = await notify(store, cfg, inc.id, "state-1")  # RQ runs the job again
    assert again == []
    assert len([e for e in collector.envelopes if "noc@example.test" in e.rcpt_tos]) == 1


@pytest.mark.parametrize("slow_smtp", [8.0], indirect=True)
async def test_no_answer_after_data_is_unknown_and_never_resent(slow_smtp: tuple[SlowCollector, int], store: Store,
                                                                tmp_path: Path) -> None:
    collector, port = slow_smtp
    cfg = config(tmp_path, port, data_timeout="1s")
    inc = sample_incident()
    inc.clients = inc.clients[:1]  # the config's recipient and acme's contact
    save(store, inc)
    first = await notify(store, cfg, inc.id, "state-1")
    assert first is not None
    assert {o.record.status for o in first} == {"unknown"}, first
    assert all(not o.transient for o in first)  # not a failure worth a retry: that would be a copy
    assert all("may have been delivered" in (o.record.error or "") for o in first)
    delivered = len(collector.envelopes)
    assert delivered == len(first)  # the server did take them
    again = await notify(store, cfg, inc.id, "state-1")  # RQ runs the job again
    assert again == [] and len(collector.envelopes) == delivered
    assert store.message_status(inc.id, "state-1", "email", "noc@example.test") == "unknown"
    async with TestClient(TestServer(make_app(cfg, store))) as client:
        data = await (await client.get(f"/api/incidents/{inc.id}")).json()
        assert {n["status"] for n in data["notifications"]} == {"unknown"}
        page = await (await client.get(f"/incidents/{inc.id}")).text()
        assert 'data-label="Status">unknown</td>' in page


def test_email_timeouts_keep_the_old_key() -> None:
    from responder.config import EmailConfig

    old = EmailConfig(timeout="7s")  # type: ignore[arg-type]
    assert old.connect_timeout is None and old.timeout == 7.0 and old.data_timeout == 180.0
    new = EmailConfig(connect_timeout="3s", data_timeout="2m")  # type: ignore[arg-type]
    assert (new.connect_timeout, new.data_timeout) == (3.0, 120.0)


async def test_a_sender_killed_mid_send_leaves_an_unknown_record(smtp: Any, store: Store, tmp_path: Path) -> None:
    """A claim left at "sending" by a dead worker (at-least-once: it may have delivered) is taken over once
    stale; the record says `unknown` for the interrupted send and `sent` for the new one, not one `sent`."""
    import time

    cfg = config(tmp_path, smtp.port)
    inc = sample_incident()
    inc.clients = inc.clients[:1]
    save(store, inc)
    store.hold_message(inc.id, "state-1", "email", "noc@example.test", int(time.time()) - store.CLAIM_STALE - 1)
    outcomes = await notify(store, cfg, inc.id, "state-1")
    assert outcomes is not None
    mine = [o.record.status for o in outcomes if o.record.to == "noc@example.test"]
    assert mine == ["unknown", "sent"]
    stored = store.get_incident(inc.id)
    assert stored is not None
    assert [n.status for n in stored.notifications if n.to == "noc@example.test"] == ["unknown", "sent"]
