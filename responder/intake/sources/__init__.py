"""One module per monitoring source: bytes (or argv/env) in, normalised Alerts out.

Each parser raises PayloadError naming the field that is wrong; nothing else escapes for bad input.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from responder.errors import PayloadError, pydantic_problems
from responder.model.alert import Alert, Source


@dataclass
class Batch:
    """What one delivery carried."""

    source: Source
    alerts: list[Alert]
    truncated: int = 0  # alerts the sender left out (Alertmanager's max_alerts)
    warnings: list[str] = field(default_factory=list)


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any) -> M:
    """`model` from `data`, or a PayloadError naming the first field that is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise payload_error(exc) from None


def payload_error(exc: ValidationError) -> PayloadError:
    """The PayloadError for a failed validation: the first field that is wrong, and how many more."""
    problems = pydantic_problems(exc)
    field, _, message = problems[0].partition(": ")
    extra = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return PayloadError(message + extra, field=field)


def decode_json(body: bytes) -> Any:
    """Parse a JSON body, with the position of the first problem when it is not JSON."""
    if not body.strip():
        raise PayloadError("the body is empty; expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise PayloadError("the body is nested too deeply to be an alert payload") from None
    except ValueError:  # an integer longer than Python's int-string limit (4,300 digits)
        raise PayloadError("the body holds a number too long to be read") from None
    # a lone UTF-16 surrogate escape (\ud800) decodes but cannot be stored as UTF-8: keep the alert, mark the spot
    return _replace_lone_surrogates(data) if _SURROGATE_ESCAPE.search(text) else data


_SURROGATE_ESCAPE = re.compile(r"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}")


def _clean(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _replace_lone_surrogates(data: Any) -> Any:
    """The same JSON value with every unpaired surrogate replaced by U+FFFD (iterative: depth is unbounded)."""
    root = [data]
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if isinstance(node, dict):
            node.clear()
        for k, v in items:
            if isinstance(v, str):
                v = _clean(v)
            elif isinstance(v, dict | list):
                stack.append(v)
            node[_clean(k) if isinstance(k, str) else k] = v
    return root[0]


SOURCES = ("alertmanager", "icinga", "zabbix")


@functools.cache
def parser_for(source: str) -> Callable[[bytes], Batch]:
    """The `parse(body) -> Batch` of a source module (looked up once per source)."""
    if source not in SOURCES:
        raise PayloadError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    try:
        module = importlib.import_module(f"responder.intake.sources.{source}")
    except ModuleNotFoundError:
        raise PayloadError(f"the {source} source is not available in this version") from None
    parse: Callable[[bytes], Batch] = module.parse
    return parse


_ICINGA_KEYS = frozenset({"notification_type", "host_state", "service_state", "long_date_time", "timet"})
_ZABBIX_KEYS = frozenset({"event_id", "event_value", "EventID", "EventValue", "alert_message", "trigger_name"})
_ICINGA_FLAGS = frozenset({"-t", "--type", "-l", "--host", "-s", "--state", "--host-state", "--service-state"})
_ICINGA_ENV = re.compile(r"^\s*(?:export\s+)?NOTIFICATIONTYPE=", re.M)


def is_spooled(data: Any, source: str | None = None) -> bool:
    """A file of `responder notify`'s spool (or its rejected/): the delivery is its `body`."""
    return isinstance(data, dict) and isinstance(data.get("body"), str) and "spooled_at" in data \
        and (source is None or data.get("source") == source)


def _source_of_object(data: dict[str, Any]) -> str | None:
    named = str(data.get("source", "")).lower()
    if named.startswith("icinga"):
        return "icinga"
    if named in SOURCES:
        return named
    if isinstance(data.get("alerts"), list):
        return "alertmanager"
    if _ZABBIX_KEYS & data.keys():
        return "zabbix"
    if _ICINGA_KEYS & data.keys():
        return "icinga"
    if isinstance(data.get("argv"), list):
        env = data.get("env")
        if isinstance(env, dict) and "NOTIFICATIONTYPE" in env:
            return "icinga"
        return _source_of_argv(data["argv"])
    return None


def _source_of_argv(argv: list[Any]) -> str:
    """Icinga's scripts take flags; a Zabbix alert script takes SENDTO SUBJECT MESSAGE."""
    return "icinga" if any(a in _ICINGA_FLAGS for a in argv if isinstance(a, str)) else "zabbix"


def detect_source(body: bytes) -> str:
    """Which source a saved payload came from, by its shape; `replay --source` overrides.

    Alertmanager webhooks, Icinga and Zabbix JSON (our glue, or a list of them), Icinga env dumps
    (`NOTIFICATIONTYPE="PROBLEM"` lines), and argv lists of either notify command. When nothing fits
    the answer is alertmanager, whose parser then names what is wrong.
    """
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError, or an integer over the int-string limit
        return "icinga" if _ICINGA_ENV.search(text) else "alertmanager"
    if isinstance(data, dict):
        return _source_of_object(data) or "alertmanager"
    if isinstance(data, list) and data:
        if all(isinstance(i, str) for i in data):
            return _source_of_argv(data)
        if isinstance(data[0], dict):
            return _source_of_object(data[0]) or "alertmanager"
    return "alertmanager"
