"""min_healthy end to end: `responder check` probes real HTTP servers on loopback, and the inventory's
min_healthy decides between degraded and critical for clients sharing the same servers."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_responder_async
from tests.support.fleet import Fleet
from tests.support.scenario import write_config


async def test_min_healthy_from_the_inventory_in_live_probes(fleet: Fleet, tmp_path: Path) -> None:
    await fleet.serve("n1", "store", "ok")
    await fleet.serve("n2", "store", "503")
    await fleet.serve("n3", "store", "refuse")
    await fleet.serve("n4", "store", "ok")
    servers = ["n1", "n2", "n3", "n4"]
    inventory = {
        "services": {"store": {"url": f"http://{{address}}:{fleet.port('store')}/store.html", "min_healthy": 2}},
        "servers": {s: {"address": fleet.address(s)} for s in servers},
        "clients": {
            "strict": {"servers": servers, "services": [{"store": {"min_healthy": 3}}]},  # 2 of 4 pass: critical
            "catalogue": {"servers": servers, "services": ["store"]},  # needs the catalogue's 2: degraded
            "lenient": {"servers": servers, "services": ["store"], "min_healthy": 1},  # the client's 1: degraded
        },
    }
    path = write_config(tmp_path, inventory)
    code, out, err = await run_responder_async("check", "--service", "store", "--json", "--config", str(path))
    assert code == 1, err  # one client is critical
    by = {c["client"]: c for c in json.loads(out)["clients"]}
    strict = by["strict"]["services"][0]
    assert (strict["severity"], strict["servers_passing"], strict["min_healthy"]) == ("critical", 2, 3)
    assert "store: 2 of 4 servers pass, needs 3" in by["strict"]["summary"]
    assert [(by[c]["severity"], by[c]["services"][0]["min_healthy"]) for c in ("catalogue", "lenient")] == [
        ("degraded", 2), ("degraded", 1)]
    requested = {server for server, _host, _path in fleet.requests}
    assert requested == {"n1", "n2", "n4"}  # n3 refuses: nothing listens there


async def test_a_partial_check_is_critical_only_when_certain(fleet: Fleet, tmp_path: Path) -> None:
    await fleet.serve("m1", "store", "503")
    await fleet.serve("m2", "store", "ok")
    await fleet.serve("m3", "store", "ok")
    servers = ["m1", "m2", "m3"]
    inventory = {
        "services": {"store": {"url": f"http://{{address}}:{fleet.port('store')}/"}},
        "servers": {s: {"address": fleet.address(s)} for s in servers},
        "clients": {"two": {"servers": servers, "services": [{"store": {"min_healthy": 2}}]},
                    "three": {"servers": servers, "services": ["store"], "min_healthy": 3}},
    }
    path = write_config(tmp_path, inventory)
    code, out, err = await run_responder_async("check", "--server", "m1", "--json", "--config", str(path))
    by = {c["client"]: c for c in json.loads(out)["clients"]}
    # m1 fails; m2 and m3 are not checked. They may pass, which is enough for min_healthy 2 but not 3.
    assert code == 1, err
    assert (by["two"]["severity"], by["three"]["severity"]) == ("degraded", "critical")
    assert by["two"]["services"][0]["not_checked"] == ["m2", "m3"]
    code, out, err = await run_responder_async("check", "--client", "two", "--json", "--config", str(path))
    assert code == 0 and json.loads(out)["clients"][0]["services"][0]["servers_passing"] == 2, err
