"""Service windows: one service under planned work, on every client that has it or on one client.

The client is quiet only when every service of it in trouble is under a window; settle is checked as
a pure rule, then end to end through a real worker, real HTTP servers and a real SMTP server.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from responder.config import from_data
from responder.errors import ConfigError
from responder.lifecycle import maintenance
from responder.lifecycle.maintenance import Window
from responder.lifecycle.settle import settle
from responder.model.alert import utcnow
from responder.model.verdict import Check, ClientVerdict
from responder.store import Store
from tests.support.fleet import Fleet
from tests.support.smtp import Collector
from tests.test_lifecycle import alert_s2_in_a_window, incident_with
from workers.assess.judge import judge_client, judge_service

INVENTORY: dict[str, Any] = {
    "services": {"shop": {"url": "http://{address}:8001/"}, "store": {"url": "http://{address}:8004/"}},
    "servers": {"s1": {"address": "10.0.0.1"}, "s2": {"address": "10.0.0.2"}},
    "clients": {"acme": {"servers": ["s1", "s2"], "services": ["shop", "store"]},
                "globex": {"servers": ["s2"], "services": ["shop"]}},
}


def verdict(client: str, failing: dict[str, set[str]], servers: tuple[str, ...]) -> ClientVerdict:
    services = []
    for service, bad in failing.items():
        checks = [Check(server=s, url=f"http://{s}/", ok=s not in bad, status=503 if s in bad else 200,
                        error="HTTP 503" if s in bad else None) for s in servers]
        services.append(judge_service(service, checks, 10))
    return judge_client(client, services, 10)


def window(**names: str) -> Window:
    now = utcnow()
    return Window(id="m-1", starts=now - timedelta(minutes=1), ends=now + timedelta(hours=1), reason="shop 2.0",
                  **names)


def quiet_clients(windows: list[Window], clients: list[ClientVerdict], tmp_path: Path) -> dict[str, str | None]:
    cfg = from_data({"inventory": INVENTORY}, base=tmp_path)
    inc = incident_with(servers=("s2",))
    settle(inc, clients, {}, windows, cfg, utcnow())
    return {c.client: c.maintenance for c in inc.clients}


def test_a_service_window_covers_a_client_whose_only_trouble_is_that_service(tmp_path: Path) -> None:
    acme = verdict("acme", {"shop": {"s2"}, "store": set()}, ("s1", "s2"))
    globex = verdict("globex", {"shop": {"s2"}}, ("s2",))
    got = quiet_clients([window(service="shop")], [acme, globex], tmp_path)
    assert got["acme"] and "service shop on every client" in got["acme"] and got["globex"]


def test_trouble_outside_the_window_is_still_news(tmp_path: Path) -> None:
    acme = verdict("acme", {"shop": {"s2"}, "store": {"s2"}}, ("s1", "s2"))
    assert quiet_clients([window(service="shop")], [acme], tmp_path) == {"acme": None}
    both = [window(service="shop"), window(service="store", client="acme")]
    assert quiet_clients(both, [acme], tmp_path)["acme"]


def test_a_window_on_one_clients_service_leaves_the_others(tmp_path: Path) -> None:
    acme = verdict("acme", {"shop": {"s2"}, "store": set()}, ("s1", "s2"))
    globex = verdict("globex", {"shop": {"s2"}}, ("s2",))
    got = quiet_clients([window(service="shop", client="acme")], [acme, globex], tmp_path)
    assert got["acme"] and "service shop of acme" in got["acme"] and got["globex"] is None
    # a service window is not a whole-client window
    worse = verdict("acme", {"shop": {"s2"}, "store": {"s1"}}, ("s1", "s2"))
    assert quiet_clients([window(service="shop", client="acme")], [worse], tmp_path) == {"acme": None}


def test_with_nothing_failing_every_service_must_be_covered(tmp_path: Path) -> None:
    fine = verdict("acme", {"shop": set(), "store": set()}, ("s1", "s2"))
    assert quiet_clients([window(service="shop")], [fine], tmp_path) == {"acme": None}
    assert quiet_clients([window(service="shop"), window(service="store")], [fine], tmp_path)["acme"]


def test_inventory_service_windows_are_checked(tmp_path: Path) -> None:
    when = {"from": "2026-12-01T22:00:00Z", "to": "2026-12-01T23:00:00Z"}
    windows = [{"service": "store", **when}, {"service": "shop", "client": "globex", **when}]
    ok = from_data({"inventory": {**INVENTORY, "maintenance": windows}}, base=tmp_path)
    assert [(w.service, w.client) for w in maintenance.from_inventory(ok)] == [("store", None), ("shop", "globex")]
    with pytest.raises(ConfigError) as info:
        from_data({"inventory": {**INVENTORY, "maintenance": [
            {"service": "store", "client": "globex", **when}, {"service": "nothing", **when},
            {"service": "shop", "server": "s1", **when}]}}, base=tmp_path)
    assert info.value.problems == [
        "maintenance[0].service: client 'globex' has no service 'store'",
        "maintenance[1].service: no client has service 'nothing'",
        "maintenance[2]: name a client, a service (optionally with its client) or a server",
    ]


async def test_a_service_window_silences_that_service_end_to_end(
        fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path) -> None:
    # acme: shop fails on s1 and s2; globex: store hangs on s3
    _path, _out, iid = await alert_s2_in_a_window(fleet, store, smtp, redis_url, tmp_path,
                                                  "--service", "shop", "--for", "1h", "--reason", "shop 2.0")
    messages = smtp.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["noc@globex.test", "noc@test"]  # acme's contacts hear nothing
    inc = store.get_incident(iid)
    assert inc is not None and inc.quiet is None
    by = {c.client: c for c in inc.clients}
    assert by["acme"].severity == "critical" and by["acme"].maintenance
    assert "service shop on every client" in by["acme"].maintenance and "shop 2.0" in by["acme"].maintenance
    assert by["globex"].maintenance is None
