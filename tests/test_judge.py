"""The verdict rules, as plain unit tests."""

from __future__ import annotations

from responder.model.verdict import Check
from responder.wording import describe_service as describe
from workers.assess.judge import failing_servers, incident_severity, judge_client, judge_service


def checks(*states: str) -> list[Check]:
    """'ok', 'fail' or 'slow' per server s1, s2, ..."""
    return [Check(server=f"s{i}", url=f"http://s{i}/", ok=st != "fail", slow=st == "slow",
                  status=200 if st != "fail" else 503, latency_ms=10.0)
            for i, st in enumerate(states, 1)]


def test_down_on_every_server_is_critical() -> None:
    v = judge_service("shop", checks("fail", "fail"), threshold=10)
    assert (v.severity, v.servers_failing, v.servers_total) == ("critical", 2, 2)
    assert describe(v, 10) == "shop down on both servers"


def test_single_server_down_is_critical() -> None:
    v = judge_service("shop", checks("fail"), threshold=10)
    assert v.severity == "critical"
    assert describe(v, 10) == "shop down on its only server"


def test_some_servers_failing_at_threshold_is_degraded() -> None:
    assert judge_service("s", checks("fail", "ok", "ok"), threshold=33).severity == "degraded"
    assert judge_service("s", checks("fail", *["ok"] * 9), threshold=10).severity == "degraded"


def test_failures_under_threshold_are_ok_but_reported() -> None:
    v = judge_service("s", checks("fail", *["ok"] * 19), threshold=10)
    assert v.severity == "ok"
    assert "under the 10% threshold" in describe(v, 10)


def test_slow_answers_degrade() -> None:
    v = judge_service("s", checks("slow", "ok"), threshold=10)
    assert v.severity == "degraded" and v.servers_slow == 1 and v.servers_failing == 0


def test_all_passing_is_ok() -> None:
    v = judge_service("s", checks("ok", "ok"), threshold=10)
    assert v.severity == "ok"


def test_client_takes_its_worst_service_and_summarises_worst_first() -> None:
    services = [judge_service("reports", checks("fail", "ok"), 10), judge_service("shop", checks("fail", "fail"), 10),
                judge_service("blog", checks("ok", "ok"), 10)]
    c = judge_client("acme", services, 10)
    assert c.severity == "critical"
    assert c.summary.startswith("shop down on both servers; reports failing on s1, 1 of 2 servers")
    assert [s.service for s in c.services] == ["shop", "reports", "blog"]
    assert failing_servers(c) == ["s1", "s2"]


def test_client_all_ok_summary() -> None:
    services = [judge_service("a", checks("ok", "ok"), 10), judge_service("b", checks("ok", "ok"), 10)]
    c = judge_client("acme", services, 10)
    assert (c.severity, c.summary) == ("ok", "both services pass on both servers")


def test_incident_takes_worst_client() -> None:
    ok = judge_client("a", [judge_service("x", checks("ok"), 10)], 10)
    deg = judge_client("b", [judge_service("x", checks("fail", "ok"), 10)], 10)
    assert incident_severity([ok, deg]) == "degraded"
    assert incident_severity([]) == "ok"


def test_failing_checks_listed_first() -> None:
    v = judge_service("s", checks("ok", "fail", "ok"), 10)
    assert [c.ok for c in v.checks] == [False, True, True]


def test_summary_in_the_reports_language() -> None:
    services = [judge_service("shop", checks("fail", "fail"), 10), judge_service("blog", checks("fail", "ok"), 10)]
    assert judge_client("acme", services, 10, language="ru").summary == \
        "shop недоступен на обоих серверах; blog: сбой на s1, 1 из 2"


def test_servers_not_checked_neither_pass_nor_fail() -> None:
    down = [check("web-03", ok=False)]
    v = judge_service("shop", down, 10, servers=["web-01", "web-02", "web-03"])
    assert v.severity == "degraded" and v.not_checked == ["web-01", "web-02"]
    assert v.servers_total == 3 and v.servers_failing == 1 and v.servers_passing == 0
    everything = judge_service("shop", [check("web-01", ok=False), check("web-02", ok=False)], 10,
                               servers=["web-01", "web-02"])
    assert everything.severity == "critical"


def test_min_healthy_makes_too_few_passing_critical() -> None:
    checks = [check("a", ok=True), check("b", ok=True), check("c", ok=False), check("d", ok=False)]
    v = judge_service("shop", checks, 10, servers=["a", "b", "c", "d"], min_healthy=3)
    assert v.severity == "critical" and v.servers_passing == 2 and v.min_healthy == 3
    assert "2 of 4 servers pass, needs 3" in judge_client("acme", [v], 10).summary


def check(server: str, ok: bool) -> Check:
    return Check(server=server, url=f"http://{server}/", ok=ok, status=200 if ok else 503, latency_ms=5.0)
