"""Choosing which log lines are evidence: pure functions, no I/O.

What a server sends back is untrusted bytes. They are decoded without failing (invalid UTF-8 replaced),
control characters are neutralised so a line cannot drive a terminal, each line is capped, and then
the lines are narrowed: to the `log_filter` patterns (Python regular expressions, applied here and never
sent to a shell), to the alert's time window where a timestamp can be read, and ordered 5xx first.

Timestamps and statuses are read from the nginx/Apache combined format unless a filter names them
with the groups `(?P<time>...)` and `(?P<status>...)`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

from responder.model.alert import Alert

MAX_LINE_CHARS = 2000
SPAN_MARGIN = timedelta(minutes=10)  # lines just before the alert started often say why

_COMBINED_STAMP = r"(\d{1,2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
_COMBINED_TIME = re.compile(_COMBINED_STAMP)
_COMBINED_FIELD = re.compile(r"\[" + _COMBINED_STAMP + r"\]")  # where the combined format puts it
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}
# the status follows the quoted request line; Apache escapes quotes inside it as \"
_COMBINED_STATUS = re.compile(r'"(?:[^"\\]|\\.)*" (\d{3})\s')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


@dataclass(frozen=True, slots=True)
class Span:
    """The part of the log worth reading: from a little before the first alert to a little after the
    last one ended (open-ended while any alert still fires)."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def around(cls, alerts: Sequence[Alert], margin: timedelta = SPAN_MARGIN) -> Span:
        if not alerts:
            return cls()
        starts = [_aware(a.starts_at or a.received_at) for a in alerts]
        ends = [a.ends_at for a in alerts]
        end = max(_aware(e) for e in ends if e is not None) + margin if all(ends) else None
        return cls(min(starts) - margin, end)

    def holds(self, moment: datetime) -> bool:
        moment = _aware(moment)
        return (self.start is None or moment >= self.start) and (self.end is None or moment <= self.end)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def compile_filters(*patterns: str | None) -> list[re.Pattern[str]]:
    """The inventory's `log_filter` patterns (server's and client's); each one given must match."""
    return [re.compile(p) for p in patterns if p]


def decode(data: bytes, cut: bool) -> list[str]:
    """Bytes from a server as safe lines. `cut`: the output was cut at a byte limit, so its first line
    is probably the tail of a longer one and is marked with a leading `…`."""
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if cut and lines:
        lines[0] = "…" + lines[0]
    out = []
    for line in lines:
        line = _CONTROL.sub("\ufffd", line)
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + "…"
        out.append(line)
    return out


@lru_cache(maxsize=64)
def _offset(minutes: int) -> timezone:
    return timezone(timedelta(minutes=minutes))


def _combined(match: re.Match[str]) -> datetime | None:
    """`18/Nov/2025:09:14:12 +0000` by hand: strptime costs ten times as much, on every line."""
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = (int(off_h) * 60 + int(off_m)) * (-1 if sign == "-" else 1)
    try:
        return datetime(int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second),
                        tzinfo=_offset(offset))
    except (KeyError, ValueError):
        return None


def parse_time(text: str) -> datetime | None:
    """A log timestamp: combined (`18/Nov/2025:09:14:12 +0000`), ISO 8601, or Unix seconds."""
    text = text.strip().removeprefix("[").removesuffix("]")
    match = _COMBINED_TIME.fullmatch(text)
    if match:
        return _combined(match)
    try:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    time: datetime | None
    status: int | None

    @property
    def server_error(self) -> bool:
        return self.status is not None and 500 <= self.status <= 599


def read_line(text: str, filters: Sequence[re.Pattern[str]], with_time: bool = True) -> Line | None:
    """The line with its time (when asked for) and status, or None when a filter rejects it."""
    groups: dict[str, str] = {}
    for pattern in filters:
        match = pattern.search(text)
        if match is None:
            return None
        groups.update({k: v for k, v in match.groupdict().items() if v is not None})
    moment: datetime | None = None
    if with_time and "time" in groups:
        moment = parse_time(groups["time"])
    elif with_time:
        found = _COMBINED_FIELD.search(text)
        moment = _combined(found) if found else None
    status: int | None = None
    raw_status = groups.get("status")
    if raw_status is None:
        found = _COMBINED_STATUS.search(text)
        raw_status = found.group(1) if found else None
    if raw_status is not None and raw_status.isdigit():
        status = int(raw_status)
    return Line(text, moment, status)


def select(lines: Iterable[str], *, filters: Sequence[re.Pattern[str]] = (), window: Span = Span(),
           limit: int = 50) -> list[str]:
    """The newest `limit` lines that pass the filters and the window (a line whose time cannot be read
    is kept: losing evidence is worse than showing a line too many), 5xx lines first, each group in
    the log's own order."""
    kept: list[Line] = []
    bounded = window.start is not None or window.end is not None
    for text in lines:
        line = read_line(text, filters, with_time=bounded)
        if line is None or (line.time is not None and not window.holds(line.time)):
            continue
        kept.append(line)
    kept = kept[-limit:] if limit else []
    return [line.text for line in kept if line.server_error] + [line.text for line in kept if not line.server_error]
