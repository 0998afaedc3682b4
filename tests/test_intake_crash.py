"""SIGKILL a real `responder serve` (its embedded Redis and workers too, as a crashed machine would)
in the middle of a storm; start it again: every alert it acknowledged is in an incident, and every
incident is assessed. Nothing holds a lock that outlives the crash."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import aiohttp

from tests.support.fleet import Fleet, free_port
from tests.support.scenario import write_config
from tests.test_serve import AUTH, children, serve_pid, serving

SERVERS = 12


def delivery(n: int) -> bytes:
    alerts = [{"status": "firing", "startsAt": "2025-11-18T09:00:00Z", "fingerprint": f"{n:06d}{i:02d}",
               "labels": {"alertname": "Down", "instance": f"s{(n + i) % SERVERS}:9100", "n": str(n)}}
              for i in range(3)]
    return json.dumps({"version": "4", "status": "firing", "alerts": alerts}).encode()


def crash(pid: int) -> None:
    """SIGKILL serve and everything it started, children first, nothing else on the machine."""
    victims = [pid, *children(pid)]
    victims += [g for c in victims[1:] for g in children(c)]
    for p in reversed(victims):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


async def test_a_serve_killed_mid_storm_loses_no_acknowledged_alert(fleet: Fleet, tmp_path: Path) -> None:
    for s in range(SERVERS):
        await fleet.serve(f"s{s}", "web", "ok")
    inventory = {
        "services": {"web": {"url": f"http://{{address}}:{fleet.port('web')}/"}},
        "servers": {f"s{s}": {"address": fleet.address(f"s{s}")} for s in range(SERVERS)},
        "clients": {f"c{c}": {"servers": [f"s{c}", f"s{(c + 1) % SERVERS}"], "services": ["web"]}
                    for c in range(SERVERS)},
    }
    path = write_config(tmp_path, inventory, listen=f"127.0.0.1:{free_port()}")
    acknowledged: dict[str, list[str]] = {}  # fingerprint -> the incidents its delivery's 202 named
    async with serving(path, workers=1) as base, aiohttp.ClientSession() as session:
        pid = serve_pid[0]

        async def sender(k: int) -> None:
            for n in range(k, 10_000, 8):
                try:
                    async with session.post(f"{base}/hooks/alertmanager", data=delivery(n), headers=AUTH) as r:
                        if r.status != 202:
                            continue
                        answer = await r.json()
                except (TimeoutError, aiohttp.ClientError):
                    return
                for i in range(3):
                    acknowledged[f"{n:06d}{i:02d}"] = answer["incidents"]

        senders = [asyncio.create_task(sender(k)) for k in range(8)]
        while len(acknowledged) < 600:
            await asyncio.sleep(0.01)
        crash(pid)
        await asyncio.gather(*senders)
    assert len(acknowledged) >= 600

    async with serving(path, workers=1) as base, aiohttp.ClientSession() as session:
        incidents = sorted({i for ids in acknowledged.values() for i in ids})
        pending = set(incidents)
        for _ in range(1800):
            for iid in sorted(pending):
                async with session.get(f"{base}/api/incidents/{iid}") as r:
                    data = await r.json()
                if data.get("assessed_at") and data["status"] != "open" and \
                        data["assessed_at"] >= max(a["received_at"] for a in data["alerts"]):
                    pending.discard(iid)
            if not pending:
                break
            await asyncio.sleep(0.1)
        assert not pending, f"never assessed after the crash: {sorted(pending)}"
        held: dict[str, list[str]] = {}
        for iid in incidents:
            async with session.get(f"{base}/api/incidents/{iid}") as r:
                for a in (await r.json())["alerts"]:
                    held.setdefault(a["labels"]["n"] + a["host"], []).append(iid)
    for fingerprint, ids in acknowledged.items():
        n, i = int(fingerprint[:6]), int(fingerprint[6:])
        [where] = held[f"{n}s{(n + i) % SERVERS}:9100"]  # stored, and in one incident only
        assert where in ids, fingerprint
