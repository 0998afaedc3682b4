"""`responder integrations zabbix` against a real Zabbix 6.0 (Debian's packages, private PostgreSQL): with an
API token it creates the media type, user group, user and action; a second run updates them and
duplicates nothing; then a real trigger's problem, update and recovery reach Responder through them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from responder.store import Store
from tests.conftest import run_responder_async
from tests.daemons import zabbix
from tests.daemons.common import TOKEN, LiveReceiver, wait_until

pytestmark = pytest.mark.slow
HOST, ITEM = "web-01", "responder.probe"


def sent(store: Store, value: str, update: str = "0") -> list[dict[str, Any]]:
    """What the installed action delivered about our host: it covers every trigger, and the stock
    "Zabbix server" host may raise problems of its own on a busy machine (a CI run had two)."""
    bodies = [json.loads(d["body"]) for d in store.deliveries()]
    return [b for b in bodies if b.get("event_value") == value and b.get("event_update_status") == update
            and b.get("host_host") == HOST]


async def api_token(api: zabbix.Api) -> str:
    """What an admin does in Users > API tokens: a token for Admin (user id 1)."""
    [tokenid] = (await api.call("token.create", {"name": "responder-install", "userid": "1"}))["tokenids"]
    [generated] = await api.call("token.generate", [tokenid])
    return str(generated["token"])


async def count(api: zabbix.Api, method: str, **filters: Any) -> int:
    return len(await api.call(method, {"output": "extend", "filter": filters}))


async def test_install_twice_then_a_trigger_reaches_responder(live_receiver: LiveReceiver, store: Store,
                                                              tmp_path: Path) -> None:
    lacking = zabbix.missing()
    if lacking:
        pytest.skip(f"needs {', '.join(lacking)} (Debian packages, see scripts/system-deps.sh)")
    config = tmp_path / "responder.yaml"
    config.write_text(f"public_url: {live_receiver.url}\nauth: {{tokens: [{TOKEN}]}}\n"
                      "inventory: {servers: {web-01: {address: 127.0.0.11}}, clients: {}}\n")
    with zabbix.running(tmp_path / "zabbix", [], {}) as stack:
        async with aiohttp.ClientSession() as session:
            api = zabbix.Api(session, stack.api_url)
            await wait_until(api.ready, "the frontend's API answers", stack.log_text)
            await api.login()
            token = await api_token(api)
            group = (await api.call("hostgroup.create", {"name": "Web"}))["groupids"][0]
            hostid = (await api.call("host.create", {"host": HOST, "groups": [{"groupid": group}]}))["hostids"][0]
            await api.call("item.create", {"name": "Probe", "key_": ITEM, "hostid": hostid, "type": 2,
                                           "value_type": 3})

            args = ("integrations", "zabbix", "--api", stack.api_url, "--config", str(config))
            code, out, err = await run_responder_async(*args, env={"ZABBIX_API_TOKEN": token})
            assert code == 0, err
            assert [line.split(":")[1].split(",")[0].strip() for line in out.splitlines()] == ["created"] * 4, out
            assert f"posting to {live_receiver.url}/hooks/zabbix" in out
            assert token not in out + err and TOKEN not in out + err

            code, out, err = await run_responder_async(*args, "--sendto", "noc-responder",
                                                       env={"ZABBIX_API_TOKEN": token})
            assert code == 0, err
            assert [line.split(":")[1].split(",")[0].strip() for line in out.splitlines()] == ["updated"] * 4, out
            assert await count(api, "mediatype.get", name="Responder (webhook)") == 1
            assert await count(api, "usergroup.get", name="Responder") == 1
            assert await count(api, "action.get", name="Responder") == 1
            [user] = await api.call("user.get", {"output": ["userid"], "selectMedias": "extend",
                                                 "filter": {"username": "responder"}})
            assert [m["sendto"] for m in user["medias"]] == ["noc-responder"]
            [media] = await api.call("mediatype.get", {"output": "extend", "filter": {"name": "Responder (webhook)"}})
            params = {p["name"]: p["value"] for p in media["parameters"]}
            assert params["responder_url"] == f"{live_receiver.url}/hooks/zabbix" and params["responder_token"] == TOKEN

            # the trigger after the install: a configuration sync that knows it then knows the final
            # action and media too (an event raised before the server's cache had them gets no message)
            await api.call("trigger.create", {"description": "Shop down on {HOST.NAME}", "priority": 4,
                                              "expression": f"last(/{HOST}/{ITEM})=0"})
            async with api.explained(HOST):
                await stack.send_until(HOST, ITEM, "0", lambda: sent(store, "1"), "the problem reaches Responder")
            problems = await api.call("problem.get", {"output": "extend", "hostids": [hostid]})
            assert len(problems) == 1, problems  # one trigger, single problem event generation
            [event] = problems
            await api.call("event.acknowledge", {"eventids": [event["eventid"]], "action": 6, "message": "on it"})
            await wait_until(lambda: sent(store, "1", update="1"), "the update reaches Responder", stack.log_text)
            async with api.explained(HOST):
                await stack.send_until(HOST, ITEM, "1", lambda: sent(store, "0"), "the recovery reaches Responder")
    [problem] = sent(store, "1")
    assert problem["alert_sendto"] == "noc-responder" and problem["host_host"] == HOST
    # the installed action covers every trigger: the stock "Zabbix server" host may raise its own
    [incident] = [i for i in store.list_incidents() if any(a.host == HOST for a in i.alerts)]
    assert [a.status for a in incident.alerts] == ["resolved"] and incident.alerts[0].server == HOST
