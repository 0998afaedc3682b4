"""Log lines for people (text) or for log pipelines (JSON lines), each naming the incident it is about.

The incident is known where it is handled (a job, the intake of a delivery), not where a line is
written (the probe, SSH, RQ itself), so it travels in a ContextVar: `about(id)` sets it, and a filter
on the handler copies it onto every record logged meanwhile, in the same thread or in the tasks and
`asyncio.to_thread` calls started inside (they copy the context). RQ's own lines about a job are
logged outside the job; they name its job id, which holds the incident id, and the filter reads it
from there.

Alert text is untrusted: a JSON line is one `json.dumps` (every control character escaped, pure
ASCII), and a text line writes control characters out (`\\x1b`, `\\x0a`), so no alert can colour,
retitle or clear a terminal tailing the log, or forge a line of its own.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from responder.text import escape_controls

FORMAT_ENV = "RESPONDER_LOG_FORMAT"  # serve sets it, so the workers it supervises write the same format
FORMATS = ("text", "json")
# the shape of responder.model.incident.new_id: what RQ's lines about our jobs carry
_INCIDENT_ID = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b")
# C0, DEL, C1 and the bidirectional overrides
_current: ContextVar[str | None] = ContextVar("responder_incident", default=None)
# what every LogRecord has: anything else on a record came as `extra=` and goes into the JSON line
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "incident"}

P = ParamSpec("P")
R = TypeVar("R")


def current() -> str | None:
    """The incident being handled here, if any."""
    return _current.get()


@contextlib.contextmanager
def about(incident_id: str | None) -> Iterator[None]:
    """Every line logged inside names this incident."""
    token = _current.set(incident_id)
    try:
        yield
    finally:
        _current.reset(token)


def each(incident_ids: Iterable[str]) -> Iterator[str]:
    """`for i in each(ids): log.info(...)`: one line per incident, each naming its own."""
    for incident_id in incident_ids:
        with about(incident_id):
            yield incident_id


def incident_job(fn: Callable[Concatenate[str, P], R]) -> Callable[Concatenate[str, P], R]:
    """An RQ job whose first argument is an incident id: what it logs names the incident, and its outcome
    is one line (RQ itself only says "Job OK")."""
    log = logging.getLogger(fn.__module__)

    @functools.wraps(fn)
    def job(incident_id: str, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with about(incident_id):
            result = fn(incident_id, *args, **kwargs)
            log.info("%s: %s", fn.__name__, result)
            return result

    return job


class IncidentFilter(logging.Filter):
    """Puts `incident` on every record: the context's, else (RQ's lines) the id its message names."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "incident", None) is None:
            incident = _current.get()
            if incident is None and record.name.partition(".")[0] == "rq":
                found = _INCIDENT_ID.search(record.getMessage())
                incident = found.group() if found else None
            record.incident = incident
        return True


def _timestamp(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """`2026-12-01T08:12:03.120Z responder.hooks INFO [incident=ID] message`, one line per record
    (a traceback keeps its own lines, each control character in it written out)."""

    def format(self, record: logging.LogRecord) -> str:
        incident = getattr(record, "incident", None)
        tag = f" [incident={incident}]" if incident else ""
        line = (f"{_timestamp(record)} {record.name} {record.levelname}{tag} "
                f"{escape_controls(record.getMessage())}")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + escape_controls(record.exc_text, keep_newlines=True)
        if record.stack_info:
            line += "\n" + escape_controls(self.formatStack(record.stack_info), keep_newlines=True)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO-8601 UTC), level, logger, message, incident when known, the
    record's extras, and the traceback as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname.lower(),
                                "logger": record.name, "message": record.getMessage()}
        incident = getattr(record, "incident", None)
        if incident:
            line["incident"] = incident
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in line:
                line[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def configure(level: str | int = "INFO", fmt: str = "text") -> logging.Handler:
    """One handler on the root logger (stderr) in this format, replacing any before it; RQ's worker
    then adds none of its own."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(IncidentFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
