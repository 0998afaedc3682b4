"""The terminal at 80 columns and in a pipe: ids and times whole, the headline printed, words not ratios."""

from __future__ import annotations

import io
from datetime import timedelta

from rich.console import Console

from responder.cli.terminal import print_incident, print_incident_list, print_windows
from responder.lifecycle.maintenance import Window
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import Check
from workers.assess.judge import judge_client, judge_service


def pipe(width: int = 80) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=False, color_system=None), buf


def incident() -> Incident:
    now = utcnow()
    checks = [Check(server="web-03", url="http://x/", ok=False, status=503, error="HTTP 503 " + "x" * 80)]
    verdict = judge_client("globex-international-holdings", [judge_service(
        "reports", checks, 10, servers=["web-01", "web-02", "web-03"])], 10)
    return Incident(id="20261201-081512-3fa2c1", opened_at=now, updated_at=now, status="assessed",
                    severity=verdict.severity, clients=[verdict], affected=[verdict.client] * 1)


def test_incident_list_keeps_ids_and_times_whole() -> None:
    console, buf = pipe()
    inc = incident()
    inc.affected = [f"client-with-a-long-name-{n}" for n in range(6)]
    inc.clients = []
    print_incident_list(console, [inc])
    text = buf.getvalue()
    assert inc.id in text and f"{inc.opened_at:%Y-%m-%d %H:%M}" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_incident_prints_headline_and_words() -> None:
    console, buf = pipe()
    print_incident(console, incident(), stored=False)
    text = buf.getvalue()
    assert "20261201-081512-3fa2c1" in text
    assert "globex-international-holdings degraded" in text  # the headline
    assert "1 of 3 failing" in text and "1/3" not in text
    assert "dry run: not stored" in text


def test_windows_keep_ids_and_ends_whole() -> None:
    now = utcnow()
    w = Window(id="m-5f1c2a9e", client="acme-corporation-with-a-long-name", starts=now,
               ends=now + timedelta(hours=2), reason="PHP upgrade on every web server " * 3)
    console, buf = pipe()
    print_windows(console, [w], now)
    text = buf.getvalue()
    assert w.id in text and f"{w.ends:%Y-%m-%d %H:%M}" in text and f"{w.starts:%Y-%m-%d %H:%M}" in text
    assert max(len(line) for line in text.splitlines()) <= 80
