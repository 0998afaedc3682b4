"""Installs Responder in a Zabbix (6.0 and later) through its JSON-RPC API: the media type, a user group
and a user with that media, and an action that sends problems, recoveries and updates to it.

Idempotent: every object is found by name first and updated when it exists, so a second run changes
what drifted and duplicates nothing. What it did is returned as one line per object.

- The media type is the sample's (files/, equal to samples/integrations/zabbix/), imported with
  `configuration.import` (create missing, update existing), the receiver's URL and token filled in
  for the webhook type. The script type runs the `responder-notify` wrapper, which has to be put in the
  server's AlertScriptsPath by hand (the API cannot write files).
- Zabbix sends a message only to a user who may read the host, so the user's group reads every host
  group that exists now (run again after adding host groups) and has no frontend access; the user's
  password is random and never shown (nobody logs in as it).
- API tokens: Zabbix before 6.4 takes them as `auth` in the request body, 6.4 and later as
  `Authorization: Bearer`.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import yaml

from responder.errors import ResponderError
from responder.integrations import packaged

MEDIA_FILES = {"webhook": "media_responder_webhook.yaml", "script": "media_responder_script.yaml"}
GROUP = "Responder"
ACTION = "Responder"
USER_ROLE = "1"  # the stock "User role"
READ = 2
NO_FRONTEND = 3  # gui_access: disabled


class ZabbixError(ResponderError):
    """The API refused a call or could not be reached: one readable line."""


class Api:
    """Zabbix's JSON-RPC API with an API token (or a session id from user.login)."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.version = tuple(int(p) for p in str(self.call("apiinfo.version", {}, auth=False)).split(".")[:2])

    def call(self, method: str, params: Any, auth: bool = True) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        headers = {"Content-Type": "application/json-rpc"}
        if auth and self.version >= (6, 4):
            headers["Authorization"] = f"Bearer {self.token}"
        elif auth:
            body["auth"] = self.token
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                data = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise ZabbixError(f"the Zabbix API at {self.url} answered HTTP {exc.code} to {method}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ZabbixError(f"cannot reach the Zabbix API at {self.url}: {reason}") from None
        except ValueError:
            raise ZabbixError(f"{self.url} did not answer {method} with JSON: is it .../api_jsonrpc.php?") from None
        if not isinstance(data, dict):
            raise ZabbixError(f"{self.url} answered {method} with something other than a JSON-RPC answer")
        if "error" in data:
            err = data["error"] if isinstance(data["error"], dict) else {"message": str(data["error"])}
            detail = " ".join(str(err.get(k, "")) for k in ("message", "data")).strip()
            raise ZabbixError(f"Zabbix API {method}: {detail}")
        return data.get("result")


@dataclass(frozen=True)
class Plan:
    """What to install: which media type, where it posts, and the user's send-to."""

    media: str  # webhook or script
    hook_url: str  # .../hooks/zabbix
    token: str | None
    sendto: str = "responder"
    username: str = "responder"


def media_source(plan: Plan) -> tuple[str, str]:
    """(media type name, the YAML to import), with the receiver's URL and token in the webhook's parameters."""
    doc = yaml.safe_load(packaged(MEDIA_FILES[plan.media]))
    [media] = doc["zabbix_export"]["media_types"]
    for p in media.get("parameters", []):
        if isinstance(p, dict) and p.get("name") == "responder_url":
            p["value"] = plan.hook_url
        elif isinstance(p, dict) and p.get("name") == "responder_token":
            p["value"] = plan.token or ""
    return str(media["name"]), yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _one(api: Api, method: str, output: list[str], **filters: Any) -> dict[str, Any] | None:
    found = api.call(method, {"output": output, "filter": filters})
    return found[0] if found else None


def install(api: Api, plan: Plan) -> list[str]:
    """Create or update the media type, the user group, the user and the action; one line each."""
    done: list[str] = []
    name, source = media_source(plan)
    before = _one(api, "mediatype.get", ["mediatypeid"], name=name)
    rules = {"mediaTypes": {"createMissing": True, "updateExisting": True}}
    api.call("configuration.import", {"format": "yaml", "rules": rules, "source": source})
    media = _one(api, "mediatype.get", ["mediatypeid", "status"], name=name)
    if media is None:
        raise ZabbixError(f"the media type {name!r} was imported but cannot be found")
    if media.get("status") not in (0, "0"):
        api.call("mediatype.update", {"mediatypeid": media["mediatypeid"], "status": 0})
    media_id = media["mediatypeid"]
    where = f"posting to {plan.hook_url}" if plan.media == "webhook" else \
        "running responder-notify from the server's AlertScriptsPath"
    done.append(f"media type {name!r} (id {media_id}): {'updated' if before else 'created'}, {where}")

    groups = [{"permission": READ, "id": g["groupid"]} for g in api.call("hostgroup.get", {"output": ["groupid"]})]
    rights_key = "hostgroup_rights" if api.version >= (6, 2) else "rights"
    group = _one(api, "usergroup.get", ["usrgrpid"], name=GROUP)
    fields = {"gui_access": NO_FRONTEND, rights_key: groups}
    if group is None:
        group_id = api.call("usergroup.create", {"name": GROUP, **fields})["usrgrpids"][0]
    else:
        group_id = group["usrgrpid"]
        api.call("usergroup.update", {"usrgrpid": group_id, **fields})
    done.append(f"user group {GROUP!r} (id {group_id}): {'updated' if group else 'created'}, reads "
                f"{len(groups)} host groups, no frontend access")

    always = {"mediatypeid": media_id, "sendto": plan.sendto, "active": 0, "severity": 63,
              "period": "1-7,00:00-24:00"}
    user = _one(api, "user.get", ["userid"], username=plan.username)
    if user is None:
        user_id = api.call("user.create", {
            "username": plan.username, "name": "Responder", "roleid": USER_ROLE,
            "passwd": secrets.token_urlsafe(24) + "-Zq7", "usrgrps": [{"usrgrpid": group_id}],
            "medias": [always]})["userids"][0]
    else:
        user_id = user["userid"]
        api.call("user.update", {"userid": user_id, "usrgrps": [{"usrgrpid": group_id}], "medias": [always]})
    done.append(f"user {plan.username!r} (id {user_id}): {'updated' if user else 'created'}, "
                f"media {name!r} sending to {plan.sendto!r}")

    ops = [{"operationtype": 0, "opmessage": {"default_msg": 1, "mediatypeid": media_id},
            "opmessage_usr": [{"userid": user_id}]}]
    body = {"status": 0, "esc_period": "1h", "filter": {"evaltype": 0, "conditions": []},
            "operations": ops, "recovery_operations": ops, "update_operations": ops}
    action = _one(api, "action.get", ["actionid"], name=ACTION, eventsource=0)
    if action is None:
        action_id = api.call("action.create", {"name": ACTION, "eventsource": 0, **body})["actionids"][0]
    else:
        action_id = action["actionid"]
        api.call("action.update", {"actionid": action_id, **body})
    done.append(f"action {ACTION!r} (id {action_id}): {'updated' if action else 'created'}, every trigger's "
                f"problems, recoveries and updates to {plan.username!r}")
    return done
