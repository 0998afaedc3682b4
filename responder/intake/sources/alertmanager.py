"""Alertmanager's webhook (`webhook_configs`, message version 4).

What counts is each alert's own status: a group reported as `firing` may carry resolved alerts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from responder.errors import PayloadError
from responder.intake.sources import Batch, decode_json, validated
from responder.model.alert import digest, unchecked, utcnow

# labels that name the host, in the order we trust them
HOST_LABELS = ("instance", "host", "hostname", "nodename", "server", "target", "address")
SUPPORTED_VERSION = "4"


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")  # read what we use; the rest is kept in the raw delivery

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] | None = None
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class WebhookMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # read what we use; the rest is kept in the raw delivery

    version: str | None = None
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupKey: str | None = None
    truncatedAlerts: int = Field(0, ge=0)
    alerts: list[WebhookAlert]

    @field_validator("alerts")
    @classmethod
    def _not_empty(cls, alerts: list[WebhookAlert]) -> list[WebhookAlert]:
        if not alerts:
            raise ValueError("the list is empty: nothing to accept")
        return alerts


def host_of(labels: dict[str, str]) -> str:
    for name in HOST_LABELS:
        value = labels.get(name, "").strip()
        if value:
            return value
    return ""


def _open_ended(ts: datetime | None) -> datetime | None:
    return None if ts is None or ts.year <= 1 else ts


def parse(body: bytes) -> Batch:
    try:  # a good body in one pass: pydantic reads the JSON and validates it as it goes
        msg = WebhookMessage.model_validate_json(body)
    except ValueError:  # anything else takes the careful path, which names what is wrong
        data = decode_json(body)
        if not isinstance(data, dict):
            raise PayloadError("expected a JSON object (an Alertmanager webhook message)") from None
        msg = validated(WebhookMessage, data)
    return _batch(msg)


def parse_data(data: dict[str, Any]) -> Batch:
    return _batch(validated(WebhookMessage, data))


# the fields an alert from here is given (the rest keep their defaults), as model_fields_set says
_GIVEN = frozenset({"source", "key", "identity", "host", "status", "event", "name", "summary", "labels",
                    "starts_at", "ends_at", "received_at"})


def _batch(msg: WebhookMessage) -> Batch:
    received = utcnow()
    alerts = []
    for a in msg.alerts:
        identity = a.fingerprint or digest(*sorted(a.labels.items()))
        starts = _open_ended(a.startsAt)
        annotations = a.annotations or {}
        # every value is of its Alert field's type already (WebhookMessage validated them): no second pass
        alerts.append(unchecked({
            "source": "alertmanager",
            "key": f"alertmanager:{identity}:{a.status}:{starts.isoformat() if starts else ''}",
            "identity": f"alertmanager:{identity}",
            "host": host_of(a.labels),
            "server": None,
            "status": a.status,
            "event": "problem" if a.status == "firing" else "recovery",
            "name": a.labels.get("alertname", "") or "(no alertname)",
            "summary": annotations.get("summary") or annotations.get("description") or "",
            "labels": a.labels,
            "author": None,
            "comment": None,
            "starts_at": starts,
            "ends_at": _open_ended(a.endsAt) if a.status == "resolved" else None,
            "received_at": received,
        }, _GIVEN))
    warnings = []
    if msg.version not in (None, SUPPORTED_VERSION):
        warnings.append(f"unknown webhook version {msg.version!r}; read as version {SUPPORTED_VERSION}")
    if msg.truncatedAlerts:
        warnings.append(f"Alertmanager left out {msg.truncatedAlerts} alerts (max_alerts)")
    return Batch("alertmanager", alerts, truncated=msg.truncatedAlerts, warnings=warnings)
