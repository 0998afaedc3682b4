"""min_healthy in the inventory, impact and the rolling-update planner: pure rules, hypothesis where
they combine (random inventories: every batch is safe, every server is placed once or blocked, and a
blocked server really is an outage on its own)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responder.errors import ConfigError
from responder.inventory import Inventory, load_inventory_data
from responder.inventory.impact import UnknownHost, impact, resolve_hosts
from responder.inventory.plan import allowed_down, plan, scope
from responder.model.verdict import Check
from workers.assess.judge import judge_service

BASE: dict[str, Any] = {
    "services": {"shop": {"url": "http://{address}:8001/"}, "store": {"url": "http://{address}:8004/",
                                                                       "min_healthy": 2}},
    "servers": {f"web-0{i}": {"address": f"10.0.0.1{i}"} for i in range(1, 5)} | {"lb-01": {"address": "10.0.0.2"}},
    "clients": {
        "acme": {"servers": ["web-01", "web-02", "web-03"], "services": ["shop", "store"], "depends_on": ["lb-01"]},
        "globex": {"servers": ["web-03", "web-04"], "services": ["shop"]},
        "hooli": {"servers": ["web-04"], "services": ["shop"]},
        "initech": {"servers": ["web-01", "web-02", "web-03", "web-04"], "services": [{"shop": {"min_healthy": 3}}],
                    "min_healthy": 2},
    },
}
INV = load_inventory_data(BASE)


# -- min_healthy in the inventory ------------------------------------------------------------------


def test_the_most_specific_min_healthy_wins() -> None:
    inv = load_inventory_data({**BASE, "clients": {**BASE["clients"], "umbrella": {
        "servers": ["web-01", "web-02", "web-03"], "services": ["shop", "store", {"own": {"url": "http://{address}/"}}],
        "min_healthy": 3}}})
    assert inv.min_healthy("acme", "shop") == 1  # the default
    assert inv.min_healthy("acme", "store") == 2  # the catalogue's
    assert inv.min_healthy("initech", "shop") == 3  # the client's own service entry over the client
    assert inv.min_healthy("umbrella", "store") == 3  # the client over the catalogue
    assert inv.min_healthy("umbrella", "own") == 3
    assert inv.min_healthy("nobody", "shop") == 1


@pytest.mark.parametrize(("client", "where"), [
    ({"servers": ["web-01"], "services": [{"shop": {"min_healthy": 2}}]}, "clients.tiny.services[0].min_healthy"),
    ({"servers": ["web-01"], "services": ["shop"], "min_healthy": 2}, "clients.tiny.min_healthy"),
    ({"servers": ["web-01"], "services": ["store"]}, "clients.tiny.services[0] (services.store.min_healthy)"),
])
def test_min_healthy_above_the_server_count_is_a_config_error_at_its_key(client: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_inventory_data({**BASE, "clients": {"tiny": client}})
    assert info.value.problems == [f"{where}: min_healthy 2 is more than the 1 servers of client 'tiny'"]


def test_min_healthy_must_be_positive_and_servers_listed_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_inventory_data({**BASE, "clients": {"tiny": {"servers": ["web-01", "web-01"], "services": ["shop"],
                                                          "min_healthy": 0}}})
    assert any(p.startswith("clients.tiny.min_healthy") for p in info.value.problems)
    with pytest.raises(ConfigError) as info:
        load_inventory_data({**BASE, "clients": {"tiny": {"servers": ["web-01", "web-01"], "services": ["shop"]}}})
    assert info.value.problems == ["clients.tiny.servers[1]: server 'web-01' is listed twice"]


def test_the_judge_takes_the_inventory_value() -> None:
    checks = [Check(server=s, url="u", ok=s != "web-03" and s != "web-04", status=200) for s in
              INV.clients["initech"].servers]
    verdict = judge_service("shop", checks, 10, servers=INV.clients["initech"].servers,
                            min_healthy=INV.min_healthy("initech", "shop"))
    assert (verdict.severity, verdict.servers_passing, verdict.min_healthy) == ("critical", 2, 3)


# -- impact ----------------------------------------------------------------------------------------


def test_impact_counts_servers_left_against_min_healthy() -> None:
    result = impact(INV, ["web-01", "web-03"], threshold=10)
    by = {c.client: c for c in result.clients}
    assert result.critical
    assert [(s.service, s.severity, s.servers_left, s.min_healthy) for s in by["acme"].services] == [
        ("store", "critical", 1, 2), ("shop", "degraded", 1, 1)]
    assert by["initech"].severity == "critical" and by["globex"].severity == "degraded"
    assert "hooli" not in by  # not on these servers
    assert [c.client for c in result.clients] == ["acme", "initech", "globex"]  # worst first


def test_losing_a_dependency_is_critical_for_every_service() -> None:
    result = impact(INV, ["lb-01"])
    assert result.as_json() == {"clients": [{"client": "acme", "severity": "critical", "depends_on_down": ["lb-01"],
                                             "services": [
        {"service": "shop", "severity": "critical", "servers_total": 3, "servers_left": 3, "min_healthy": 1},
        {"service": "store", "severity": "critical", "servers_total": 3, "servers_left": 3, "min_healthy": 2}]}]}


def test_impact_below_the_threshold_is_ok_and_hosts_resolve_like_alerts() -> None:
    big = load_inventory_data({"services": BASE["services"],
                               "servers": {f"s{i}": {"address": f"10.1.0.{i}"} for i in range(20)},
                               "clients": {"wide": {"servers": [f"s{i}" for i in range(20)], "services": ["shop"]}}})
    assert impact(big, ["s1"], threshold=10).clients[0].severity == "ok"  # 5 % of its servers
    assert impact(big, ["s1", "s2"], threshold=10).clients[0].severity == "degraded"
    assert resolve_hosts(INV, ["web-01:9100", "10.0.0.11", "WEB-02"]) == ["web-01", "web-02"]
    with pytest.raises(UnknownHost):
        resolve_hosts(INV, ["db-99"])


# -- plan ------------------------------------------------------------------------------------------


def test_plan_keeps_min_healthy_and_blocks_single_points() -> None:
    result = plan(INV, scope(INV, servers=list(INV.servers)))
    assert result.as_json() == {
        "batches": [["web-01"], ["web-02"], ["web-03"]],
        "blocked": [{"server": "lb-01", "client": "acme", "why": "acme depends on it (depends_on): a single point"},
                    {"server": "web-04", "client": "hooli", "why": "the only server of hooli"}],
        "lower_bound": 3,
    }
    assert scope(INV, service="store") == ["web-01", "web-02", "web-03"]
    assert scope(INV, client="globex") == ["web-03", "web-04"]
    with pytest.raises(ValueError, match="no client has service"):
        scope(INV, service="nothing")


def test_plan_packs_independent_clients_into_few_batches() -> None:
    servers = {f"s{i}": {"address": f"10.2.0.{i}"} for i in range(12)}
    clients = {f"c{k}": {"servers": [f"s{3 * k + j}" for j in range(3)], "services": ["shop"]} for k in range(4)}
    inv = load_inventory_data({"services": BASE["services"], "servers": servers, "clients": clients})
    result = plan(inv, list(servers))
    assert len(result.batches) == result.lower_bound == 2 and not result.blocked


# -- properties over random inventories ------------------------------------------------------------


@st.composite
def inventories(draw: st.DrawFn) -> tuple[Inventory, list[str]]:
    n = draw(st.integers(1, 10))
    names = [f"s{i}" for i in range(n)]
    clients: dict[str, Any] = {}
    for k in range(draw(st.integers(0, 8))):
        mine = draw(st.lists(st.sampled_from(names), min_size=0, max_size=n, unique=True))
        client: dict[str, Any] = {"servers": mine, "services": []}
        for svc in draw(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3, unique=True)):
            mh = draw(st.none() | st.integers(1, max(1, len(mine))))
            client["services"].append({svc: {"min_healthy": mh}} if mh and mine else svc)
        whole: int | None = draw(st.none() | st.integers(1, max(1, len(mine))))
        if mine and whole:
            client["min_healthy"] = whole
        client["depends_on"] = draw(st.lists(st.sampled_from(names), max_size=1, unique=True))
        clients[f"c{k}"] = client
    inv = load_inventory_data({"services": {s: {"url": "http://{address}/"} for s in "abc"},
                               "servers": {s: {"address": f"10.3.0.{i}"} for i, s in enumerate(names)},
                               "clients": clients})
    return inv, draw(st.lists(st.sampled_from(names), max_size=n, unique=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inventories(), st.sampled_from([10**9, 0]))
def test_every_plan_is_safe_complete_and_honest(case: tuple[Inventory, list[str]], budget: int) -> None:
    inv, servers = case
    result = plan(inv, servers, dsatur_budget=budget)  # 0: first fit instead of DSatur
    placed = [s for b in result.batches for s in b]
    blocked = {b.server for b in result.blocked}
    assert sorted(placed + sorted(blocked)) == sorted(servers)  # each once, placed or blocked, never both
    assert all(result.batches)
    for batch in result.batches:
        assert not impact(inv, batch).critical  # min_healthy (and depends_on) hold in every batch
        for c in inv.clients:
            allowed = allowed_down(inv, c)
            if allowed is not None:
                assert len(set(batch) & set(inv.clients[c].servers)) <= allowed
    for b in result.blocked:
        alone = {c.client: c for c in impact(inv, [b.server]).clients}
        assert alone[b.client].severity == "critical", b  # blocked only when it alone is an outage
    assert len(result.batches) >= result.lower_bound
    if result.batches:
        assert result.lower_bound >= 1
