"""Both Zabbix media types of samples/integrations/zabbix/, imported through the real frontend's API into a
real Zabbix 6.0 server (Debian's packages, private PostgreSQL), driven by a real trigger:

problem -> the webhook and the script media type both deliver, Responder keeps one alert;
update (an acknowledgement by another user) -> recorded on the incident; recovery -> the alert resolves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from responder.forward.spool import Spool
from responder.store import Store
from tests.conftest import ROOT
from tests.daemons import zabbix
from tests.daemons.common import TOKEN, LiveReceiver, wait_until

pytestmark = pytest.mark.slow
SAMPLES = ROOT / "samples" / "integrations" / "zabbix"
RESPONDER_BIN = Path(sys.executable).parent / "responder"
HOST, ITEM = "web-01", "responder.probe"


@pytest.fixture
def receiver(live_receiver: LiveReceiver) -> LiveReceiver:
    return live_receiver


def deliveries(store: Store) -> list[dict[str, Any]]:
    out = []
    for record in store.deliveries():
        record["json"] = json.loads(record["body"])
        out.append(record)
    return out


def delivered(store: Store, value: str, update: str = "0") -> set[str]:
    """Which media (by the user media's send-to) delivered this kind of event."""
    return {d["json"].get("alert_sendto", "") for d in deliveries(store)
            if d["json"].get("event_value") == value and d["json"].get("event_update_status") == update}


async def configure(api: zabbix.Api, receiver: LiveReceiver) -> None:
    """What a user does: import both media types (with the URL and token filled in), then a host, a
    user for Responder with both media, an action with all three kinds of operations, and a trigger."""
    webhook = (SAMPLES / "media_responder_webhook.yaml").read_text()
    assert "https://responder.example.com/hooks/zabbix" in webhook and "<RESPONDER TOKEN>" in webhook
    webhook = webhook.replace("https://responder.example.com/hooks/zabbix", f"{receiver.url}/hooks/zabbix") \
        .replace("<RESPONDER TOKEN>", TOKEN)
    rules = {"mediaTypes": {"createMissing": True, "updateExisting": True}}
    for source in (webhook, (SAMPLES / "media_responder_script.yaml").read_text()):
        assert await api.call("configuration.import", {"format": "yaml", "rules": rules, "source": source}) is True
    media = await api.call("mediatype.get", {"output": ["mediatypeid", "name"],
                                             "filter": {"name": ["Responder (webhook)", "Responder (script)"]}})
    ids = {m["name"]: m["mediatypeid"] for m in media}
    assert len(ids) == 2

    group = (await api.call("hostgroup.create", {"name": "Responder test"}))["groupids"][0]
    hostid = (await api.call("host.create", {"host": HOST, "groups": [{"groupid": group}]}))["hostids"][0]
    await api.call("item.create", {"name": "Probe", "key_": ITEM, "hostid": hostid, "type": 2, "value_type": 3})
    usrgrp = (await api.call("usergroup.create", {"name": "Responder", "rights": [
        {"permission": 2, "id": group}]}))["usrgrpids"][0]
    always = {"active": 0, "severity": 63, "period": "1-7,00:00-24:00"}
    userid = (await api.call("user.create", {
        "username": "responder", "passwd": "Mk7#qv92-LpWz", "roleid": "1", "usrgrps": [{"usrgrpid": usrgrp}],
        "medias": [{"mediatypeid": ids["Responder (webhook)"], "sendto": "responder-webhook", **always},
                   {"mediatypeid": ids["Responder (script)"], "sendto": "responder-script", **always}],
    }))["userids"][0]
    ops = [{"operationtype": 0, "opmessage": {"default_msg": 1, "mediatypeid": mid},
            "opmessage_usr": [{"userid": userid}]} for mid in ids.values()]
    # only our host (condition type 1): the stock "Zabbix server" host may raise problems of its own
    await api.call("action.create", {"name": "Responder", "eventsource": 0, "status": 0, "esc_period": "1h",
                                     "filter": {"evaltype": 0, "conditions": [
                                         {"conditiontype": 1, "operator": 0, "value": hostid}]},
                                     "operations": ops, "recovery_operations": ops, "update_operations": ops})
    # the trigger last: a configuration sync that knows it then knows the action too (an event raised
    # while the server's cache had the trigger but not yet the action is never escalated: no message)
    await api.call("trigger.create", {"description": "Shop down on {HOST.NAME}", "priority": 4,
                                      "expression": f"last(/{HOST}/{ITEM})=0"})


async def test_both_media_types_in_a_real_zabbix(receiver: LiveReceiver, store: Store, tmp_path: Path) -> None:
    lacking = zabbix.missing()
    if lacking or not RESPONDER_BIN.exists():
        pytest.skip(f"needs {', '.join(lacking) or RESPONDER_BIN} (Debian packages, see scripts/system-deps.sh)")
    notify_config = receiver.notify_config(tmp_path / "notify")
    env = {"RESPONDER_BIN": str(RESPONDER_BIN), "RESPONDER_CONFIG": str(notify_config)}
    with zabbix.running(tmp_path / "zabbix", [SAMPLES / "responder-notify"], env) as stack:
        async with aiohttp.ClientSession() as session:
            api = zabbix.Api(session, stack.api_url)
            await wait_until(api.ready, "the frontend's API answers", stack.log_text)
            await api.login()
            await configure(api, receiver)

            both = {"responder-webhook", "responder-script"}
            def watching(check: Any) -> Any:
                def run() -> Any:
                    stack.assert_running()
                    return check()
                return run

            async with api.explained(HOST):
                await stack.send_until(HOST, ITEM, "0", lambda: delivered(store, "1") == both,
                                       "problem delivered by both media types")
            [incident] = store.list_incidents()
            [alert] = incident.alerts  # two deliveries of one event: one alert
            assert (alert.source, alert.server, alert.status, alert.event) == ("zabbix", HOST, "firing", "problem")
            assert alert.name == "Shop down on web-01" and alert.labels["severity"] == "High"
            assert incident.affected == ["acme"]

            # only our host's problem: the stock "Zabbix server" host may raise its own after a while
            hosts = await api.call("host.get", {"output": ["hostid"], "filter": {"host": [HOST]}})
            [event] = await api.call("problem.get", {"output": ["eventid"], "hostids": [hosts[0]["hostid"]]})
            await api.call("event.acknowledge", {"eventids": [event["eventid"]], "action": 6,
                                                 "message": "looking into it"})
            async with api.explained(HOST):
                await wait_until(watching(lambda: delivered(store, "1", update="1") == both),
                                 "the update delivered by both", stack.log_text)
            noted = store.get_incident(incident.id)
            assert noted is not None and len(noted.alerts) == 1
            assert any("update" in n and HOST in n for n in noted.notes), noted.notes

            async with api.explained(HOST):
                await stack.send_until(HOST, ITEM, "1", lambda: delivered(store, "0") == both,
                                       "recovery delivered by both")
            final = store.get_incident(incident.id)
            assert final is not None and [a.status for a in final.alerts] == ["resolved"]

            async def zabbix_says_sent() -> list[Any]:  # its alert syncer writes the outcome a little later
                alerts: list[Any] = await api.call("alert.get", {"output": ["status", "error", "sendto", "subject"]})
                return alerts if len(alerts) >= 6 and {a["status"] for a in alerts} == {"1"} else []

            alerts = await wait_until(zabbix_says_sent, "Zabbix records six sent alerts", stack.log_text)
    assert store.count_incidents() == 1
    for sendto in ("responder-webhook", "responder-script"):
        kinds = {a["subject"].split()[0].rstrip(":") for a in alerts if a["sendto"] == sendto}
        assert kinds == {"Problem", "Updated", "Resolved"}, alerts
    assert Spool(tmp_path / "notify" / "var" / "spool").pending() == []
