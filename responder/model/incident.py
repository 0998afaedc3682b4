"""The incident: alerts that belong together, the clients they touch, and the latest verdict."""

from __future__ import annotations

import collections
import re
import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from responder.model.alert import Alert, utcnow
from responder.model.verdict import ClientVerdict, NotificationRecord, Severity

IncidentStatus = Literal["open", "assessed", "resolved"]
NOC = "*"  # the scope of the config's own recipients (email.to, the chat channels): the whole incident
# why a message is sent, in the order a message names them (responder/lifecycle/tell.py decides)
Reason = Literal["recovered", "resolved_failing", "maintenance_ended", "maintenance_started", "changed", "first",
                 "reminder", "by_hand"]
IncidentKind = Literal["alerts", "check"]  # what opened it: monitoring alerts, or `responder check --notify`


_SUFFIXES: collections.deque[str] = collections.deque()  # random suffixes drawn ahead, 1,000 at a time


def _suffix() -> str:
    """6 hex digits from the OS's random source, as secrets.token_hex(3) would give; drawn 1,000 at a
    time because the receiver asks for one per delivery, and one system call each cost more than the
    rest of the id (deque's popleft and extend are atomic: threads may share it)."""
    try:
        return _SUFFIXES.popleft()
    except IndexError:
        raw = secrets.token_hex(3 * 1000)
        _SUFFIXES.extend(raw[i:i + 6] for i in range(6, len(raw), 6))
        return raw[:6]


_SECOND: tuple[tuple[int, ...], str] = ((), "")  # the last second formatted, and its fields


def second(now: datetime) -> str:
    """`now` as `20251118-091412` (strftime is slow and a receiver asks many times a second)."""
    global _SECOND
    fields = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    last, text = _SECOND
    if fields != last:
        text = f"{now:%Y%m%d-%H%M%S}"
        _SECOND = (fields, text)  # one assignment: threads see the old pair or the new one
    return text


def new_id(now: datetime | None = None) -> str:
    """Sortable by time and readable on a phone: `20251118-091412-3fa2c1`."""
    return f"{second(now or utcnow())}-{_suffix()}"


class Progress(BaseModel):
    """How far the incident's newest fanned-out assessment is: checks are (client, service, server)
    targets, counted once their shared request has its final answer; live in the store, never saved
    with the incident."""

    checks_total: int
    checks_done: int
    shards_total: int
    shards_done: int
    by_worker: dict[str, int] = Field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.shards_done >= self.shards_total

    def summary(self, running: bool) -> str:
        """One line for the page and the terminal: "probing: 5,200 of 17,000 checks"."""
        workers = f"{len(self.by_worker)} worker{'s' if len(self.by_worker) != 1 else ''}"
        if self.complete:
            shards = f"{self.shards_total} shard{'s' if self.shards_total != 1 else ''}"
            return f"probed: {self.checks_total:,} checks in {shards} on {workers}"
        if running:
            return (f"probing: {self.checks_done:,} of {self.checks_total:,} checks · "
                    f"{self.shards_done} of {self.shards_total} shards reported, on {workers}")
        missing = self.shards_total - self.shards_done
        return (f"probed: {self.checks_done:,} of {self.checks_total:,} checks; {missing} shard"
                f"{'s' if missing != 1 else ''} did not report by the deadline (those servers: not checked)")
class View(BaseModel):
    """What one recipient scope (the NOC, or one client's contacts) would be told now, in comparable parts."""

    model_config = ConfigDict(frozen=True)

    content: str = ""  # a digest of the verdicts the scope sees (severity, failing and slow checks)
    failing: bool = False  # something the scope sees is not ok
    resolved: bool = False  # every alert of the incident is resolved
    closed: bool = False  # the incident is over
    maintenance: tuple[str, ...] = ()  # clients inside a window (NOC: by name only; a client: itself)


class Told(BaseModel):
    """What one scope was last told, and when: the per-recipient memory the cooldown and reminders use."""

    view: View | None = None  # None: never told
    reasons: list[Reason] = Field(default_factory=list)
    at: datetime | None = None
    seq: int = 0  # messages decided for this scope; with the scope it names the message in the ledger
    batch: int = 0  # the notify job (Incident.notify_seq) that carries the latest message
    silenced: bool = False  # inside a maintenance window at the last assessment
    notes_from: int = 0  # the incident's notes the message reports: notes[notes_from:notes_to]
    notes_to: int = 0

    def state(self, scope: str) -> str:
        """The ledger's name for this message: one message per recipient and state."""
        return f"{scope}-{self.seq}"


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def is_id(text: str) -> bool:
    """Whether `text` can name an incident: ids from `new_id` (and tests' short ones), never a colon, so a
    caller's id cannot reach another key of the store."""
    return _ID.fullmatch(text) is not None


class Incident(BaseModel):
    id: str
    status: IncidentStatus = "open"
    kind: IncidentKind = "alerts"
    severity: Severity | None = None  # None until the first assessment
    opened_at: datetime
    updated_at: datetime
    assessed_at: datetime | None = None
    resolved_at: datetime | None = None
    alerts: list[Alert] = Field(default_factory=list)
    unmapped_hosts: list[str] = Field(default_factory=list)
    affected: list[str] = Field(default_factory=list)  # clients this incident assesses
    clients: list[ClientVerdict] = Field(default_factory=list)
    notifications: list[NotificationRecord] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    truncated: int = 0
    # assessment bookkeeping: one job in flight at a time, later changes coalesce into the next
    generation: int = 0
    assessed_generation: int = 0
    pending: bool = False
    running: bool = False
    dirty: bool = False
    due_at: datetime | None = None
    last_state: str | None = None  # jobs queued before per-scope messages: "<seq>-<signature>"
    notify_seq: int = 0  # notify jobs queued so far; each carries the scopes whose Told.batch is its number
    last_notified_at: datetime | None = None
    told: dict[str, Told] = Field(default_factory=dict)  # per scope (NOC or a client): what it was last told
    failed: list[str] = Field(default_factory=list)  # clients that were failing at some point: they can recover
    quiet: str | None = None  # why notifications are held back (maintenance), if they are
    headline: str | None = None  # what changed in one line: "recovered", "alerts resolved, but ..."
    progress: Progress | None = Field(None, exclude=True)  # filled by the store on reading
    # read without its verdicts (`clients` empty, `Store.get_incident(verdicts=False)`): writing it back
    # leaves the stored verdicts as they are
    _verdicts_left: bool = PrivateAttr(False)

    def add_alert(self, alert: Alert) -> None:
        """Keep the newest word on each alert: its resolve replaces its firing."""
        for i, existing in enumerate(self.alerts):
            if existing.identity == alert.identity:
                self.alerts[i] = alert
                break
        else:
            self.alerts.append(alert)
        if alert.server is None and alert.host and alert.host not in self.unmapped_hosts:
            self.unmapped_hosts.append(alert.host)
        self.updated_at = utcnow()

    @property
    def alerting_servers(self) -> list[str]:
        return sorted({a.server for a in self.alerts if a.server and a.status == "firing"})

    @property
    def alerting_hosts(self) -> list[str]:
        """Every host with a firing alert, in the inventory (by server name) or not (by host)."""
        return sorted({a.server or a.host for a in self.alerts if a.status == "firing" and (a.server or a.host)})

    @property
    def all_resolved(self) -> bool:
        return all(a.status == "resolved" for a in self.alerts)

    def note(self, text: str, limit: int = 200) -> None:
        """Record an event on the incident (acknowledgements, downtimes, warnings); keeps the newest."""
        if text not in self.notes:
            self.notes.append(text)
            del self.notes[:-limit]

    def public(self) -> dict[str, Any]:
        """The verdict JSON of SPEC.md (plus a few extra fields), without the bookkeeping."""
        data = self.model_dump(mode="json", exclude=BOOKKEEPING)
        data["progress"] = self.progress.model_dump(mode="json") if self.progress else None
        return data

    def public_json(self, verdicts: bytes | None = None) -> bytes:
        """`public()` as JSON, serialised by pydantic in one pass: for an outage of thousands of
        clients, the dict and Python's json.dumps of it cost seconds and tens of MB per request.
        `verdicts`: the clients' verdicts as the store keeps them (JSON bytes), put in place of
        `clients` and copied once (bytes, not text: each decode and encode of 2,864 clients' verdicts
        was another 5 MB on serve's peak, on every poll of the incident)."""
        ser = self.__pydantic_serializer__
        body = ser.to_json(self, exclude=BOOKKEEPING if verdicts is None else BOOKKEEPING | {"clients"})
        progress = self.progress.__pydantic_serializer__.to_json(self.progress) if self.progress else b"null"
        parts = [body[:-1]]
        if verdicts is not None:
            parts += [b',"clients":', verdicts]
        parts += [b',"progress":', progress, b"}"]
        return b"".join(parts)


BOOKKEEPING = {"generation", "assessed_generation", "pending", "running", "dirty", "last_state", "notify_seq",
               "told"}
