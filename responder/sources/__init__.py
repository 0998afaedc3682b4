"""One module per monitoring source: bytes (or argv/env) in, normalised Alerts out.

Each parser raises PayloadError naming the field that is wrong; nothing else escapes for bad input.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from responder.alerts import Alert, Source
from responder.errors import PayloadError


@dataclass
class Batch:
    """What one delivery carried."""

    source: Source
    alerts: list[Alert]
    truncated: int = 0  # alerts the sender left out (Alertmanager's max_alerts)
    warnings: list[str] = field(default_factory=list)


def decode_json(body: bytes) -> Any:
    """Parse a JSON body, with the position of the first problem when it is not JSON."""
    if not body.strip():
        raise PayloadError("the body is empty; expected a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


SOURCES = ("alertmanager", "icinga", "zabbix")


def parser_for(source: str) -> Callable[[bytes], Batch]:
    """The `parse(body) -> Batch` of a source module."""
    if source not in SOURCES:
        raise PayloadError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    try:
        module = importlib.import_module(f"responder.sources.{source}")
    except ModuleNotFoundError:
        raise PayloadError(f"the {source} source is not available in this version") from None
    parse: Callable[[bytes], Batch] = module.parse
    return parse


def detect_source(body: bytes) -> str:
    """Which source a saved payload came from, by its shape; `replay --source` overrides."""
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict) and "alerts" in data:
        return "alertmanager"
    return "alertmanager"
