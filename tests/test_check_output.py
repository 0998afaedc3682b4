"""`check --json` writes the verdict one client at a time: byte for byte what json.dumps would."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from responder.cli.assess import _echo_json
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import Check, ClientVerdict, ServiceVerdict


def _client(name: str, ok: bool) -> ClientVerdict:
    check = Check(server="web-01", url="http://10.0.0.1/é", ok=ok, status=200 if ok else 503,
                  error=None if ok else 'HTTP 503 "busy"\nsecond line', latency_ms=1.5)
    service = ServiceVerdict(service="shop", severity="ok" if ok else "critical", servers_total=1,
                             servers_failing=0 if ok else 1, servers_passing=1 if ok else 0, checks=[check])
    return ClientVerdict(client=name, severity=service.severity, summary="ünïcode \u2028 summary",
                         services=[service])


@pytest.mark.parametrize("clients", [0, 1, 3])
def test_streamed_json_equals_the_whole_document(clients: int) -> None:
    now = utcnow()
    incident = Incident(id="check-x", opened_at=now, updated_at=now, affected=[f"c{i}" for i in range(clients)],
                        notes=['a "note"\twith\ncontrol characters'],
                        clients=[_client(f"c{i}", ok=i % 2 == 0) for i in range(clients)])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _echo_json(incident)
    assert out.getvalue() == json.dumps(incident.public(), indent=2, ensure_ascii=False) + "\n"
