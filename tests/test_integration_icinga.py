"""samples/integrations/icinga2/responder.conf, included unchanged in a real Icinga 2 (Debian's package):
its NotificationCommands run `responder notify icinga`, which posts to Responder or spools."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from responder.forward.spool import Spool
from responder.store import Store
from tests.conftest import ROOT, run_responder_async
from tests.daemons import icinga
from tests.daemons.common import LiveReceiver, require, wait_until

pytestmark = pytest.mark.slow
SAMPLE = ROOT / "samples" / "integrations" / "icinga2" / "responder.conf"
RESPONDER_BIN = Path(sys.executable).parent / "responder"


def objects(config: Path) -> str:
    """Two hosts and a service; where the sample's command finds responder and its config (host vars
    override the command's defaults, as a user would set them)."""
    return f"""
template Host "test-host" {{
  check_command = "state-file"
  vars.state_name = "$host.name$"
  max_check_attempts = 1
  check_interval = 1s
  retry_interval = 1s
  vars.responder_bin = "{RESPONDER_BIN}"
  vars.responder_config = "{config}"
}}
object Host "web-01" {{
  import "test-host"
  address = "127.0.0.11"
}}
object Host "db-01" {{
  import "test-host"
  address = "127.0.0.21"
}}
object Host "lab-99" {{
  import "test-host"
  address = "127.0.0.99"
  vars.responder = false
}}
object Service "postgres" {{
  host_name = "db-01"
  check_command = "state-file"
  vars.state_name = "$host.name$__$service.name$"
  max_check_attempts = 1
  check_interval = 1s
  retry_interval = 1s
}}
"""


@pytest.fixture
async def receiver(store: Store, tmp_path: Path) -> AsyncIterator[LiveReceiver]:
    r = LiveReceiver(store, tmp_path)
    yield r
    await r.stop()


def alerts_by_identity(store: Store) -> dict[str, str]:
    return {a.identity: a.status for i in store.list_incidents(50) for a in i.alerts}


async def test_the_sample_notifies_problems_and_recoveries(receiver: LiveReceiver, store: Store,
                                                           tmp_path: Path) -> None:
    require(icinga.BINARY, str(RESPONDER_BIN))
    await receiver.start()
    config = receiver.notify_config(tmp_path / "notify")
    d = tmp_path / "icinga"
    conf = icinga.write_config(d, SAMPLE, objects(config))
    for name, state in (("web-01", 2), ("db-01", 0), ("db-01__postgres", 2), ("lab-99", 2)):
        (d / "state").mkdir(parents=True, exist_ok=True)
        (d / "state" / name).write_text(f"{state}\n")
    with icinga.running(d, conf) as daemon:
        want = {"icinga:web-01": "firing", "icinga:db-01!postgres": "firing"}
        await wait_until(lambda: alerts_by_identity(store) == want, f"alerts {want}", daemon.log_text)
        [incident] = store.list_incidents()
        assert {a.server for a in incident.alerts} == {"web-01", "db-01"}
        assert incident.affected == ["acme"]
        service = next(a for a in incident.alerts if a.identity == "icinga:db-01!postgres")
        assert service.labels["output"].startswith("state 2 from") and service.labels["state"] == "CRITICAL"

        daemon.set_state("db-01__postgres", 0)
        daemon.set_state("web-01", 0)
        want = {"icinga:web-01": "resolved", "icinga:db-01!postgres": "resolved"}
        await wait_until(lambda: alerts_by_identity(store) == want, f"alerts {want}", daemon.log_text)
        assert store.count_incidents() == 1

        def finished() -> list[str]:
            log = daemon.log_text().splitlines()
            runs = [line for line in log if "'notify' 'icinga'" in line and "terminated with exit code" in line]
            return runs if len(runs) == 4 else []

        runs = await wait_until(finished, "four notify runs logged as finished", daemon.log_text)
    assert all(line.endswith("terminated with exit code 0") for line in runs), runs
    assert "lab-99" not in str(alerts_by_identity(store))  # vars.responder = false leaves a host out
    assert Spool(tmp_path / "notify" / "var" / "spool").pending() == []


async def test_receiver_away_spools_and_flush_delivers(receiver: LiveReceiver, store: Store, tmp_path: Path) -> None:
    """Icinga does not retry a notification: with the receiver down the command spools and exits 0."""
    require(icinga.BINARY, str(RESPONDER_BIN))
    config = receiver.notify_config(tmp_path / "notify")
    spool = Spool(tmp_path / "notify" / "var" / "spool")
    d = tmp_path / "icinga"
    conf = icinga.write_config(d, SAMPLE, objects(config))
    (d / "state" / "web-01").write_text("2\n")
    with icinga.running(d, conf) as daemon:
        await wait_until(lambda: len(spool.pending()) >= 1, "a spooled notification", daemon.log_text)
        await wait_until(lambda: "'notify' 'icinga'" in daemon.log_text() and
                         "terminated with exit code 0" in daemon.log_text(), "notify exits 0", daemon.log_text)
    assert store.count_incidents() == 0
    await receiver.start()
    code, _, err = await run_responder_async("spool", "flush", "--config", str(config))
    assert code == 0, err
    assert spool.pending() == []
    [incident] = store.list_incidents()
    assert [(a.identity, a.status) for a in incident.alerts] == [("icinga:web-01", "firing")]
