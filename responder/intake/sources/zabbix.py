"""Zabbix (6.0 and 7.0) alerts: the JSON our webhook media type posts, and the script media type's argv.

A script media type in Zabbix 6.0 expands only {ALERT.SENDTO}, {ALERT.SUBJECT} and {ALERT.MESSAGE} in
its parameters, so the message carries the other macros as `MACRO: value` lines (the template in
samples/integrations/zabbix/). A message in Zabbix's stock wording still works, with less detail.

A macro Zabbix cannot resolve where it is used stays literal (`{EVENT.RECOVERY.ID}` in a problem, every
macro under the media type's Test button) and an unknown host address is `*UNKNOWN*`: both count as absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AliasChoices, AliasGenerator, BaseModel, BeforeValidator, ConfigDict

from responder.errors import PayloadError
from responder.intake.sources import Batch, decode_json, is_spooled, validated
from responder.model.alert import Alert, Event, digest, utcnow

LABEL_LIMIT = 8192
_MACRO = re.compile(r"^\{[^{}\s]+\}$")
UNKNOWN = "*UNKNOWN*"


def absent(value: str | None) -> bool:
    """Empty, a macro left as it was written, or Zabbix's *UNKNOWN*."""
    text = (value or "").strip()
    return not text or text == UNKNOWN or bool(_MACRO.match(text))


def _text(value: Any) -> str | None:
    """Webhook parameters are strings; a hand-made payload may use numbers. Absent macros become None."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "1" if value else "0"
    elif isinstance(value, int | float):
        text = str(int(value)) if float(value).is_integer() else str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError("expected a string")
    return None if absent(text) else text.strip()


Text = Annotated[str | None, BeforeValidator(_text)]


# the CamelCase names older glue posts some parameters under
LEGACY_NAMES: dict[str, str] = {
    "alert_sendto": "SendTo",
    "alert_subject": "Subject",
    "alert_message": "Message",
    "event_id": "EventID",
    "event_value": "EventValue",
    "event_update_status": "EventUpdateStatus",
    "event_status": "EventStatus",
    "event_name": "EventName",
    "event_severity": "EventSeverity",
    "event_date": "EventDate",
    "event_time": "EventTime",
    "event_tags": "EventTags",
    "event_recovery_date": "RecoveryDate",
    "event_recovery_time": "RecoveryTime",
    "host_host": "Host",
    "host_name": "HostName",
    "host_ip": "HostIP",
    "trigger_name": "TriggerName",
    "trigger_status": "TriggerStatus",
    "item_name": "ItemName",
    "item_value": "ItemValue",
}


def _names(field: str) -> str | AliasChoices:
    """The names a parameter is read under: its own, then its CamelCase one where it has one."""
    legacy = LEGACY_NAMES.get(field)
    return AliasChoices(field, legacy) if legacy else field


class Params(BaseModel):
    """The webhook media type's parameters (all strings); CamelCase names of older glue are understood."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True,
                              alias_generator=AliasGenerator(validation_alias=_names))

    alert_sendto: Text = None
    alert_subject: Text = None
    alert_message: Text = None
    event_id: Text = None
    event_source: Text = None
    event_value: Text = None
    event_update_status: Text = None
    event_status: Text = None
    event_name: Text = None
    event_severity: Text = None
    event_nseverity: Text = None
    event_date: Text = None
    event_time: Text = None
    event_duration: Text = None
    event_ack_status: Text = None
    event_opdata: Text = None
    event_tags_json: Text = None
    event_tags: Text = None
    event_recovery_id: Text = None
    event_recovery_date: Text = None
    event_recovery_time: Text = None
    event_update_action: Text = None
    event_update_message: Text = None
    event_update_user: Text = None
    event_update_nseverity: Text = None
    event_update_date: Text = None
    event_update_time: Text = None
    host_id: Text = None
    host_host: Text = None
    host_name: Text = None
    host_ip: Text = None
    host_conn: Text = None
    host_dns: Text = None
    host_port: Text = None
    trigger_id: Text = None
    trigger_name: Text = None
    trigger_status: Text = None
    trigger_description: Text = None
    trigger_hostgroup: Text = None
    item_name: Text = None
    item_value: Text = None
    zabbix_url: Text = None


# -- the script media type ------------------------------------------------------------------------------

# `MACRO: value` lines of our message template -> the webhook parameter each one fills
TEMPLATE_KEYS: dict[str, str] = {
    "EVENT.ID": "event_id",
    "EVENT.VALUE": "event_value",
    "EVENT.UPDATE.STATUS": "event_update_status",
    "EVENT.SOURCE": "event_source",
    "EVENT.STATUS": "event_status",
    "EVENT.NAME": "event_name",
    "EVENT.SEVERITY": "event_severity",
    "EVENT.NSEVERITY": "event_nseverity",
    "EVENT.DATE": "event_date",
    "EVENT.TIME": "event_time",
    "EVENT.DURATION": "event_duration",
    "EVENT.ACK.STATUS": "event_ack_status",
    "EVENT.TAGSJSON": "event_tags_json",
    "EVENT.RECOVERY.ID": "event_recovery_id",
    "EVENT.RECOVERY.DATE": "event_recovery_date",
    "EVENT.RECOVERY.TIME": "event_recovery_time",
    "EVENT.UPDATE.ACTION": "event_update_action",
    "EVENT.UPDATE.DATE": "event_update_date",
    "EVENT.UPDATE.TIME": "event_update_time",
    "EVENT.UPDATE.NSEVERITY": "event_update_nseverity",
    "USER.FULLNAME": "event_update_user",
    "HOST.ID": "host_id",
    "HOST.HOST": "host_host",
    "HOST.NAME": "host_name",
    "HOST.IP": "host_ip",
    "HOST.CONN": "host_conn",
    "HOST.DNS": "host_dns",
    "HOST.PORT": "host_port",
    "TRIGGER.ID": "trigger_id",
    "TRIGGER.NAME": "trigger_name",
    "TRIGGER.STATUS": "trigger_status",
    "TRIGGER.HOSTGROUP.NAME": "trigger_hostgroup",
    "ZABBIX.URL": "zabbix_url",
    # free text, possibly over several lines: the template puts these last
    "EVENT.OPDATA": "event_opdata",
    "TRIGGER.DESCRIPTION": "trigger_description",
    "EVENT.UPDATE.MESSAGE": "event_update_message",
}
_KEY_LINE = re.compile(r"^([A-Z][A-Z0-9_.]*):[ \t]?(.*)$")
# script parameters after the three ALERT macros, when Zabbix expands them (7.0 does)
EXTRA_PARAMS = ("event_id", "event_value", "event_update_status")


def read_template(message: str) -> dict[str, str]:
    """The `MACRO: value` lines of a message. Lines that do not start a new key continue the one before,
    and the first occurrence of a key wins, so text inside a comment cannot re-point an alert."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in message.splitlines():
        match = _KEY_LINE.match(line)
        field = TEMPLATE_KEYS.get(match.group(1)) if match else None
        if match and field and field not in fields:
            fields[field] = match.group(2)
            current = field
        elif current is not None:
            fields[current] += "\n" + line
    return {k: v.strip() for k, v in fields.items()}


# Zabbix's stock message templates, for a script media type set up before this one
_STOCK = {
    "event_id": re.compile(r"^Original problem ID:[ \t]*(\d+)[ \t]*$", re.M),
    "host_name": re.compile(r"^Host:[ \t]*(.+?)[ \t]*$", re.M),
    "event_name": re.compile(r"^Problem name:[ \t]*(.+?)[ \t]*$", re.M),
    "event_severity": re.compile(r"^Severity:[ \t]*(.+?)[ \t]*$", re.M),
    "event_opdata": re.compile(r"^Operational data:[ \t]*(.+?)[ \t]*$", re.M),
}


def read_stock(subject: str, message: str) -> dict[str, str]:
    """Best effort on Zabbix's default problem / recovery / update wording."""
    fields = {k: m.group(1) for k, rx in _STOCK.items() if (m := rx.search(message))}
    head = subject.strip().lower()
    if head.startswith("resolved") or message.lstrip().lower().startswith("problem has been resolved"):
        fields.update(event_value="0", event_update_status="0")
    elif head.startswith("updated problem"):
        fields.update(event_value="1", event_update_status="1", event_update_message=message.strip())
    elif head.startswith("problem"):
        fields.update(event_value="1", event_update_status="0")
    return fields


def fields_from_script(sendto: str, subject: str, message: str, extra: Sequence[str] = ()) -> dict[str, str]:
    """The webhook parameters a script media type's argv carries."""
    fields = read_template(message)
    if "event_id" not in fields:
        fields = read_stock(subject, message) | {k: v for k, v in fields.items() if not absent(v)}
    for name, value in zip(EXTRA_PARAMS, extra, strict=False):
        if absent(fields.get(name)) and not absent(value):
            fields[name] = value
    return {"alert_sendto": sendto, "alert_subject": subject, "alert_message": message, **fields}


def from_script(sendto: str, subject: str, message: str, extra: Sequence[str] = ()) -> Batch:
    """An alert from a script media type: {ALERT.SENDTO} {ALERT.SUBJECT} {ALERT.MESSAGE} [more]."""
    return parse_data(fields_from_script(sendto, subject, message, extra))


def _argv_of(items: list[Any]) -> list[str]:
    if not all(isinstance(i, str) for i in items):
        raise PayloadError("an argv list holds strings only", field="argv")
    args = list(items)
    if len(args) >= 4 and args[0].startswith(("/", "./")):
        args = args[1:]  # the script's own path
    if len(args) < 3:
        raise PayloadError("expected {ALERT.SENDTO} {ALERT.SUBJECT} {ALERT.MESSAGE}", field="argv")
    return args


def parse(body: bytes) -> Batch:
    """The webhook's JSON object (or a list of them), a script's argv list, or an argv capture."""
    data = decode_json(body)
    if is_spooled(data, "zabbix"):
        return parse(data["body"].encode("utf-8"))
    if isinstance(data, dict) and isinstance(data.get("argv"), list):
        args = _argv_of(data["argv"])
        return from_script(args[0], args[1], args[2], args[3:])
    if isinstance(data, dict):
        return parse_data(data)
    if isinstance(data, list) and data and all(isinstance(i, str) for i in data):
        args = _argv_of(data)
        return from_script(args[0], args[1], args[2], args[3:])
    if isinstance(data, list) and data and all(isinstance(i, dict) for i in data):
        alerts = []
        warnings = []
        for i, item in enumerate(data):
            try:
                batch = parse_data(item)
            except PayloadError as exc:
                raise PayloadError(exc.message, field=f"[{i}].{exc.field}" if exc.field else f"[{i}]") from None
            alerts += batch.alerts
            warnings += batch.warnings
        return Batch("zabbix", alerts, warnings=warnings)
    raise PayloadError("expected a JSON object with the media type's parameters (event_id, event_value, ...)")


# -- one event -> one Alert --------------------------------------------------------------------------------


def _cap(text: str, limit: int = LABEL_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _flag(value: str | None, field: str, what: str, default: str | None = None) -> str:
    if value is None:
        if default is not None:
            return default
        raise PayloadError(f"missing: {what} (the macro was not expanded; Zabbix's Test button sends "
                           "macros as they are written)", field=field)
    if value not in ("0", "1"):
        raise PayloadError(f"expected 0 or 1 ({what}), got {_cap(value, 40)!r}", field=field)
    return value


def _tags(p: Params) -> str:
    if p.event_tags_json:
        try:
            items = json.loads(p.event_tags_json)
        except (ValueError, RecursionError):  # not JSON, or an integer over the int-string limit
            return p.event_tags_json
        if isinstance(items, list):
            pairs = [f"{i.get('tag', '')}:{i.get('value', '')}".rstrip(":") for i in items if isinstance(i, dict)]
            return ", ".join(pairs)
    return p.event_tags or ""


def parse_data(data: dict[str, Any]) -> Batch:
    """One delivery's parameters as a Batch of one Alert."""
    if not isinstance(data, dict):
        raise PayloadError("expected a JSON object with the media type's parameters")
    p = validated(Params, data)
    if p.event_id is None:
        raise PayloadError("missing: the event id ({EVENT.ID}; the macro was not expanded, or the message "
                           "lacks the template's EVENT.ID line)", field="event_id")
    if not p.event_id.isdigit() or len(p.event_id) > 20:
        raise PayloadError(f"expected the number Zabbix puts in {{EVENT.ID}}, got {_cap(p.event_id, 40)!r}",
                           field="event_id")
    value = _flag(p.event_value, "event_value", "{EVENT.VALUE}: 1 problem, 0 recovery")
    update = _flag(p.event_update_status, "event_update_status", "{EVENT.UPDATE.STATUS}: 1 an update", "0")
    host = p.host_host or p.host_name or p.host_ip or p.host_conn or p.host_dns
    if host is None:
        raise PayloadError("missing: the host ({HOST.HOST}, {HOST.NAME} or {HOST.IP})", field="host_host")
    event: Event = "update" if update == "1" else ("problem" if value == "1" else "recovery")
    status = "firing" if value == "1" else "resolved"
    identity = f"zabbix:{p.event_id}"
    key = f"zabbix:{p.event_id}:{value}:{update}"
    if update == "1":
        # each update of a problem (acknowledge, comment, severity) is its own delivery
        key += ":" + digest(p.event_update_date, p.event_update_time, p.event_update_action,
                            p.event_update_message, p.event_update_user, p.event_update_nseverity,
                            p.alert_message if p.event_update_action is None else "")
    name = p.event_name or p.trigger_name or p.alert_subject or "(no trigger name)"
    detail = p.event_opdata or (p.trigger_description or "").split("\n")[0]
    summary = " · ".join(t for t in (p.event_severity, detail) if t)
    labels = {k: _cap(v) for k, v in {
        "event_id": p.event_id,
        "event_status": p.event_status or "",
        "severity": p.event_severity or "",
        "nseverity": p.event_nseverity or "",
        "host_host": p.host_host or "",
        "host_name": p.host_name or "",
        "address": p.host_ip or p.host_conn or "",
        "dns": p.host_dns or "",
        "trigger_id": p.trigger_id or "",
        "trigger_status": p.trigger_status or "",
        "opdata": p.event_opdata or "",
        "description": p.trigger_description or "",
        "tags": _tags(p),
        "hostgroups": p.trigger_hostgroup or "",
        "recovery_id": p.event_recovery_id or "",
        "event_date": " ".join(t for t in (p.event_date, p.event_time) if t),
        "recovery_date": " ".join(t for t in (p.event_recovery_date, p.event_recovery_time) if t),
        "update_action": p.event_update_action or "",
        "update_message": p.event_update_message or "",
        "author": p.event_update_user or "",
        "sendto": p.alert_sendto or "",
        "item": p.item_name or "",
        "item_value": p.item_value or "",
        "zabbix_url": p.zabbix_url or "",
    }.items() if v}
    alert = Alert(
        source="zabbix",
        key=key,
        identity=identity,
        host=_cap(host, 500),
        status=status,
        event=event,
        name=_cap(name, 300),
        summary=_cap(summary, 500),
        labels=labels,
        author=_cap(p.event_update_user, 200) if update == "1" and p.event_update_user else None,
        comment=_cap(p.event_update_message, 1000) if update == "1" and p.event_update_message else None,
        starts_at=_when(p.event_date, p.event_time),
        ends_at=_when(p.event_recovery_date, p.event_recovery_time) if status == "resolved" else None,
        received_at=utcnow(),
    )
    return Batch("zabbix", [alert])


def _when(date: str | None, time: str | None) -> datetime | None:
    """{EVENT.DATE} {EVENT.TIME} ("2025.11.18" "09:14:12") as a time: Zabbix writes them in its server's
    time zone, taken here as UTC (run the Zabbix server in UTC, or read the times as its local ones)."""
    if absent(date) or absent(time):
        return None
    try:
        return datetime.strptime(f"{date} {time}".strip(), "%Y.%m.%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
