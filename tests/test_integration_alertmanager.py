"""samples/integrations/alertmanager/alertmanager.yml in a real Alertmanager (Debian's package) on loopback:
an alert posted to Alertmanager's API reaches Responder with the bearer token and opens the right incident;
the lifecycle with a real worker: still failing after the resolve, recovered by the re-check, closed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from responder.store import Store
from tests.conftest import ROOT
from tests.daemons import alertmanager
from tests.daemons.common import TOKEN, LiveReceiver, require, stop_process, tail, wait_until
from tests.support.fleet import Fleet
from tests.support.scenario import write_config
from tests.support.smtp import Collector

pytestmark = pytest.mark.slow
SAMPLE = ROOT / "samples" / "integrations" / "alertmanager" / "alertmanager.yml"


@pytest.fixture
def receiver(live_receiver: LiveReceiver) -> LiveReceiver:
    return live_receiver


def pasted(receiver: LiveReceiver, directory: Path) -> Path:
    """The sample as a user fills it in: the receiver's URL, the token file; quicker group timings."""
    config = yaml.safe_load(SAMPLE.read_text())
    token = directory / "responder.token"
    token.write_text(TOKEN + "\n")
    hook = config["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "http://responder.example.com:8080/hooks/alertmanager"
    hook["url"] = f"{receiver.url}/hooks/alertmanager"
    hook["http_config"]["authorization"]["credentials_file"] = str(token)
    config["route"].update(group_wait="1s", group_interval="1s")
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def alert(instance: str, ends: datetime | None = None) -> dict[str, object]:
    now = datetime.now(UTC)
    body: dict[str, object] = {
        "labels": {"alertname": "InstanceDown", "instance": instance, "job": "node", "severity": "critical"},
        "annotations": {"summary": f"{instance} is down"},
        "startsAt": now.replace(second=0, microsecond=0).isoformat(),
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


async def until_ready(session: aiohttp.ClientSession, am: Any) -> None:
    async def ready() -> bool:
        try:
            async with session.get(f"{am.url}/-/ready") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    await wait_until(ready, "Alertmanager ready", lambda: tail(am.log))


async def test_the_sample_delivers_firing_and_resolved(receiver: LiveReceiver, store: Store, tmp_path: Path) -> None:
    require(alertmanager.BINARY)
    with alertmanager.running(pasted(receiver, tmp_path), tmp_path) as am:
        async with aiohttp.ClientSession() as session:
            await until_ready(session, am)
            firing = [alert("web-01:9100"), alert("web-02:9100")]
            async with session.post(f"{am.url}/api/v2/alerts", json=firing) as resp:
                assert resp.status == 200, await resp.text()

            def opened() -> bool:
                found = store.list_incidents()
                return bool(found) and len(found[0].alerts) == 2

            await wait_until(opened, "an incident with both alerts", lambda: tail(am.log))
            [incident] = store.list_incidents()
            assert {a.server for a in incident.alerts} == {"web-01", "web-02"}
            assert sorted(incident.affected) == ["acme", "globex"]
            assert {(a.source, a.status) for a in incident.alerts} == {("alertmanager", "firing")}

            resolved = [alert("web-01:9100", ends=datetime.now(UTC)), alert("web-02:9100", ends=datetime.now(UTC))]
            async with session.post(f"{am.url}/api/v2/alerts", json=resolved) as resp:
                assert resp.status == 200

            def closed() -> bool:
                found = store.get_incident(incident.id)
                return found is not None and all(a.status == "resolved" for a in found.alerts)

            await wait_until(closed, "both alerts resolved on the same incident", lambda: tail(am.log))
    assert store.count_incidents() == 1


async def test_a_wrong_token_is_refused_and_nothing_stored(receiver: LiveReceiver, store: Store,
                                                           tmp_path: Path) -> None:
    require(alertmanager.BINARY)
    path = pasted(receiver, tmp_path)
    (tmp_path / "responder.token").write_text("not-the-token\n")
    with alertmanager.running(path, tmp_path) as am:
        async with aiohttp.ClientSession() as session:
            await until_ready(session, am)
            async with session.post(f"{am.url}/api/v2/alerts", json=[alert("web-01:9100")]) as resp:
                assert resp.status == 200
            await wait_until(lambda: "401" in tail(am.log), "Alertmanager logs the 401", lambda: tail(am.log))
    assert store.count_incidents() == 0


async def test_resolved_while_failing_then_the_recheck_finds_the_recovery(
        store: Store, smtp: Collector, fleet: Fleet, redis_url: str, tmp_path: Path) -> None:
    """Alertmanager resolves while the sites still fail: "still failing" goes out. The sites come back
    with no alert at all: the periodic re-check finds it, "recovered" goes out once and the incident
    closes; a later alert opens a new incident."""
    require(alertmanager.BINARY)
    await fleet.serve("web-01", "shop", "503")
    await fleet.serve("web-02", "shop", "refuse")
    inventory = {
        "services": {"shop": {"url": f"http://{{address}}:{fleet.port('shop')}/"}},
        "servers": {s: {"address": fleet.address(s)} for s in ("web-01", "web-02")},
        "clients": {"acme": {"servers": ["web-01", "web-02"], "services": ["shop"],
                             "contacts": {"email": ["noc@acme.test"]}}},
    }
    settings: dict[str, Any] = {
        "email": {"host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]},  # type: ignore[attr-defined]
        "incidents": {"group_wait": "0s", "cooldown": "30m", "recheck": "1s", "repeat": "4h"},
        "probe": {"timeout": "1s", "retries": 0},
    }
    (tmp_path / "worker").mkdir()
    config = write_config(tmp_path / "worker", inventory, auth={"tokens": [TOKEN]}, **settings)
    receiver = LiveReceiver(store, tmp_path, inventory=inventory, settings=settings)
    await receiver.start()
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "responder", "worker", "--config", str(config)], cwd=ROOT,
                                  env={**os.environ, "RESPONDER_REDIS_URL": redis_url}, stdout=out,
                                  stderr=subprocess.STDOUT)

    def why(address: str) -> list[str]:
        return [str(m["Subject"]).rsplit(" · ", 1)[-1] for m in smtp.messages if m["To"] == address]

    def told(reason: str) -> bool:
        return all(reason in why(a) for a in ("noc@test", "noc@acme.test"))

    try:
        with alertmanager.running(pasted(receiver, tmp_path), tmp_path) as am:
            logs = lambda: tail(am.log) + tail(log)  # noqa: E731
            async with aiohttp.ClientSession() as session:
                await until_ready(session, am)
                firing = [alert("web-01:9100"), alert("web-02:9100")]
                async with session.post(f"{am.url}/api/v2/alerts", json=firing) as resp:
                    assert resp.status == 200
                await wait_until(lambda: told("first verdict"), "the first verdict mailed", logs)
                now = datetime.now(UTC)
                resolved = [alert("web-01:9100", ends=now), alert("web-02:9100", ends=now)]
                async with session.post(f"{am.url}/api/v2/alerts", json=resolved) as resp:
                    assert resp.status == 200
                await wait_until(lambda: told("alerts resolved, but still failing"), "still failing mailed", logs)
                [incident] = store.list_incidents()
                assert incident.all_resolved and incident.severity == "critical" and incident.status == "assessed"

                await fleet.restart("web-01", "shop", "ok")  # the sites come back; nobody sends an alert
                await fleet.restart("web-02", "shop", "ok")

                def closed() -> bool:
                    found = store.get_incident(incident.id)
                    return found is not None and found.status == "resolved" and told("recovered")

                await wait_until(closed, "the re-check closes the incident and mails its recovery", logs)
                final = store.get_incident(incident.id)
                assert final is not None and not final.pending and not final.running  # no further re-check
                for address in ("noc@test", "noc@acme.test"):
                    assert why(address) == ["first verdict", "alerts resolved, but still failing", "recovered"]
                assert final.headline == "recovered: every check passes"

                later = {**alert("web-01:9100"), "startsAt": datetime.now(UTC).isoformat()}
                async with session.post(f"{am.url}/api/v2/alerts", json=[later]) as resp:
                    assert resp.status == 200
                await wait_until(lambda: store.count_incidents() == 2, "a later alert opens a new incident", logs)
                assert len(store.get_incident(incident.id).alerts) == 2  # type: ignore[union-attr]
    finally:
        stop_process(worker)
        await receiver.stop()
