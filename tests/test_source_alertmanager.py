"""Alertmanager webhook parsing on the edge cases and real captured deliveries."""

from __future__ import annotations

import json

import pytest

from responder.errors import PayloadError
from responder.intake.sources import alertmanager
from responder.model.alert import Alert, with_server
from tests.conftest import PAYLOADS

CAPTURED = PAYLOADS / "captured" / "alertmanager"


def captured_bodies() -> list[tuple[str, bytes]]:
    out = []
    chain = sorted((PAYLOADS / "captured" / "prometheus_chain").glob("0*.json"))
    for path in sorted(CAPTURED.glob("*/0*.json")) + chain:
        doc = json.loads(path.read_text())
        out.append((f"{path.parent.name}/{path.name}", doc["body_text"].encode()))
    return out


@pytest.mark.parametrize(("name", "body"), captured_bodies(), ids=[n for n, _ in captured_bodies()])
def test_every_captured_delivery_parses(name: str, body: bytes) -> None:
    batch = alertmanager.parse(body)
    assert batch.alerts
    for a in batch.alerts:
        assert a.host and a.name and a.key.startswith("alertmanager:")
        assert (a.ends_at is None) == (a.status == "firing")


def test_each_alert_keeps_its_own_status() -> None:
    batch = alertmanager.parse((PAYLOADS / "alertmanager-mixed-partial-resolve.json").read_bytes())
    statuses = {a.host: a.status for a in batch.alerts}
    assert statuses["web-01:9100"] == "resolved" and statuses["web-02:9100"] == "firing"
    assert sum(s == "resolved" for s in statuses.values()) == 3


def test_prometheus_chain_group_firing_with_a_resolved_alert() -> None:
    body = json.loads((PAYLOADS / "captured/prometheus_chain/0002.json").read_text())["body_json"]
    statuses = {a.status for a in alertmanager.parse_data(body).alerts}
    assert body["status"] == "firing" or "resolved" in statuses


def test_firing_and_resolve_share_identity_not_key() -> None:
    fire = alertmanager.parse((PAYLOADS / "alertmanager-firing-single.json").read_bytes()).alerts[0]
    done = alertmanager.parse((PAYLOADS / "alertmanager-resolved-single.json").read_bytes()).alerts[0]
    assert fire.identity == done.identity and fire.key != done.key
    assert fire.ends_at is None and done.ends_at is not None


def test_newer_versions_extra_fields() -> None:
    for name in ("alertmanager-firing-single-v0.32.json", "alertmanager-resolved-single-v0.34.json"):
        assert len(alertmanager.parse((PAYLOADS / name).read_bytes()).alerts) == 1


def test_truncated_is_recorded() -> None:
    batch = alertmanager.parse((PAYLOADS / "alertmanager-firing-truncated.json").read_bytes())
    assert batch.truncated == 7 and len(batch.alerts) == 3


def test_real_payloads_without_fingerprint() -> None:
    batch = alertmanager.parse((PAYLOADS / "alertmanager-real-firing-2019-blackbox.json").read_bytes())
    assert [a.host for a in batch.alerts] == ["172.29.254.30", "172.29.254.50", "172.29.254.66"]
    assert len({a.identity for a in batch.alerts}) == 3
    old = alertmanager.parse((PAYLOADS / "alertmanager-real-resolved-2018.json").read_bytes()).alerts[0]
    assert old.status == "resolved" and old.host == ""


@pytest.mark.parametrize(("name", "field"), [
    ("alertmanager-edge-malformed.json", "alerts[1].status"),
    ("alertmanager-edge-empty-alerts.json", "alerts"),
    ("alertmanager-edge-invalid-body.txt", None),
])
def test_malformed_samples_name_the_problem(name: str, field: str | None) -> None:
    with pytest.raises(PayloadError) as exc:
        alertmanager.parse((PAYLOADS / name).read_bytes())
    assert exc.value.field == field
    assert str(exc.value)


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b"42", b'{"alerts": "x"}', b'{"alerts": [1]}',
                                  b'{"alerts": [{"status": "firing", "labels": {"a": 1}}]}',
                                  b'{"alerts": [{"status": "burning", "labels": {}}]}', b"\xff\xfe",
                                  b'{"alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}'])
def test_bad_shapes(body: bytes) -> None:
    with pytest.raises(PayloadError):
        alertmanager.parse(body)


@pytest.mark.parametrize(("name", "body"), [
    *captured_bodies()[:8],
    ("surrogate", b'{"alerts": [{"status": "firing", "labels": {"alertname": "a\\ud800b", "instance": "h:1"}}]}'),
    ("resolved", (PAYLOADS / "alertmanager-resolved-single.json").read_bytes())])
def test_alerts_built_without_revalidation_are_what_validation_makes(name: str, body: bytes) -> None:
    """The parser builds Alerts from values WebhookMessage validated (no second pass), and mapping copies
    them with their server: each must equal, dump and report its set fields as validation would."""
    for a in alertmanager.parse(body).alerts:
        given = {k: getattr(a, k) for k in a.model_fields_set}
        again = Alert.model_validate(given)
        assert a == again and a.model_fields_set == again.model_fields_set
        assert a.model_dump_json() == again.model_dump_json() and a.model_dump() == again.model_dump()
        placed, copied = with_server(a, "s1"), a.model_copy(update={"server": "s1"})
        assert placed == Alert.model_validate({**given, "server": "s1"}) == copied
        assert placed.model_fields_set == {*a.model_fields_set, "server"}
        assert placed.model_dump_json() == copied.model_dump_json() and a.server is None
