"""One client's part of an incident, chosen from the data: what stays, what goes, and that whatever the
incident holds, nothing of another client survives."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from responder.config import from_data
from responder.model.alert import Alert
from responder.model.incident import Incident
from responder.model.scope import scope
from responder.model.verdict import NotificationRecord
from tests.support.chat_endpoints import sample_incident, sample_inventory


def inventory():  # type: ignore[no-untyped-def]
    inv = sample_inventory()
    inv["servers"]["lb-01"] = {"address": "10.0.9.1", "aliases": ["lb-01.dc1.example.net"]}
    inv["clients"]["acme"]["depends_on"] = ["lb-01"]
    return from_data({"inventory": inv}, base=Path(".")).inventory


def incident() -> Incident:
    inc = sample_incident()
    now = inc.opened_at
    inc.add_alert(Alert(source="icinga", key="k9", identity="i9", host="lb-01.dc1.example.net", server="lb-01",
                        status="firing", name="LoadBalancerDown"))
    inc.add_alert(Alert(source="icinga", key="k8", identity="i8", host="db-99:5432", status="firing",
                        name="PostgresDown"))
    inc.notes += ["09:00 icinga acknowledgement s1 InstanceDown: on it",
                  "09:01 icinga acknowledgement s3 InstanceDown: globex says wait",
                  "09:02 icinga downtime s2 and s3 maintenance",
                  "09:03 sender warning: db-99 has no address",
                  "09:04 something about nobody"]
    inc.notifications += [
        NotificationRecord(channel="email", to="noc@acme.test", status="sent", at=now, client="acme"),
        NotificationRecord(channel="email", to="ops@globex.test", status="sent", at=now, client="globex"),
        NotificationRecord(channel="email", to="noc@example.test", status="sent", at=now)]
    return inc


def test_acme_sees_its_own_part_only() -> None:
    inc, inv = incident(), inventory()
    part = scope(inc, "acme", inv)
    assert [c.client for c in part.clients] == ["acme"] and part.severity == "critical"
    assert sorted(a.server or "" for a in part.alerts) == ["lb-01", "s1"]  # its server, and what it depends on
    assert part.unmapped_hosts == [] and part.truncated == 0 and part.affected == ["acme"]
    assert part.notes == ["09:00 icinga acknowledgement s1 InstanceDown: on it"]
    assert [n.to for n in part.notifications] == ["noc@acme.test"]
    assert part.headline is None  # "acme down, globex degraded" is the incident's, not acme's
    # the incident itself is untouched
    assert len(inc.clients) == 3 and len(inc.alerts) == 4 and inc.headline


def test_globex_is_degraded_and_never_hears_of_acme() -> None:
    part = scope(incident(), "globex", inventory())
    assert part.severity == "degraded" and [a.server for a in part.alerts] == ["s3"]
    text = part.model_dump_json()
    for other in ("acme", "initech", "shop", "portal", "s1:9100", "lb-01", "db-99", "10.0.0.1/"):
        assert other not in text, other


def test_a_resolved_incident_keeps_its_recovery_headline() -> None:
    inc = incident()
    inc.status, inc.headline = "resolved", "recovered: every check passes"
    assert scope(inc, "acme", inventory()).headline == "recovered: every check passes"


def test_a_client_not_in_the_verdict_or_the_inventory_gets_nothing() -> None:
    for name in ("hooli", "initech-not-there"):
        part = scope(incident(), name, inventory())
        assert part.clients == [] and part.alerts == [] and part.notes == [] and part.severity is None


NAMES = st.sampled_from(["acme", "globex", "initech"])


@settings(max_examples=60, deadline=None)
@given(who=NAMES, notes=st.lists(st.lists(st.sampled_from(
    ["s1", "s2", "s3", "s4", "s5", "lb-01", "acme", "globex", "initech", "db-99", "10.0.0.3", "ack", "on", "it"]),
    max_size=6).map(" ".join), max_size=8))
def test_nothing_of_another_client_survives(who: str, notes: list[str]) -> None:
    """Whatever notes the incident holds, the part names no other client and no server it lacks."""
    inc, inv = incident(), inventory()
    inc.notes = notes
    part = scope(inc, who, inv)
    mine = set(inv.clients[who].servers) | set(inv.clients[who].depends_on)
    others = set(inv.clients) - {who}
    for c in part.clients:
        assert c.client == who
        assert {k.server for s in c.services for k in s.checks} <= mine
    assert all(a.server in mine for a in part.alerts)
    for note in part.notes:
        words = set(note.split())
        assert not words & others and not words & (set(inv.servers) - mine) and "db-99" not in words
        assert "10.0.0.3" not in words or "s3" in mine
