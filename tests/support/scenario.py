"""The shared-server scenario most end-to-end tests use, and a config writer.

    acme     s1 s2      shop   503 on s1, refused on s2          -> critical
    globex   s2 s3 s4   store  never answers on s3 (1 of 3)      -> degraded
    initech  s4 s5      portal fine everywhere                   -> ok
    hooli    s5         portal no alerting server                -> not assessed
Alerting hosts: s1, s3, s4 (given as `s1:9100`, an alias and an address).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.support.fleet import Fleet


async def shared_fleet(fleet: Fleet) -> dict[str, Any]:
    await fleet.serve("s1", "shop", "503")
    await fleet.serve("s2", "shop", "refuse")
    await fleet.serve("s2", "store", "ok")
    await fleet.serve("s3", "store", "hang")
    await fleet.serve("s4", "store", "ok")
    await fleet.serve("s4", "portal", "ok")
    await fleet.serve("s5", "portal", "ok")
    return {
        "services": {
            "shop": {"url": f"http://{{address}}:{fleet.port('shop')}/health"},
            "store": {"url": f"http://{{address}}:{fleet.port('store')}/store.html"},
            "portal": {"url": f"http://portal.example.test:{fleet.port('portal')}/"},
        },
        "servers": {
            "s1": {"address": fleet.address("s1")},
            "s2": {"address": fleet.address("s2")},
            "s3": {"address": fleet.address("s3"), "aliases": ["s3.dc1.example.net"]},
            "s4": {"address": fleet.address("s4")},
            "s5": {"address": fleet.address("s5")},
        },
        "clients": {
            "acme": {"servers": ["s1", "s2"], "services": ["shop"], "contacts": {"email": ["noc@acme.test"]}},
            "globex": {"servers": ["s2", "s3", "s4"], "services": ["store"]},
            "initech": {"servers": ["s4", "s5"], "services": ["portal"]},
            "hooli": {"servers": ["s5"], "services": ["portal"]},
        },
    }


def storm(fleet: Fleet, hosts: tuple[str, ...] | None = None, status: str = "firing") -> bytes:
    """An Alertmanager webhook with one alert per host (default: s1:9100, s3's alias, s4's address)."""
    hosts = hosts or ("s1:9100", "s3.dc1.example.net", f"{fleet.address('s4')}:9100")
    alerts = [{
        "status": status, "labels": {"alertname": "InstanceDown", "instance": h, "severity": "critical"},
        "annotations": {"summary": f"{h} down"}, "startsAt": "2025-11-18T09:14:12.538Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2025-11-18T09:40:00Z",
        "generatorURL": "http://prometheus/graph", "fingerprint": f"{abs(hash(h)) % (1 << 60):016x}",
    } for h in hosts]
    return json.dumps({"receiver": "responder", "status": status, "alerts": alerts, "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
                       "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0}).encode()


def write_config(directory: Path, inventory: dict[str, Any], **settings: Any) -> Path:
    """responder.yaml with the inventory inline; fast defaults for tests."""
    data: dict[str, Any] = {
        "listen": "127.0.0.1:8080",
        "state_dir": str(directory / "var"),
        "inventory": inventory,
        "auth": {"tokens": ["test-token"]},
        "incidents": {"group_wait": "0s", "threshold": 10, "cooldown": "30m"},
        # a deadline far beyond any test: a loaded machine must never turn slow shards into "not checked"
        "probe": {"timeout": "1s", "retries": 0, "concurrency": 50, "deadline": "10m"},
    }
    data.update(settings)
    path = directory / "responder.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
