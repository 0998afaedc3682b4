"""Icinga 2 notifications, in every shape a NotificationCommand can hand them over.

- the flat JSON object `responder notify icinga` posts (one key per macro, see docs/sources.md);
- the stock `mail-host-notification.sh` / `mail-service-notification.sh` flags, so an existing
  NotificationCommand only needs its script path swapped (`from_argv`);
- the environment variables of the env-style commands (`NOTIFICATIONTYPE`, `HOSTNAME`, ...);
- for `replay`: `.env` dumps (`KEY="value"`), argv JSON lists, and `{"argv": [...], "env": {...}}` captures.

Icinga runs a notification command once and never retries it, so this module is lenient about what
is missing and strict only about what it cannot do without: the notification type and a host.
"""

from __future__ import annotations

import getopt
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from responder.errors import PayloadError
from responder.intake.sources import Batch, decode_json, is_spooled, validated
from responder.model.alert import Alert, Event, digest, utcnow

# $notification.type$ (compat spelling and the newer CamelCase one) -> our event
TYPES: dict[str, Event] = {
    "PROBLEM": "problem", "RECOVERY": "recovery", "ACKNOWLEDGEMENT": "acknowledgement", "CUSTOM": "custom",
    "FLAPPINGSTART": "flapping", "FLAPPINGEND": "flapping", "DOWNTIMESTART": "downtime",
    "DOWNTIMEEND": "downtime", "DOWNTIMECANCELLED": "downtime", "DOWNTIMEREMOVED": "downtime",
}
OK_STATES = frozenset({"UP", "OK"})
LABEL_LIMIT = 8192  # plugin output may be 117 KB; the raw delivery keeps all of it
LONG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # $icinga.long_date_time$


def _text(value: Any) -> str | None:
    """Macros arrive as strings, but Icinga's Json.encode writes numbers and nulls too."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    raise ValueError("expected a string")


Text = Annotated[str | None, BeforeValidator(_text)]


class Notification(BaseModel):
    """The flat JSON object of one notification; every value is a macro's text, empty when unset."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    notification_type: Text = None
    notification_author: Text = Field(None, validation_alias=AliasChoices("notification_author", "author"))
    notification_comment: Text = Field(None, validation_alias=AliasChoices("notification_comment", "comment"))
    notification_number: Text = None
    long_date_time: Text = None
    timet: Text = None
    last_state_change: Text = None
    host_name: Text = None
    host_display_name: Text = None
    host_address: Text = None
    host_address6: Text = None
    host_state: Text = None
    host_output: Text = None
    host_notes: Text = None
    host_last_state_change: Text = None
    service_name: Text = None
    service_display_name: Text = None
    service_state: Text = None
    service_output: Text = None
    service_notes: Text = None
    service_last_state_change: Text = None
    user_name: Text = None
    user_email: Text = None
    icingaweb2_url: Text = None


# -- the stock scripts' command line -------------------------------------------------------------------

# (short flag of the stock scripts, our long spelling, field it fills). `-s` and `-o` are the host's or
# the service's state and output, depending on whether `-e` names a service (as in the two scripts).
FLAGS: tuple[tuple[str | None, str, str | None], ...] = (
    ("4", "address", "host_address"),
    ("6", "address6", "host_address6"),
    ("b", "author", "notification_author"),
    ("c", "comment", "notification_comment"),
    ("d", "datetime", "long_date_time"),
    ("e", "service", "service_name"),
    ("f", "mail-from", None),
    ("i", "icingaweb2-url", "icingaweb2_url"),
    ("l", "host", "host_name"),
    ("n", "host-display", "host_display_name"),
    ("o", "output", "output"),
    ("r", "user-email", "user_email"),
    ("s", "state", "state"),
    ("t", "type", "notification_type"),
    ("u", "service-display", "service_display_name"),
    ("v", "verbose", None),
    ("X", "host-notes", "host_notes"),
    ("x", "service-notes", "service_notes"),
    (None, "host-state", "host_state"),
    (None, "service-state", "service_state"),
    (None, "host-output", "host_output"),
    (None, "service-output", "service_output"),
    (None, "timet", "timet"),
    (None, "last-state-change", "last_state_change"),
    (None, "notification-number", "notification_number"),
)
# options of the command itself, not of the notification
COMMAND_OPTIONS = ("config",)
_SHORT = "".join(f"{s}:" for s, _, _ in FLAGS if s) + "h"
_LONG = [f"{long}=" for _, long, _ in FLAGS] + [f"{o}=" for o in COMMAND_OPTIONS] + ["help"]
_BY_FLAG = {f"-{s}": field for s, _, field in FLAGS if s} | {f"--{long}": field for _, long, field in FLAGS}

# env-style NotificationCommands (commented out in Icinga's commands.conf) and Icinga 1 names
ENV: dict[str, str] = {
    "NOTIFICATIONTYPE": "notification_type",
    "NOTIFICATIONAUTHORNAME": "notification_author",
    "NOTIFICATIONCOMMENT": "notification_comment",
    "NOTIFICATIONNUMBER": "notification_number",
    "LONGDATETIME": "long_date_time",
    "TIMET": "timet",
    "HOSTNAME": "host_name",
    "HOSTDISPLAYNAME": "host_display_name",
    "HOSTADDRESS": "host_address",
    "HOSTADDRESS6": "host_address6",
    "HOSTSTATE": "host_state",
    "HOSTOUTPUT": "host_output",
    "HOSTNOTES": "host_notes",
    "SERVICENAME": "service_name",
    "SERVICEDESC": "service_name",
    "SERVICEDISPLAYNAME": "service_display_name",
    "SERVICESTATE": "service_state",
    "SERVICEOUTPUT": "service_output",
    "SERVICENOTES": "service_notes",
    "USEREMAIL": "user_email",
    "ICINGAWEB2URL": "icingaweb2_url",
}
ENV_MARKER = "NOTIFICATIONTYPE"  # only an environment that has it came from Icinga (HOSTNAME alone may be the OS's)


def read_argv(argv: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """The stock scripts' flags (and our long ones) as fields, plus the command's own options.

    Parsed like the scripts' getopts: a flag always takes the next argument as its value, so text
    that looks like a flag (`-o --help`) stays text.
    """
    try:
        opts, rest = getopt.getopt(list(argv), _SHORT, _LONG)
    except getopt.GetoptError as exc:
        raise PayloadError(f"{exc.msg} (the flags of Icinga's mail-*-notification.sh are understood)",
                           field="argv") from None
    if rest:
        raise PayloadError(f"unexpected argument {rest[0][:80]!r}; every value follows its flag", field="argv")
    raw: dict[str, str] = {}
    command: dict[str, str] = {}
    for flag, value in opts:
        if flag in ("-h", "--help"):
            command["help"] = "1"
        elif flag.lstrip("-") in COMMAND_OPTIONS:
            command[flag.lstrip("-")] = value
        elif (field := _BY_FLAG.get(flag)) is not None:
            raw[field] = value
    fields = {k: v for k, v in raw.items() if k not in ("state", "output")}
    prefix = "service" if raw.get("service_name") else "host"
    for generic in ("state", "output"):
        if generic in raw:
            fields.setdefault(f"{prefix}_{generic}", raw[generic])
    return fields, command


def fields_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The notification fields an env-style command exported; nothing unless NOTIFICATIONTYPE is set."""
    if ENV_MARKER not in env:
        return {}
    out: dict[str, str] = {}
    for name, field in ENV.items():
        value = env.get(name)
        if value is not None and field not in out:
            out[field] = value
    return out


def fields_from_argv(argv: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """Flags first; the environment fills only what no flag gave."""
    fields, _ = read_argv(argv)
    for k, v in fields_from_env(env).items():
        if not fields.get(k):
            fields[k] = v
    return fields


def from_argv(argv: Sequence[str], env: Mapping[str, str]) -> Batch:
    """A notification from a NotificationCommand's argv (without the program name) and environment."""
    return parse_data(fields_from_argv(argv, env))


# -- saved shapes, for replay ----------------------------------------------------------------------------

_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def looks_like_env_dump(text: str) -> bool:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return bool(_ENV_LINE.match(line))
    return False


def parse_env_dump(text: str) -> dict[str, str]:
    """`KEY="value"` lines (the value a JSON string), `KEY=value` and `export KEY=...`; `#` comments."""
    env: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            raise PayloadError(f"line {n} is not KEY=value", field="env")
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        env[name] = str(value)
    return env


def _argv_of(items: list[Any]) -> list[str]:
    if not all(isinstance(i, str) for i in items):
        raise PayloadError("an argv list holds strings only", field="argv")
    args = list(items)
    if args and not args[0].startswith("-"):
        args = args[1:]  # the program name
    return args


def parse(body: bytes) -> Batch:
    """The JSON glue object (or a list of them), an argv list, an argv+env capture, or an env dump."""
    stripped = body.lstrip()
    if stripped[:1] not in (b"{", b"[") and body.strip():
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if looks_like_env_dump(text):
            return parse_data(fields_from_env(parse_env_dump(text)) or {})
    data = decode_json(body)
    if is_spooled(data, "icinga"):
        return parse(data["body"].encode("utf-8"))
    if isinstance(data, dict):
        if isinstance(data.get("argv"), list):
            env = data.get("env") or {}
            if not isinstance(env, dict):
                raise PayloadError("expected an object of environment variables", field="env")
            return from_argv(_argv_of(data["argv"]), {str(k): str(v) for k, v in env.items()})
        return parse_data(data)
    if isinstance(data, list) and data and all(isinstance(i, str) for i in data):
        return from_argv(_argv_of(data), {})
    if isinstance(data, list) and data and all(isinstance(i, dict) for i in data):
        batches = []
        for i, item in enumerate(data):
            try:
                batches.append(parse_data(item))
            except PayloadError as exc:
                raise PayloadError(exc.message, field=f"[{i}].{exc.field}" if exc.field else f"[{i}]") from None
        return Batch("icinga", [a for b in batches for a in b.alerts],
                     warnings=[w for b in batches for w in b.warnings])
    raise PayloadError("expected a JSON object with the notification's macros (notification_type, host_name, ...)")


# -- one notification -> one Alert -------------------------------------------------------------------------


def _present(value: str | None) -> str:
    return (value or "").strip()


def _cap(text: str, limit: int = LABEL_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _epoch(value: str) -> datetime | None:
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not 0 < seconds < 253402300799:  # up to 9999-12-31
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _long_date(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, LONG_DATE_FORMAT)
    except ValueError:
        return None


def _second(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def _readable(prefix: str, *parts: str) -> str:
    """`icinga:web-01!http` when short; a digest when the names are long."""
    text = prefix + "!".join(parts)
    return text if len(text) <= 200 else prefix + digest(*parts)


def parse_data(data: dict[str, Any]) -> Batch:
    """One notification's fields (the JSON glue) as a Batch of one Alert."""
    if not isinstance(data, dict):
        raise PayloadError("expected a JSON object with the notification's macros")
    n = validated(Notification, data)
    kind = re.sub(r"[\s_-]", "", _present(n.notification_type)).upper()
    if not kind:
        raise PayloadError("missing: the notification type ($notification.type$, flag -t)", field="notification_type")
    event = TYPES.get(kind)
    if event is None:
        raise PayloadError(f"unknown notification type {_cap(kind, 60)!r}; expected one of {', '.join(TYPES)}",
                           field="notification_type")
    host = _present(n.host_name) or _present(n.host_address) or _present(n.host_address6) \
        or _present(n.host_display_name)
    if not host:
        raise PayloadError("missing: the host ($host.name$, flag -l) or its address (-4)", field="host_name")
    service = _present(n.service_name)
    state = _present(n.service_state if service else n.host_state).upper()
    output = n.service_output if service else n.host_output
    output = (output or "").strip()
    if event == "problem":
        status = "firing"
    elif event == "recovery":
        status = "resolved"
    else:
        status = "resolved" if state in OK_STATES else "firing"

    received = utcnow()
    warnings: list[str] = []
    changed = _present(n.last_state_change) or _present(
        n.service_last_state_change if service else n.host_last_state_change)
    if changed and _epoch(changed) is None:
        changed = ""  # 0: the object's first state, nothing to recognise it by
    sent = _present(n.timet) or _present(n.long_date_time)
    sent_at = _epoch(_present(n.timet)) if _present(n.timet) else _long_date(_present(n.long_date_time))
    changed_at = _epoch(changed) if changed else None
    when = changed_at or sent_at
    identity = _readable("icinga:", host, *([service] if service else []))
    if event in ("problem", "recovery") and changed:
        # a re-notification of the same state keeps its last state change
        moment = _second(changed_at) if changed_at else changed
    elif sent:
        moment = _second(sent_at) if sent_at else sent  # timet and long_date_time name the same second
    else:
        moment = received.isoformat()
        warnings.append("the notification carries no time (-d / LONGDATETIME): a repeated delivery "
                        "cannot be recognised as one")
    said: tuple[str, ...] = () if event in ("problem", "recovery") else (
        _present(n.notification_author), _present(n.notification_comment))  # two acknowledgements differ by these
    key = f"icinga:{digest(identity, kind, state, moment, *said)}"

    name = (_present(n.service_display_name) or service) if service else f"host {state or kind}"
    first_line = output.splitlines()[0] if output else ""
    labels = {k: _cap(v) for k, v in {
        "notification_type": kind,
        "object": "service" if service else "host",
        "state": state,
        "service": service,
        "host_name": _present(n.host_name),
        "display_name": _present(n.service_display_name if service else n.host_display_name),
        "address": _present(n.host_address),
        "address6": _present(n.host_address6),
        "output": output,
        "author": _present(n.notification_author),
        "comment": _present(n.notification_comment),
        "notes": _present(n.service_notes if service else n.host_notes),
        "user_email": _present(n.user_email),
        "notification_number": _present(n.notification_number),
        "long_date_time": _present(n.long_date_time),
    }.items() if v}
    alert = Alert(
        source="icinga", key=key, identity=identity, host=host, status=status, event=event,
        name=_cap(name, 300), summary=_cap(first_line, 500), labels=labels,
        author=_cap(_present(n.notification_author), 200) or None,
        comment=_cap(_present(n.notification_comment), 1000) or None,
        starts_at=when if status == "firing" else None, ends_at=when if status == "resolved" else None,
        received_at=received,
    )
    return Batch("icinga", [alert], warnings=warnings)
