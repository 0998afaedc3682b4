"""samples/integrations/alertmanager/alertmanager.yml in a real Alertmanager (Debian's package) on loopback:
an alert posted to Alertmanager's API reaches Responder with the bearer token and opens the right incident."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from responder.store import Store
from tests.conftest import ROOT
from tests.daemons import alertmanager
from tests.daemons.common import TOKEN, LiveReceiver, require, tail, wait_until

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
