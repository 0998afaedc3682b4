"""Group commit on a real Redis: deliveries that arrive together go in one script call, each answered
on its own and grouped as if it had come alone; a failed call fails every delivery in it (503), and a
large delivery does not hold the small ones behind it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis as AsyncRedis

from responder.config import from_data
from responder.errors import StoreUnavailable
from responder.intake.grouping import FreshDoc, Intake, new_incident
from responder.intake.sources import alertmanager
from responder.runtime.queues import assess_scheduler
from responder.store import Store
from responder.store.intake import AsyncGroup
from tests.support.fleet import free_port

INVENTORY: dict[str, Any] = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {f"s{i}": {"address": f"10.0.0.{i + 1}"} for i in range(40)},
    "clients": {f"c{i}": {"servers": [f"s{i}"], "services": ["shop"]} for i in range(40)},
}


def intake(store: Store, tmp_path: Path, wait: str) -> Intake:
    cfg = from_data({"inventory": INVENTORY, "incidents": {"group_wait": wait}}, base=tmp_path)
    return Intake(store, cfg, assess_scheduler(store.r))


def delivery(n: int, alerts: int = 3, servers: int = 40) -> tuple[Any, bytes]:
    body = {"alerts": [{"status": "firing", "labels": {"alertname": "Down", "instance": f"s{(n + i) % servers}",
                                                       "n": f"{n}-{i}"},
                        "startsAt": "2025-11-18T09:00:00Z"} for i in range(alerts)]}
    return alertmanager.parse_data(body), b"{}"


def script_calls(store: Store) -> int:
    stats = store.r.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def test_concurrent_deliveries_share_script_calls_and_get_their_own_answers(
        store: Store, tmp_path: Path) -> None:
    it = intake(store, tmp_path, "0s")
    group = store.async_group()
    assert group is not None
    try:
        await it.accept_async(group, *delivery(10))  # loads the script (s10-s12, not s0)
        before = script_calls(store)
        batches = [delivery(n, servers=1) for n in range(20)]  # all about s0, so all in one incident
        answers = await asyncio.gather(*(it.accept_async(group, b, body) for b, body in batches))
        calls = script_calls(store) - before
    finally:
        await group.aclose()
    assert calls <= 2, f"{calls} script calls for 20 deliveries that came together"
    assert [a.accepted for a in answers] == [3] * 20 and all(a.duplicates == 0 for a in answers)
    [incident] = {i for a in answers for i in a.incidents}
    assert answers[0].opened and not any(a.opened for a in answers[1:])
    inc = store.get_incident(incident)
    assert inc is not None and len(inc.alerts) == 60 and inc.affected == ["c0"]


@pytest.mark.parametrize(("wait", "incidents"), [("0s", 2), ("30s", 1)])
async def test_deliveries_in_one_call_are_grouped_as_if_each_came_alone(
        store: Store, tmp_path: Path, wait: str, incidents: int) -> None:
    """Two deliveries about different clients, in one call: with no group_wait each opens its own
    incident, as two calls would; within a group_wait they are one storm, one incident."""
    it = intake(store, tmp_path, wait)
    group = store.async_group()
    assert group is not None
    try:
        first, second = await asyncio.gather(it.accept_async(group, *delivery(0, alerts=1)),
                                             it.accept_async(group, *delivery(5, alerts=1)))
    finally:
        await group.aclose()
    assert len({*first.incidents, *second.incidents}) == incidents == store.count_incidents()
    assert first.opened and second.opened == (incidents == 2)


async def test_a_failed_call_answers_every_delivery_in_it_store_unavailable(store: Store, tmp_path: Path) -> None:
    it = intake(store, tmp_path, "0s")
    conn = AsyncRedis(port=free_port(), socket_connect_timeout=1)  # nothing listens there
    group = AsyncGroup(conn, conn.register_script(store._GROUP), "x:")
    try:
        results = await asyncio.gather(*(it.accept_async(group, *delivery(n)) for n in range(5)),
                                       return_exceptions=True)
    finally:
        await group.aclose()
    assert all(isinstance(r, StoreUnavailable) for r in results), results
    assert store.count_incidents() == 0


async def test_a_large_delivery_does_not_hold_the_small_ones_behind_it(store: Store, tmp_path: Path) -> None:
    it = intake(store, tmp_path, "30s")
    group = store.async_group()
    assert group is not None
    done: list[str] = []

    async def send(name: str, n: int, alerts: int) -> None:
        answer = await it.accept_async(group, *delivery(n, alerts=alerts))
        assert answer.accepted == alerts
        done.append(name)

    try:
        # 2,000 alerts go in four calls of 500; the small deliveries ride in the calls between them
        await asyncio.gather(send("large", 0, 2000), *(send(f"small{k}", 10_000 + k, 3) for k in range(5)))
    finally:
        await group.aclose()
    assert done[-1] == "large" and sorted(done[:-1]) == [f"small{k}" for k in range(5)]
    assert store.count_incidents() == 1


def test_the_new_incident_document_is_the_models_own() -> None:
    fresh = FreshDoc()
    for now in (datetime(2025, 11, 18, 9, 14, 12, 345678, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)):
        inc = new_incident(now)
        assert fresh(inc.id, now) == inc.model_dump_json(exclude={"alerts"}).encode()


async def test_a_delivery_that_cannot_be_encoded_fails_alone(store: Store, tmp_path: Path) -> None:
    it = intake(store, tmp_path, "0s")
    group = store.async_group()
    assert group is not None
    try:
        await it.accept_async(group, *delivery(10))
        plan = {"now_ms": 0, "now": "", "wait_ms": 0, "new_id": "x", "own": "", "truncated": 0, "warnings": [],
                "unmapped_key": "-", "delivery_id": "x", "alerts": []}
        results = await asyncio.gather(group(plan, "{}", "\ud800", []),  # a lone surrogate: not UTF-8
                                       *(it.accept_async(group, *delivery(n)) for n in range(3)),
                                       return_exceptions=True)
    finally:
        await group.aclose()
    assert isinstance(results[0], UnicodeEncodeError)
    assert [getattr(r, "accepted", r) for r in results[1:]] == [3, 3, 3]


async def test_deliveries_in_one_call_leave_the_incident_as_separate_calls_would(store: Store, tmp_path: Path) -> None:
    """The script writes an incident's alerts and its intake fields once per call: what it leaves must be
    what one call per delivery left (every alert; the largest truncated; the last delivery's time)."""
    it = intake(store, tmp_path, "30s")
    group = store.async_group()
    assert group is not None
    bodies = [{"truncatedAlerts": t, "alerts": [{"status": "firing", "labels": {"alertname": "Down", "instance": "s0",
                                                                           "n": f"{n}-{i}"}} for i in range(2)]}
              for n, t in enumerate((7, 3, 0))]
    try:
        answers = await asyncio.gather(*(it.accept_async(group, alertmanager.parse_data(b), b"{}") for b in bodies))
    finally:
        await group.aclose()
    [iid] = {i for a in answers for i in a.incidents}
    inc = store.get_incident(iid)
    assert inc is not None and len(inc.alerts) == 6 and inc.truncated == 7
    stamps = [d["received_at"] for d in store.deliveries()]
    assert inc.updated_at.isoformat() == max(stamps)  # the intake's time: the last delivery's
