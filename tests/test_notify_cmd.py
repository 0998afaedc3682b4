"""`responder notify icinga|zabbix` and `responder spool` as real processes against the real receiver.

The receiver is the real app (make_app) on a loopback port with a real Redis; "down" means nothing
listens on the port, "5xx" is a real server that answers 503.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from responder.forward.spool import Spool
from responder.intake.sources import alertmanager, icinga
from responder.store import Store
from tests.conftest import PAYLOADS, ROOT, run_responder_async
from tests.daemons.common import LiveReceiver
from tests.support.fleet import free_port

INVENTORY = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"web-01": {"address": "10.0.1.21", "aliases": ["web-01.example.com"]},
                "db-01": {"address": "10.0.2.11"}},
    "clients": {"acme": {"servers": ["web-01"], "services": ["shop"], "depends_on": ["db-01"]}},
}
HOST_DOWN = json.loads((PAYLOADS / "icinga-host-down.argv.json").read_text())[1:]
SERVICE_CRITICAL = json.loads((PAYLOADS / "icinga-service-critical.argv.json").read_text())[1:]


def Receiver(store: Store, tmp_path: Path, answer: int | None = None) -> LiveReceiver:
    """The real app (or, with `answer`, a server answering that status) on a loopback port."""
    return LiveReceiver(store, tmp_path, inventory=INVENTORY, token="test-token", answer=answer)


@pytest.fixture
async def receiver(store: Store, tmp_path: Path) -> AsyncIterator[LiveReceiver]:
    r = Receiver(store, tmp_path)
    yield r
    await r.stop()


def notify_config(tmp_path: Path, url: str, token: str = "test-token") -> Path:
    """The small responder.yaml a monitoring host carries: the receiver and a spool, no inventory."""
    path = tmp_path / "notify.yaml"
    path.write_text(f"state_dir: {tmp_path / 'var'}\nreceiver: {{url: '{url}', token: '{token}', timeout: 5s}}\n")
    return path


async def notify(kind: str, config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    if kind == "zabbix":
        return await run_responder_async("notify", "zabbix", "--config", str(config), "--", *args, env=env)
    return await run_responder_async("notify", "icinga", *args, env={"RESPONDER_CONFIG": str(config), **(env or {})})


def spool_of(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "var" / "spool")


def every_alert(store: Store) -> list[Any]:
    return [a for i in store.list_incidents(100) for a in i.alerts]


async def test_icinga_stock_flags_make_an_incident(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    await receiver.start()
    code, out, err = await notify("icinga", notify_config(tmp_path, receiver.url), *HOST_DOWN)
    assert code == 0, err
    assert "sent to" in out and err == ""
    [incident] = store.list_incidents()
    [alert] = incident.alerts
    assert (alert.source, alert.server, alert.status) == ("icinga", "web-01", "firing")
    assert incident.affected == ["acme"]
    key = icinga.parse((PAYLOADS / "icinga-host-down.argv.json").read_bytes()).alerts[0].key
    assert store.known_alert_keys([key]) == {key: [incident.id]}
    assert spool_of(tmp_path).pending() == []


async def test_redelivery_makes_no_second_alert(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    await receiver.start()
    config = notify_config(tmp_path, receiver.url)
    for _ in range(2):
        code, _, err = await notify("icinga", config, *SERVICE_CRITICAL)
        assert code == 0, err
    [incident] = store.list_incidents()
    assert len(incident.alerts) == 1 and incident.generation == 1


async def test_env_style_command(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    await receiver.start()
    env = icinga.parse_env_dump((PAYLOADS / "icinga-service-critical.env").read_text())
    code, _, err = await notify("icinga", notify_config(tmp_path, receiver.url), env=env)
    assert code == 0, err
    [alert] = every_alert(store)
    assert (alert.server, alert.labels["service"]) == ("db-01", "disk /var")


async def test_receiver_down_spools_then_flush_sends_oldest_first(receiver: Receiver, store: Store,
                                                                  tmp_path: Path) -> None:
    config = notify_config(tmp_path, receiver.url)
    for argv in (HOST_DOWN, SERVICE_CRITICAL):
        code, out, err = await notify("icinga", config, *argv)
        assert code == 0, err  # Icinga sees success: the alert is safe on disk
        assert "spooled in" in err and "cannot reach" in err
    spool = spool_of(tmp_path)
    assert len(spool.pending()) == 2 and store.count_incidents() == 0
    await receiver.start()
    code, out, err = await run_responder_async("spool", "flush", "--config", str(config))
    assert code == 0, err
    assert "sent 2, refused 0, left 0" in out
    [incident] = store.list_incidents()
    assert [a.server for a in incident.alerts] == ["web-01", "db-01"]  # in the order they happened
    assert spool.pending() == []


async def test_the_next_notify_sends_the_spool_first(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    config = notify_config(tmp_path, receiver.url)
    code, _, err = await notify("icinga", config, *HOST_DOWN)
    assert code == 0 and "spooled" in err
    await receiver.start()
    code, _, err = await notify("icinga", config, *SERVICE_CRITICAL)
    assert code == 0, err
    [incident] = store.list_incidents()
    assert [a.server for a in incident.alerts] == ["web-01", "db-01"]
    assert spool_of(tmp_path).pending() == []


async def test_a_5xx_spools(store: Store, tmp_path: Path) -> None:
    busy = Receiver(store, tmp_path, answer=503)
    await busy.start()
    try:
        code, _, err = await notify("icinga", notify_config(tmp_path, busy.url), *HOST_DOWN)
    finally:
        await busy.stop()
    assert code == 0 and "answered 503: busy" in err
    [name] = spool_of(tmp_path).pending()
    assert spool_of(tmp_path).read(name).last_error.endswith("answered 503: busy")  # type: ignore[union-attr]


async def test_a_4xx_is_reported_and_kept(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    await receiver.start()
    code, _, err = await notify("icinga", notify_config(tmp_path, receiver.url, token="wrong"), *HOST_DOWN)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "answered 401: missing or bad bearer token" in err
    spool = spool_of(tmp_path)
    [kept] = spool.rejected()
    assert spool.read(kept, rejected=True).status == 401 and spool.pending() == []
    # after fixing the token, the refused alert can be sent
    code, out, err = await run_responder_async("spool", "flush", "--rejected", "--config",
                                               str(notify_config(tmp_path, receiver.url)))
    assert code == 0, err
    assert "1 refused alert(s) queued again" in out and store.count_incidents() == 1


async def test_bad_input_is_kept_and_named(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    await receiver.start()
    config = notify_config(tmp_path, receiver.url)
    cases = [
        (("-l", "web-01"), "notification_type: missing"),
        (("-t", "PROBLEM", "-Q", "x"), "option -Q not recognized"),
        (("-t", "NONSENSE", "-l", "x"), "unknown notification type 'NONSENSE'"),
    ]
    for args, text in cases:
        code, _, err = await notify("icinga", config, *args)
        assert code == 2 and text in err and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    assert len(spool_of(tmp_path).rejected()) == 3 and store.count_incidents() == 0
    code, _, err = await notify("zabbix", config, "only-one")
    assert code == 2 and "expected SENDTO SUBJECT MESSAGE" in err


async def test_alert_text_stays_text(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    """Shell syntax and option look-alikes in alert text reach the store as they are and do nothing."""
    await receiver.start()
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}) `touch {marker}` ; touch {marker}"
    args = ["-t", "PROBLEM", "-l", "web-01", "-s", "DOWN", "-d", "2025-11-18 09:14:31 +0000",
            "-o", evil, "-c", "--config=/nonexistent.yaml", "-b", "--help"]
    code, _, err = await notify("icinga", notify_config(tmp_path, receiver.url), *args)
    assert code == 0, err
    [alert] = every_alert(store)
    assert alert.labels["output"] == evil and alert.labels["comment"] == "--config=/nonexistent.yaml"
    assert alert.labels["author"] == "--help"
    assert not marker.exists()


async def test_non_utf8_plugin_output_is_kept(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    await receiver.start()
    import asyncio
    import sys

    config = notify_config(tmp_path, receiver.url)
    argv = [b"-t", b"PROBLEM", b"-l", b"web-01", b"-d", b"2025-11-18 09:14:31 +0000", b"-o", b"Temp\xb0C caf\xe9"]
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "responder", "notify", "icinga", *argv,
                                                env={**os.environ, "RESPONDER_CONFIG": str(config)}, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err
    [alert] = every_alert(store)
    assert alert.labels["output"] == "Temp\ufffdC caf\ufffd"


async def test_zabbix_script_with_the_template(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    await receiver.start()
    template = (ROOT / "samples/integrations/zabbix/message-template.txt").read_text()
    message = template.replace("{EVENT.ID}", "501").replace("{EVENT.VALUE}", "1") \
        .replace("{EVENT.UPDATE.STATUS}", "0").replace("{HOST.HOST}", "web-01").replace("{EVENT.NAME}", "Nginx down")
    config = notify_config(tmp_path, receiver.url)
    code, _, err = await notify("zabbix", config, "responder", "Problem: Nginx down", message)
    assert code == 0, err
    [alert] = every_alert(store)
    assert (alert.source, alert.key, alert.server, alert.name) == ("zabbix", "zabbix:501:1:0", "web-01", "Nginx down")
    # a message starting with '-' cannot be mistaken for an option after `--`
    code, _, err = await notify("zabbix", config, "-responder", "--help", message.replace("501", "502"))
    assert code == 0, err
    assert len(every_alert(store)) == 2


async def test_three_sources_on_one_server_join_one_incident(receiver: Receiver, store: Store,
                                                             tmp_path: Path) -> None:
    """web-01 alerted by Icinga (notify), Zabbix (notify) and Alertmanager (hook) at once: one incident."""
    await receiver.start()
    config = notify_config(tmp_path, receiver.url)
    code, _, err = await notify("icinga", config, *HOST_DOWN)
    assert code == 0, err
    message = "EVENT.ID: 900\nEVENT.VALUE: 1\nEVENT.UPDATE.STATUS: 0\nHOST.HOST: web-01\nHOST.IP: 10.0.1.21\n"
    code, _, err = await notify("zabbix", config, "responder", "Problem: down", message)
    assert code == 0, err
    import aiohttp

    body = (PAYLOADS / "alertmanager-firing-single.json").read_bytes()
    assert alertmanager.parse(body).alerts[0].host.startswith("web-01")
    async with aiohttp.ClientSession() as session:
        resp = await session.post(f"{receiver.url}/hooks/alertmanager", data=body,
                                  headers={"Authorization": "Bearer test-token", "Content-Type": "application/json"})
        assert resp.status == 202
    [incident] = store.list_incidents()
    assert sorted(a.source for a in incident.alerts) == ["alertmanager", "icinga", "zabbix"]
    assert {a.server for a in incident.alerts} == {"web-01"} and incident.affected == ["acme"]
    assert incident.generation == 1  # one assessment for all three


async def test_acknowledgement_is_a_note_not_an_assessment(receiver: Receiver, store: Store,
                                                           tmp_path: Path) -> None:
    await receiver.start()
    config = notify_config(tmp_path, receiver.url)
    assert (await notify("icinga", config, *SERVICE_CRITICAL))[0] == 0
    ack = SERVICE_CRITICAL[:]
    ack[ack.index("-t") + 1] = "ACKNOWLEDGEMENT"
    ack[ack.index("-b") + 1] = "jdoe"
    ack[ack.index("-c") + 1] = "looking"
    ack[ack.index("-d") + 1] = "2025-11-18 10:09:40 +0000"
    code, _, err = await notify("icinga", config, *ack)
    assert code == 0, err
    [incident] = store.list_incidents()
    assert len(incident.alerts) == 1 and incident.generation == 1
    assert any("acknowledgement" in n and "db-01" in n for n in incident.notes)


@pytest.mark.parametrize(("name", "source"), [
    ("icinga-host-down.env", "icinga"), ("icinga-service-critical.argv.json", "icinga"),
    ("icinga-host-down.json", "icinga"), ("zabbix-alertscript-problem.argv.json", "zabbix"),
    ("zabbix-problem.json", "zabbix"), ("captured/zabbix/script/1795460744.845418.json", "zabbix"),
    ("captured/icinga2/script/1795460912.456045-PROBLEM-db-01-postgres.json", "icinga"),
])
async def test_replay_detects_every_shape(tmp_path: Path, name: str, source: str) -> None:
    config = tmp_path / "responder.yaml"
    config.write_text(json.dumps({"state_dir": str(tmp_path / "var"), "inventory": {
        "servers": {"web-01": {"address": "127.0.0.1"}, "db-01": {"address": "127.0.0.2"}},
        "clients": {"acme": {"servers": ["web-01", "db-01"],
                             "services": [{"shop": {"url": f"http://{{address}}:{free_port()}/"}}]}}},
        "probe": {"timeout": "1s", "retries": 0}}))
    code, out, err = await run_responder_async("replay", str(PAYLOADS / name), "--json", "--config", str(config))
    assert code in (0, 1), err
    verdict = json.loads(out)
    assert verdict["alerts"] and {a["source"] for a in verdict["alerts"]} == {source}
    code, out, err = await run_responder_async("replay", str(PAYLOADS / name), "--json", "--source",
                                               "alertmanager", "--config", str(config))
    assert code == 2 and err.startswith("responder: ")


async def test_concurrent_notify_runs_each_deliver_once(receiver: Receiver, store: Store, tmp_path: Path) -> None:
    import asyncio

    await receiver.start()
    config = notify_config(tmp_path, receiver.url)
    runs = [notify("icinga", config, "-t", "PROBLEM", "-l", f"host-{i}", "-s", "DOWN",
                   "-d", "2025-11-18 09:14:31 +0000") for i in range(6)]
    results = await asyncio.gather(*runs)
    assert all(code == 0 for code, _, _ in results), results
    assert sorted(a.host for a in every_alert(store)) == [f"host-{i}" for i in range(6)]
    assert spool_of(tmp_path).pending() == []


async def test_an_unwritable_spool_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "notify.yaml"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    config.write_text(f"state_dir: {blocker}\nreceiver: {{url: 'http://127.0.0.1:{free_port()}', token: t}}\n")
    code, _, err = await notify("icinga", config, *HOST_DOWN)
    assert code == 2 and "cannot use the spool" in err and len(err.strip().splitlines()) == 1, err
