"""What an assessment produces: checks, per-service and per-client verdicts, evidence, notifications.

These are the models the workers hand back and the web pages, API and messages read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

Severity = Literal["critical", "degraded", "ok"]
SEVERITIES: tuple[Severity, ...] = ("critical", "degraded", "ok")  # the one order: worst first
RANK: dict[str, int] = {s: len(SEVERITIES) - 1 - i for i, s in enumerate(SEVERITIES)}  # ok 0 … critical 2


M = TypeVar("M", bound=BaseModel)
_FIELDS: dict[type[BaseModel], set[str]] = {}


def built(model: type[M], **values: Any) -> M:
    """A verdict model from values its builder typed (probe, judge): every field given, no second
    validation, and one fields-set shared by every instance of the model. Pydantic's own per-instance
    set is half to two thirds of a Check or ServiceVerdict (~1.1 KB each), tens of MB over 40,000;
    setting a field later adds a name already there, and model_copy copies the set."""
    return model.model_construct(_fields(model), **values)


def _fields(model: type[BaseModel]) -> set[str]:
    fields = _FIELDS.get(model)
    if fields is None:
        fields = _FIELDS[model] = set(model.model_fields)
    return fields


def shared(verdicts: list[ClientVerdict]) -> list[ClientVerdict]:
    """Verdicts read from their JSON given `built`'s shared fields-sets where every field was set (as
    every stored verdict has): an outage's 2,864 read back were ~25,000 models, ~15 MB of sets alike."""
    every = [_fields(m) for m in (ClientVerdict, ServiceVerdict, Check, LogExcerpt)]

    def share(model: BaseModel, fields: set[str]) -> None:
        if model.__pydantic_fields_set__ == fields:
            object.__setattr__(model, "__pydantic_fields_set__", fields)

    for v in verdicts:
        share(v, every[0])
        for s in v.services:
            share(s, every[1])
            for k in s.checks:
                share(k, every[2])
        for log in v.logs:
            share(log, every[3])
    return verdicts


def worst_first(severity: str | None) -> int:
    """A sort key that puts the worst severity first (and an unknown one last)."""
    return -RANK.get(severity or "", -1)


def worst(severities: Iterable[str]) -> Severity:
    best: Severity = "ok"
    for s in severities:
        if RANK.get(s, 0) > RANK[best]:
            best = s  # type: ignore[assignment]
    return best


class Check(BaseModel):
    """One HTTP check of one service on one server."""

    server: str
    url: str
    ok: bool
    status: int | None = None
    error: str | None = None
    latency_ms: float | None = None
    slow: bool = False
    attempts: int = 1


class ServiceVerdict(BaseModel):
    """One service of one client, judged over all of the client's servers.

    A server with no check (`check --server` named others, or its probe shard never reported) is in
    `not_checked`: neither passing nor failing.
    """

    service: str
    severity: Severity
    servers_total: int
    servers_failing: int
    servers_slow: int = 0
    servers_passing: int = 0
    min_healthy: int = 1
    not_checked: list[str] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)


class LogExcerpt(BaseModel):
    """Log lines pulled from one server, or why they could not be."""

    server: str
    path: str | None = None
    lines: list[str] = Field(default_factory=list)
    error: str | None = None
    truncated: bool = False
    note: str | None = None  # e.g. that the host key was not verified (a lab opt-out), or why no line matched


class ClientVerdict(BaseModel):
    client: str
    severity: Severity
    summary: str
    services: list[ServiceVerdict] = Field(default_factory=list)
    logs: list[LogExcerpt] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)
    maintenance: str | None = None


class NotificationRecord(BaseModel):
    """One attempt to tell one recipient. `unknown`: cut off after the server may have accepted the
    message (no reply to the mail's DATA): it is not sent again on its own, since that could be a copy."""

    channel: str
    to: str
    status: Literal["sent", "failed", "skipped", "unknown"]
    at: datetime
    error: str | None = None
    client: str | None = None  # set when the message carried one client's part only
    state: str | None = None


def failing_servers(verdict: ClientVerdict) -> list[str]:
    """Servers where at least one of the client's checks failed: where evidence is worth pulling."""
    return sorted({c.server for s in verdict.services for c in s.checks if not c.ok})
