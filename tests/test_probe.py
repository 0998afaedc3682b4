"""HTTP checks against real servers on loopback addresses."""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

from responder.config import ProbeConfig
from responder.inventory import Expect, Server, ServiceSpec, make_target
from tests.support.fleet import Fleet, free_port, next_address
from tests.support.tls import self_signed
from workers.assess.probe import probe


def target(fleet: Fleet, server: str, service: str, url: str | None = None, expect: Expect | None = None,
           verify_tls: bool = True):  # type: ignore[no-untyped-def]
    spec = ServiceSpec(url=url or f"http://{{address}}:{fleet.port(service)}/page", expect=expect or Expect(),
                       verify_tls=verify_tls)
    return make_target("acme", service, spec, server, Server(address=fleet.address(server)))


async def test_outcomes(fleet: Fleet) -> None:
    await fleet.serve("ok", "web", "ok")
    await fleet.serve("bad", "web", "503")
    await fleet.serve("refused", "web", "refuse")
    await fleet.serve("hang", "web", "hang")
    await fleet.serve("wrongbody", "web", "body:maintenance page")
    await fleet.serve("slow", "web", "slow:0.3")
    expect = Expect(body_contains="OK", max_ms=200)
    targets = [target(fleet, s, "web", expect=expect) for s in ("ok", "bad", "refused", "hang", "wrongbody", "slow")]
    results = await probe(targets, ProbeConfig(timeout=1.0, retries=0))
    by = {r.target.server: r.check for r in results}
    assert by["ok"].ok and by["ok"].status == 200 and not by["ok"].slow
    assert not by["bad"].ok and by["bad"].status == 503 and by["bad"].error == "HTTP 503"
    assert not by["refused"].ok and by["refused"].error == "connection refused"
    assert not by["hang"].ok and by["hang"].error == "no answer within 1s"
    assert not by["wrongbody"].ok and by["wrongbody"].error == "the page lacks 'OK'"
    assert by["slow"].ok and by["slow"].slow
    assert [r.target.server for r in results] == ["ok", "bad", "refused", "hang", "wrongbody", "slow"]


async def test_status_list(fleet: Fleet) -> None:
    await fleet.serve("a", "web", "404")
    [r] = await probe([target(fleet, "a", "web", expect=Expect(status=[404]))], ProbeConfig())
    assert r.check.ok


async def test_retries_are_counted(fleet: Fleet) -> None:
    await fleet.serve("a", "web", "503")
    [r] = await probe([target(fleet, "a", "web")], ProbeConfig(retries=2))
    assert r.check.attempts == 3 and not r.check.ok


async def test_timeout_excludes_waiting_for_a_slot(fleet: Fleet) -> None:
    """40 pages of 0.2 s each through 4 slots take 2 s in all, but no single check is slow enough
    to hit a 1 s timeout. Timing the wait for a slot (the old script's bug) would fail most of them."""
    for i in range(40):
        await fleet.serve(f"s{i}", "web", "slow:0.2")
    targets = [target(fleet, f"s{i}", "web") for i in range(40)]
    results = await probe(targets, ProbeConfig(timeout=1.0, retries=0, concurrency=4))
    assert all(r.check.ok for r in results), [r.check.error for r in results if not r.check.ok]


async def test_url_host_is_sent_as_host_header(fleet: Fleet) -> None:
    await fleet.serve("a", "shop", "ok")
    t = target(fleet, "a", "shop", url=f"http://shop.acme.example:{fleet.port('shop')}/health")
    [r] = await probe([t], ProbeConfig())
    assert r.check.ok, r.check.error
    assert fleet.requests == [("a", f"shop.acme.example:{fleet.port('shop')}", "/health")]
    assert r.check.url == f"http://shop.acme.example:{fleet.port('shop')}/health"


async def test_tls_sni_is_the_url_host(tmp_path: Path) -> None:
    """The server picks its certificate by SNI; the probe verifies it against the URL's host while
    connecting to the server's address."""
    cert, key = self_signed(tmp_path, "shop.acme.example")
    seen_sni: list[str | None] = []
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda sock, name, c: seen_sni.append(name)  # type: ignore[assignment,misc]
    app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.Response(text=f"OK {request.host}")

    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    address, port = next_address(), free_port()
    await web.TCPSite(runner, address, port, ssl_context=ctx).start()
    try:
        spec = ServiceSpec(url=f"https://shop.acme.example:{port}/health", expect=Expect(body_contains="OK"))
        t = make_target("acme", "shop", spec, "web-01", Server(address=address))
        [r] = await probe([t], ProbeConfig(ca_file=str(cert)))
        assert r.check.ok, r.check.error
        assert seen_sni == ["shop.acme.example"]
        untrusted = make_target("acme", "shop", ServiceSpec(url=f"https://other.example:{port}/health"),
                                "web-01", Server(address=address))
        [bad] = await probe([untrusted], ProbeConfig(ca_file=str(cert)))
        assert not bad.check.ok and "TLS" in (bad.check.error or "")
        lab = make_target("acme", "shop", ServiceSpec(url=f"https://other.example:{port}/health", verify_tls=False),
                          "web-01", Server(address=address))
        [lax] = await probe([lab], ProbeConfig())
        assert lax.check.ok, lax.check.error
    finally:
        await runner.cleanup()


async def test_a_stalled_loop_does_not_turn_live_servers_into_dead_ones(fleet: Fleet) -> None:
    """Thousands of connections finishing at once on a busy machine stall the probing process's event
    loop; a live server's answer, there in a millisecond, was seen seconds later and judged `cannot
    connect within 2s`. Here every round of the loop costs 0.25 s for 2 s, longer than both timeouts:
    every live server is still ok, and a server that never answers still times out."""
    import asyncio
    import time

    for i in range(20):
        await fleet.serve(f"live{i}", "web", "ok")
    await fleet.serve("hang", "web", "hang")
    targets = [target(fleet, f"live{i}", "web") for i in range(20)] + [target(fleet, "hang", "web")]

    async def busy() -> None:  # a loop where every round costs 0.25 s, for 2 s: four answer timeouts
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            time.sleep(0.25)
            await asyncio.sleep(0)

    stall = asyncio.get_running_loop().create_task(busy())
    results = await probe(targets, ProbeConfig(connect_timeout=0.3, timeout=0.5, retries=0))
    await stall
    by = {r.target.server: r.check for r in results}
    assert all(by[f"live{i}"].ok for i in range(20)), [by[f"live{i}"].error for i in range(20)]
    assert not by["hang"].ok and by["hang"].error == "no answer within 0.5s"


async def test_few_requests_start_at_once_but_waiting_ones_stop_counting() -> None:
    """The turnstile in front of the slots: two young requests at most; a third waits until one ends
    or has been waiting long enough to count as a waiting socket rather than work."""
    import asyncio

    from workers.assess.probe import _Starting

    turnstile = _Starting(2, 3600.0)
    first, _second = await turnstile.admit(), await turnstile.admit()
    third = asyncio.create_task(turnstile.admit())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done()
    first.leave()
    first.leave()  # leaving twice frees one place, not two
    (await third).leave()
    assert turnstile.sem._value == 1

    aging = _Starting(1, 0.01)
    old = await aging.admit()
    young = await aging.admit()  # `old` aged out: no leave() needed
    assert not old.held
    young.leave()
    old.leave()
    assert aging.sem._value == 1
