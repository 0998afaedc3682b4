"""The page's views of a datacenter-sized incident: the matrix keeps the common factors and the worst
clients, and stays linear in the checks (the whole matrix of 2,864 clients on 3,800 servers was 700 MB)."""

from __future__ import annotations

from datetime import UTC, datetime

from responder.model.incident import Incident
from responder.model.verdict import Check, ClientVerdict, ServiceVerdict
from responder.store import Store
from responder.web import views


def client(name: str, servers: list[str], dead: set[str]) -> ClientVerdict:
    checks = [Check(server=s, url=f"http://{s}/", ok=s not in dead, error="refused" if s in dead else None)
              for s in servers]
    failing = sum(not k.ok for k in checks)
    severity = "critical" if failing == len(checks) else "degraded" if failing else "ok"
    return ClientVerdict(client=name, severity=severity, summary="", services=[
        ServiceVerdict(service="shop", severity=severity, servers_total=len(checks), servers_failing=failing,
                       checks=checks)])


def test_a_large_matrix_shows_the_common_factors_and_the_worst_clients() -> None:
    dead = {f"s{n:03d}" for n in range(50)}
    clients = [client(f"c{n:04d}", [f"s{n % 300:03d}", f"s{(n * 7) % 300:03d}", "s999"], dead) for n in range(600)]
    clients.sort(key=lambda c: ({"critical": 0, "degraded": 1, "ok": 2}[c.severity], c.client))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    incident = Incident(id="20261201-000000-abcdef", opened_at=now, updated_at=now, clients=clients)
    m = views.matrix(incident, most_servers=10, most_rows=25)
    assert (m.servers_total, m.rows_total) == (301, 600)
    assert len(m.servers) == 10 and len(m.rows) == 25 and all(len(r.cells) == 10 for r in m.rows)
    counts = [m.failing_for.get(s, 0) for s in m.servers]
    assert counts == sorted(counts, reverse=True)
    assert min(counts) >= max(m.failing_for.get(s, 0) for s in m.failing_for if s not in m.servers)
    shown = [c for c in clients if {k.server for k in c.services[0].checks} & set(m.servers)][:25]
    assert [r.client for r in m.rows] == [c.client for c in shown]  # the worst on the columns shown
    # each cell is what the client's checks on that server said
    for row, verdict in zip(m.rows, shown, strict=True):
        mine = {k.server: k for k in verdict.services[0].checks}
        for server, cell in zip(m.servers, row.cells, strict=True):
            assert cell.state == ("" if server not in mine else "ok" if mine[server].ok else "fail")


def test_a_small_matrix_is_whole() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    incident = Incident(id="20261201-000000-abcdef", opened_at=now, updated_at=now,
                        clients=[client("acme", ["web-01", "web-02"], {"web-01"})])
    m = views.matrix(incident)
    assert m.servers == ["web-01", "web-02"] and (m.servers_total, m.rows_total) == (2, 1)
    assert [c.state for c in m.rows[0].cells] == ["fail", "ok"]


def test_the_api_text_is_the_public_document() -> None:
    """`public_json` (what the API sends) says exactly what `public()` says, progress included."""
    import json

    from responder.model.alert import Alert
    from responder.model.incident import Progress

    now = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)
    incident = Incident(id="20261201-000000-abcdef", opened_at=now, updated_at=now, assessed_at=now,
                        clients=[client("acmé", ["web-01", "web-02"], {"web-01"})], notes=["<b>ack</b> \u2028"],
                        alerts=[Alert(source="alertmanager", key="k1", identity="i1", host="web-01:9100",
                                      server="web-01", status="firing", labels={"team": "ops"},
                                      name="Down", received_at=now)],
                        progress=Progress(checks_total=4, checks_done=2, shards_total=2, shards_done=1,
                                          by_worker={"w1": 2}))
    assert json.loads(incident.public_json()) == incident.public()
    incident.progress = None
    assert json.loads(incident.public_json()) == incident.public()


def test_the_index_names_ten_clients_of_a_large_incident() -> None:
    from responder.web.pages import _env

    now = datetime(2026, 12, 1, tzinfo=UTC)
    big = Incident(id="20261201-000000-abcdef", opened_at=now, updated_at=now,
                   clients=[client(f"c{n:04d}", ["web-01"], {"web-01"}) for n in range(2864)])
    html = _env.get_template("index.html").render(incidents=[big])
    assert html.count('href="/clients/') == 10 and "and 2854 more" in html

def test_the_store_passes_the_verdicts_on_as_stored(store: Store) -> None:
    """The API's text from the store (verdicts spliced in as their stored JSON, never parsed) says what
    the model says. (A document with the verdicts inside, as intake's new incidents and older stores
    have, reads through the same branch as every incident before its first verdict.)"""
    import json

    now = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    incident = Incident(id="20261201-000000-abcdef", opened_at=now, updated_at=now, assessed_at=now,
                        affected=["acmé", "globex"], clients=[client("acmé", ["web-01", "web-02"], {"web-01"}),
                                                            client("globex", ["web-02"], set())])
    with store.transaction() as pipe:
        store.put_incident(pipe, incident)
    [text] = store.public_incidents([incident.id])
    stored = store.get_incident(incident.id)
    assert stored is not None and stored.clients == incident.clients
    assert json.loads(text) == json.loads(stored.public_json())
    assert json.loads(store.list_public_incidents(10)[0]) == json.loads(text)
