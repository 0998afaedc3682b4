"""Alertmanager's webhook (`webhook_configs`, message version 4).

What counts is each alert's own status: a group reported as `firing` may carry resolved alerts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only from Python 3.12

from responder.errors import PayloadError
from responder.intake.sources import Batch, decode_json, payload_error
from responder.model.alert import digest, unchecked, utcnow

# labels that name the host, in the order we trust them
HOST_LABELS = ("instance", "host", "hostname", "nodename", "server", "target", "address")
SUPPORTED_VERSION = "4"

# The message is validated into plain dicts (TypedDicts), not models: a receiver reads each field
# once to build its Alerts, and a model instance per alert cost a third of the validation. Keys
# beyond these are ignored here and kept in the raw delivery.


class WebhookAlert(TypedDict):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: NotRequired[dict[str, str] | None]
    startsAt: NotRequired[datetime | None]
    endsAt: NotRequired[datetime | None]
    generatorURL: NotRequired[str | None]
    fingerprint: NotRequired[str | None]


def _not_empty(alerts: list[WebhookAlert]) -> list[WebhookAlert]:
    if not alerts:
        raise ValueError("the list is empty: nothing to accept")
    return alerts


class WebhookMessage(TypedDict):
    version: NotRequired[str | None]
    status: NotRequired[Literal["firing", "resolved"] | None]
    receiver: NotRequired[str | None]
    groupKey: NotRequired[str | None]
    truncatedAlerts: NotRequired[Annotated[int, Field(ge=0)]]
    alerts: Annotated[list[WebhookAlert], AfterValidator(_not_empty)]


MESSAGE = TypeAdapter(WebhookMessage)


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
        msg = MESSAGE.validate_json(body)
    except ValueError:  # anything else takes the careful path, which names what is wrong
        data = decode_json(body)
        if not isinstance(data, dict):
            raise PayloadError("expected a JSON object (an Alertmanager webhook message)") from None
        msg = _validated(data)
    return _batch(msg)


def parse_data(data: dict[str, Any]) -> Batch:
    return _batch(_validated(data))


def _validated(data: Any) -> WebhookMessage:
    try:
        return MESSAGE.validate_python(data)
    except ValidationError as exc:
        raise payload_error(exc) from None


# the fields an alert from here is given (the rest keep their defaults), as model_fields_set says
_GIVEN = frozenset({"source", "key", "identity", "host", "status", "event", "name", "summary", "labels",
                    "starts_at", "ends_at", "received_at"})


def _batch(msg: WebhookMessage) -> Batch:
    received = utcnow()
    alerts = []
    for a in msg["alerts"]:
        labels = a["labels"]
        status = a["status"]
        identity = a.get("fingerprint") or digest(*sorted(labels.items()))
        starts = _open_ended(a.get("startsAt"))
        annotations = a.get("annotations") or {}
        # every value is of its Alert field's type already (MESSAGE validated them): no second pass
        alerts.append(unchecked({
            "source": "alertmanager",
            "key": f"alertmanager:{identity}:{status}:{starts.isoformat() if starts else ''}",
            "identity": f"alertmanager:{identity}",
            "host": host_of(labels),
            "server": None,
            "status": status,
            "event": "problem" if status == "firing" else "recovery",
            "name": labels.get("alertname", "") or "(no alertname)",
            "summary": annotations.get("summary") or annotations.get("description") or "",
            "labels": labels,
            "author": None,
            "comment": None,
            "starts_at": starts,
            "ends_at": _open_ended(a.get("endsAt")) if status == "resolved" else None,
            "received_at": received,
        }, _GIVEN))
    warnings = []
    version = msg.get("version")
    if version not in (None, SUPPORTED_VERSION):
        warnings.append(f"unknown webhook version {version!r}; read as version {SUPPORTED_VERSION}")
    truncated = msg.get("truncatedAlerts", 0)
    if truncated:
        warnings.append(f"Alertmanager left out {truncated} alerts (max_alerts)")
    return Batch("alertmanager", alerts, truncated=truncated, warnings=warnings)
