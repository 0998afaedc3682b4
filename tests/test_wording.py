"""The words: plural forms in both languages, no bare ratios, a check that never overstates."""

from __future__ import annotations

import pytest

from responder.model.verdict import Check
from responder.wording import count, every_server, of_failing, plural
from workers.assess.judge import judge_client, judge_service


@pytest.mark.parametrize(("n", "en", "ru"), [
    (1, "1 server", "1 сервер"), (2, "2 servers", "2 сервера"), (4, "4 servers", "4 сервера"),
    (5, "5 servers", "5 серверов"), (11, "11 servers", "11 серверов"), (12, "12 servers", "12 серверов"),
    (21, "21 servers", "21 сервер"), (22, "22 servers", "22 сервера"), (25, "25 servers", "25 серверов"),
    (111, "111 servers", "111 серверов"),
])
def test_plural_forms(n: int, en: str, ru: str) -> None:
    assert count(n, "server", "en") == en
    assert count(n, "server", "ru") == ru


def test_every_and_of() -> None:
    assert [every_server(n) for n in (1, 2, 3)] == ["its only server", "both servers", "all 3 servers"]
    assert of_failing(0, 3) == "0 of 3 failing"
    assert plural(1, ("a", "b", "c"), "ru") == "a"


def check(server: str, ok: bool) -> Check:
    return Check(server=server, url="http://x/", ok=ok, status=200 if ok else 503)


def test_partial_check_never_overstates() -> None:
    """`check --server web-03` on a client of three servers: failing there, the rest not checked."""
    v = judge_service("reports", [check("web-03", False)], 10, servers=["web-01", "web-02", "web-03"])
    c = judge_client("globex", [v], 10)
    assert c.severity == "degraded"
    assert c.summary == "reports failing on web-03, 1 of 3 servers; 2 not checked"
    ru = judge_client("globex", [v], 10, language="ru").summary
    assert ru == "reports: сбой на web-03, 1 из 3; не проверено: 2 сервера"


def test_many_failing_servers_are_counted_not_named() -> None:
    servers = [f"s{i}" for i in range(6)]
    v = judge_service("shop", [check(s, i > 3) for i, s in enumerate(servers)], 10, servers=servers)
    assert judge_client("a", [v], 10).summary == "shop failing on 4 of 6 servers"
