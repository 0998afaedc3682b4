"""Who is told what, and why: the per-scope rules (responder/lifecycle/tell.py), the next look, the
subject's reasons and counts, and the details sources keep (acknowledgements, Zabbix's event time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from responder.config import Config, from_data
from responder.intake.sources import icinga, zabbix
from responder.lifecycle.maintenance import Window
from responder.lifecycle.settle import next_look, settle
from responder.lifecycle.tell import client_view, noc_view, tell
from responder.model.alert import Alert
from responder.model.incident import NOC, Incident
from responder.model.verdict import Check, ClientVerdict
from workers.assess.judge import judge_client, judge_service
from workers.notify.channels import teams
from workers.notify.render import render, subject

T0 = datetime(2025, 11, 18, 9, 0, tzinfo=UTC)
INVENTORY: dict[str, Any] = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"s1": {"address": "10.0.0.1"}, "s2": {"address": "10.0.0.2"}, "s3": {"address": "10.0.0.3"}},
    "clients": {"acme": {"servers": ["s1", "s2"], "services": ["shop"]},
                "globex": {"servers": ["s2", "s3"], "services": ["shop"]}},
}


def config(tmp_path: Path, **incidents: Any) -> Config:
    rules = {"group_wait": "0s", "cooldown": "30m", "recheck": "5m", "repeat": "4h", **incidents}
    return from_data({"inventory": INVENTORY, "incidents": rules}, base=tmp_path)


def verdict(client: str, states: dict[str, bool]) -> ClientVerdict:
    checks = [Check(server=s, url=f"http://{s}/", ok=ok, status=200 if ok else 503, error=None if ok else "HTTP 503",
                    latency_ms=10.0) for s, ok in states.items()]
    return judge_client(client, [judge_service("shop", checks, 10)], 10)


def incident(*hosts: str, status: str = "firing") -> Incident:
    inc = Incident(id="20251118-090000-aaaaaa", opened_at=T0, updated_at=T0, affected=["acme", "globex"])
    for h in hosts:
        inc.add_alert(Alert(source="alertmanager", key=f"k-{h}-{status}", identity=f"i-{h}", host=f"{h}:9100",
                            server=h if h.startswith("s") else None, status=status, name="Down"))  # type: ignore[arg-type]
    return inc


def assess(inc: Incident, cfg: Config, now: datetime, acme: dict[str, bool], globex: dict[str, bool],
           windows: list[Window] = ()) -> dict[str, list[str]]:  # type: ignore[assignment]
    settle(inc, [verdict("acme", acme), verdict("globex", globex)], {}, list(windows), cfg, now)
    return {k: list(v) for k, v in tell(inc, cfg.incidents, now).items()}


DOWN, UP = False, True


def test_first_verdict_tells_the_noc_and_only_failing_clients(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    inc = incident("s1")
    due = assess(inc, cfg, T0, {"s1": DOWN, "s2": UP}, {"s2": UP, "s3": UP})
    assert due == {NOC: ["first"], "acme": ["first"]}  # globex is fine and was never in trouble
    assert inc.notify_seq == 1 and inc.told["acme"].state("acme") == "acme-1"


def test_a_contact_hears_nothing_when_only_another_client_changed(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    inc = incident("s2")
    assess(inc, cfg, T0, {"s1": DOWN, "s2": UP}, {"s2": UP, "s3": DOWN})
    due = assess(inc, cfg, T0 + timedelta(minutes=5), {"s1": DOWN, "s2": UP}, {"s2": UP, "s3": UP})
    assert due == {NOC: ["changed"], "globex": ["recovered"]}
    due = assess(inc, cfg, T0 + timedelta(minutes=10), {"s1": DOWN, "s2": UP}, {"s2": UP, "s3": UP})
    assert due == {}  # nothing new for anyone


def test_resolved_but_still_failing_is_news_for_everyone_who_sees_a_failure(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    inc = incident("s2")
    assess(inc, cfg, T0, {"s1": DOWN, "s2": DOWN}, {"s2": DOWN, "s3": UP})
    resolved = incident("s2", status="resolved")
    inc.alerts = resolved.alerts
    due = assess(inc, cfg, T0 + timedelta(minutes=1), {"s1": DOWN, "s2": DOWN}, {"s2": UP, "s3": UP})
    assert due == {NOC: ["resolved_failing", "changed"], "acme": ["resolved_failing"], "globex": ["recovered"]}
    assert inc.status == "assessed" and inc.headline == "alerts resolved, but shop on s1, shop on s2 still failing"
    # the sites come back: recovered, closed, once
    due = assess(inc, cfg, T0 + timedelta(minutes=6), {"s1": UP, "s2": UP}, {"s2": UP, "s3": UP})
    assert due == {NOC: ["recovered"], "acme": ["recovered"]}
    assert inc.status == "resolved" and next_look(inc, [], cfg, T0) is None
    assert assess(inc, cfg, T0 + timedelta(minutes=7), {"s1": UP, "s2": UP}, {"s2": UP, "s3": UP}) == {}


def test_reminders_while_it_still_fails_and_never_sooner(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    inc = incident("s1")
    failing = {"s1": DOWN, "s2": UP}
    assess(inc, cfg, T0, failing, {"s2": UP, "s3": UP})
    assert assess(inc, cfg, T0 + timedelta(hours=3, minutes=59), failing, {"s2": UP, "s3": UP}) == {}
    due = assess(inc, cfg, T0 + timedelta(hours=4), failing, {"s2": UP, "s3": UP})
    assert due == {NOC: ["reminder"], "acme": ["reminder"]}
    assert assess(inc, cfg, T0 + timedelta(hours=5), failing, {"s2": UP, "s3": UP}) == {}
    # repeat: 0 turns reminders off
    off = config(tmp_path, repeat=0)
    inc = incident("s1")
    assess(inc, off, T0, failing, {"s2": UP, "s3": UP})
    assert assess(inc, off, T0 + timedelta(days=2), failing, {"s2": UP, "s3": UP}) == {}


def test_maintenance_is_silence_and_its_end_is_news(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    window = Window(id="m-1", client="acme", starts=T0, ends=T0 + timedelta(hours=1), reason="PHP upgrade")
    inc = incident("s2")
    due = assess(inc, cfg, T0 + timedelta(minutes=1), {"s1": DOWN, "s2": DOWN}, {"s2": UP, "s3": DOWN}, [window])
    assert due == {NOC: ["first"], "globex": ["first"]}  # acme's contacts hear nothing
    assert noc_view(inc).maintenance == ("acme",) and inc.told["acme"].silenced
    assert inc.headline is None
    # acme changes inside its window: news for nobody
    due = assess(inc, cfg, T0 + timedelta(minutes=2), {"s1": UP, "s2": DOWN}, {"s2": UP, "s3": DOWN}, [window])
    assert due == {}
    # the window ends: acme is back in the NOC's picture, and its contacts hear of it
    due = assess(inc, cfg, T0 + timedelta(hours=1), {"s1": UP, "s2": DOWN}, {"s2": UP, "s3": DOWN}, [window])
    assert due == {NOC: ["maintenance_ended", "changed"], "acme": ["maintenance_ended", "first"]}
    assert not [c for c in inc.clients if c.maintenance]


def test_a_window_starting_is_told_to_the_noc_only(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    window = Window(id="m-2", client="acme", starts=T0 + timedelta(minutes=5), ends=T0 + timedelta(hours=1))
    inc = incident("s1")
    assess(inc, cfg, T0, {"s1": DOWN, "s2": UP}, {"s2": UP, "s3": UP}, [window])
    assert next_look(inc, [window], cfg, T0) == T0 + timedelta(minutes=5)  # recheck and window start coincide
    due = assess(inc, cfg, T0 + timedelta(minutes=5), {"s1": DOWN, "s2": UP}, {"s2": UP, "s3": UP}, [window])
    assert due == {NOC: ["maintenance_started", "changed"]}
    assert next_look(inc, [window], cfg, T0 + timedelta(minutes=59)) == T0 + timedelta(hours=1)


def test_the_whole_incident_in_maintenance_tells_nobody(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    windows = [Window(id=f"m-{c}", client=c, starts=T0, ends=T0 + timedelta(hours=1)) for c in ("acme", "globex")]
    inc = incident("s2")
    assert assess(inc, cfg, T0, {"s1": DOWN, "s2": DOWN}, {"s2": DOWN, "s3": UP}, windows) == {}


def test_next_look_rechecks_only_while_something_fails(tmp_path: Path) -> None:
    cfg = config(tmp_path, recheck="30s")
    inc = incident("s1")
    assess(inc, cfg, T0, {"s1": DOWN, "s2": UP}, {"s2": UP, "s3": UP})
    assert next_look(inc, [], cfg, T0) == T0 + timedelta(seconds=30)
    assess(inc, cfg, T0, {"s1": UP, "s2": UP}, {"s2": UP, "s3": UP})
    assert inc.status == "assessed" and next_look(inc, [], cfg, T0) is None  # all pass, the alert still fires
    assert next_look(inc, [], config(tmp_path, recheck=0), T0) is None


# -- combined rules ----------------------------------------------------------------------------------

PICTURE = st.fixed_dictionaries({"s1": st.booleans(), "s2": st.booleans()})
GLOBEX = st.fixed_dictionaries({"s2": st.booleans(), "s3": st.booleans()})
STEP = st.tuples(PICTURE, GLOBEX, st.integers(0, 300), st.booleans(), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=8))
def test_rules_combined(tmp_path_factory: Any, steps: list[tuple[dict[str, bool], dict[str, bool], int, bool, bool]]
                        ) -> None:
    """Over any run of assessments (pictures, minutes apart, acme in a window or not, alerts resolved):
    acme's contacts are told exactly what acme alone would have told them; nobody hears of acme inside
    its window; nobody is told the same thing twice within the cooldown; every message has a reason."""
    cfg = config(tmp_path_factory.mktemp("c"), cooldown="30m", repeat="1h")
    both, alone = incident("s2"), incident("s2")
    alone.affected = ["acme"]
    now = T0
    last: dict[str, tuple[Any, list[str], datetime]] = {}
    for acme, globex, minutes, quiet, resolved in steps:
        now += timedelta(minutes=minutes)
        windows = [Window(id="m", client="acme", starts=now, ends=now + timedelta(minutes=1))] if quiet else []
        for inc in (both, alone):
            if resolved:
                inc.alerts = incident("s2", status="resolved").alerts
        due = assess(both, cfg, now, acme, globex, windows)
        settle(alone, [verdict("acme", acme)], {}, windows, cfg, now)
        alone_due = tell(alone, cfg.incidents, now)
        assert due.get("acme") == (list(alone_due["acme"]) if "acme" in alone_due else None)
        if quiet:
            assert "acme" not in due and "acme" not in [c.client for c in both.clients if not c.maintenance]
            assert noc_view(both).content == noc_view(_without(both, "acme")).content
        for scope, reasons in due.items():
            assert reasons
            view = noc_view(both) if scope == NOC else client_view(both, next(c for c in both.clients
                                                                                if c.client == scope))
            if scope in last:
                was_view, was_reasons, at = last[scope]
                assert not (was_view == view and was_reasons == reasons and now - at < timedelta(minutes=30))
            last[scope] = (view, reasons, now)


def _without(inc: Incident, client: str) -> Incident:
    return inc.model_copy(update={"clients": [c for c in inc.clients if c.client != client]})


# -- what a message says --------------------------------------------------------------------------


def test_subject_says_why_counts_every_host_and_recovers_only_the_failing(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    inc = incident("s1", "db-99")  # db-99 is in no inventory: it still alerts
    assess(inc, cfg, T0, {"s1": DOWN, "s2": DOWN}, {"s2": UP, "s3": UP})
    assert subject(inc, inc.clients, reasons=["first"]) == \
        "[CRITICAL] acme critical · globex ok · 2 servers alerting · first verdict"
    inc.alerts = incident("s1", "db-99", status="resolved").alerts
    assess(inc, cfg, T0 + timedelta(minutes=5), {"s1": UP, "s2": UP}, {"s2": UP, "s3": UP})
    assert inc.status == "resolved"
    message = render(cfg, inc, reasons=inc.told[NOC].reasons)
    assert message.subject == "[OK] acme recovered · globex ok · 1 hosts not in the inventory · recovered"
    assert message.text.splitlines()[0] == "recovered"


def test_noc_message_names_a_client_in_maintenance_and_nothing_more(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    window = Window(id="m-1", client="acme", starts=T0, ends=T0 + timedelta(hours=1), reason="PHP upgrade")
    inc = incident("s1", "s2")
    assess(inc, cfg, T0 + timedelta(minutes=1), {"s1": DOWN, "s2": DOWN}, {"s2": UP, "s3": DOWN}, [window])
    message = render(cfg, inc, reasons=inc.told[NOC].reasons)
    body = message.text + message.html + message.subject + b"".join(a[2] for a in message.attachments).decode()
    assert "In maintenance (not reported): acme" in message.text
    assert "s1" not in body  # acme's own server: its alert and its checks are acme's business
    assert body.count("acme") == 2  # the maintenance line, in text and html
    assert "globex" in message.subject and "acme" not in message.subject
    card = teams.build(message).decode()  # the Teams card says it too, and nothing more of acme
    assert "In maintenance (not reported): acme" in card and card.count("acme") == 1 and "s1" not in card


# -- details kept by the sources ---------------------------------------------------------------------


def test_icinga_acknowledgement_keeps_author_and_comment() -> None:
    batch = icinga.parse_data({"notification_type": "ACKNOWLEDGEMENT", "host_name": "s1", "service_name": "http",
                               "service_state": "CRITICAL", "notification_author": "alice",
                               "notification_comment": "on it, disk full", "timet": "1763457000"})
    [a] = batch.alerts
    assert (a.event, a.author, a.comment) == ("acknowledgement", "alice", "on it, disk full")
    assert "(by alice: on it, disk full)" in a.describe()


def test_zabbix_update_keeps_user_and_message_and_every_event_its_time() -> None:
    base = {"event_id": "4711", "event_value": "1", "host_host": "s1", "event_name": "HTTP down",
            "event_date": "2025.11.18", "event_time": "09:14:12"}
    [problem] = zabbix.parse_data(base).alerts
    assert problem.starts_at == datetime(2025, 11, 18, 9, 14, 12, tzinfo=UTC) and problem.author is None
    [update] = zabbix.parse_data({**base, "event_update_status": "1", "event_update_user": "Bob Admin",
                                  "event_update_message": "rebooting", "event_update_action": "acknowledged"}).alerts
    assert (update.event, update.author, update.comment) == ("update", "Bob Admin", "rebooting")
    [recovery] = zabbix.parse_data({**base, "event_value": "0", "event_recovery_date": "2025.11.18",
                                    "event_recovery_time": "09:40:00"}).alerts
    assert recovery.ends_at == datetime(2025, 11, 18, 9, 40, tzinfo=UTC)
    [odd] = zabbix.parse_data({**base, "event_date": "{EVENT.DATE}"}).alerts
    assert odd.starts_at is None
