"""The normalised alert every source turns its payload into."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["alertmanager", "icinga", "zabbix"]
Status = Literal["firing", "resolved"]
# problem and recovery drive assessments; the rest are recorded on the incident
Event = Literal["problem", "recovery", "acknowledgement", "downtime", "flapping", "custom", "update"]

OPEN_ENDED = "0001-01-01T00:00:00Z"  # Alertmanager's zero time: the alert has not ended


def utcnow() -> datetime:
    return datetime.now(UTC)


class Alert(BaseModel):
    """One alert about one host, whatever sent it.

    `key` is the idempotency key (the same delivery twice has the same key); `identity` names what the
    alert is about, the same for its firing and its resolve.
    """

    model_config = ConfigDict(frozen=True)

    source: Source
    key: str
    identity: str
    host: str
    server: str | None = None
    status: Status
    event: Event = "problem"
    name: str
    summary: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    author: str | None = None  # who acknowledged or commented (Icinga's -b, the Zabbix update's user)
    comment: str | None = None  # what they wrote (Icinga's -c, the Zabbix update's message)
    starts_at: datetime | None = None
    ends_at: datetime | None = None  # None: still open (Alertmanager's 0001-01-01T00:00:00Z)
    received_at: datetime = Field(default_factory=utcnow)

    @property
    def drives_assessment(self) -> bool:
        """Problems and recoveries change what is broken; other events are recorded only
        (`incidents.assess_on` widens this at intake)."""
        return self.event in ("problem", "recovery")

    def describe(self) -> str:
        """One line for the incident's notes."""
        text = f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.source} {self.event} {self.host or '-'} {self.name}"
        if self.author or self.comment:
            said = f"by {self.author}" if self.author else ""
            text += f" ({said}{': ' if said and self.comment else ''}{self.comment or ''})"
        return f"{text}: {self.summary}" if self.summary else text


_set = object.__setattr__


def unchecked(values: dict[str, Any], given: set[str] | frozenset[str]) -> Alert:
    """An Alert from values that already have the field types (what a source's validated payload gave,
    or another Alert's), built without validating them a second time: a receiver builds three per
    delivery and validation cost as much as the rest of building them. `values` holds every field
    (defaults too: it becomes the model's `__dict__`); `given` is what `model_fields_set` reports,
    the fields validation would have been given. Alert has no private attributes, validators or
    post-init that this would skip (tests/test_source_alertmanager.py compares it with validation)."""
    alert = Alert.__new__(Alert)
    _set(alert, "__dict__", values)
    _set(alert, "__pydantic_fields_set__", set(given))
    _set(alert, "__pydantic_extra__", None)
    _set(alert, "__pydantic_private__", None)
    return alert


def with_server(alert: Alert, server: str) -> Alert:
    """A copy of `alert` naming its inventory server (`model_copy(update=...)` with the same result)."""
    return unchecked({**alert.__dict__, "server": server}, alert.__pydantic_fields_set__ | {"server"})


def digest(*parts: object) -> str:
    """A short stable hash for keys built from untrusted text."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "replace"))
    return h.hexdigest()[:24]
