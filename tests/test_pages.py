"""The web pages in a real headless Chromium: they render the verdict and never run alert text."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from responder.config import from_data
from responder.intake.sources import alertmanager
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import Check
from responder.store import Store
from tests.support.app_site import app_site
from workers.assess.judge import judge_client, judge_service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make system-deps)")
HOSTILE = '<script>document.body.setAttribute("data-pwned","1")</script><img src=x onerror="document.title=\'pwned\'">'


async def dump_dom(url: str, tmp: Path) -> str:
    """What the page looks like after Chromium ran it: the DOM, serialised."""
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'chromium'}", "--virtual-time-budget=3000", "--dump-dom", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return out.decode()


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[str]:
    cfg = from_data({"inventory": {"servers": {"web-01": {"address": "10.0.0.1"}},
                                   "clients": {"acme": {"servers": ["web-01"],
                                                        "services": [{"shop": {"url": "http://{address}/"}}]}}}},
                    base=tmp_path)
    async with app_site(cfg, store) as base:
        yield base


def hostile_incident(store: Store) -> Incident:
    now = utcnow()
    alert = alertmanager.parse_data({"alerts": [{
        "status": "firing", "labels": {"alertname": HOSTILE, "instance": "web-01:9100"},
        "annotations": {"summary": HOSTILE}, "startsAt": "2025-11-18T09:00:00Z"}]}).alerts[0]
    check = Check(server="web-01", url="http://10.0.0.1/", ok=False, status=503, error=HOSTILE, latency_ms=3.0)
    verdict = judge_client("acme", [judge_service("shop", [check], 10)], 10)
    inc = Incident(id="20251118-090000-abcdef", opened_at=now, updated_at=now, severity="critical",
                   status="assessed", assessed_at=now, clients=[verdict], affected=["acme"],
                   unmapped_hosts=[HOSTILE], notes=[HOSTILE])
    inc.add_alert(alert.model_copy(update={"server": "web-01"}))
    with store.transaction() as pipe:
        store.put_incident(pipe, inc)
    return inc


async def test_incident_page_renders_and_escapes(site: str, store: Store, tmp_path: Path) -> None:
    inc = hostile_incident(store)
    dom = await dump_dom(f"{site}/incidents/{inc.id}", tmp_path)
    assert 'id="severity"' in dom and "critical" in dom
    assert 'data-client="acme"' in dom and "shop down on its only server" in dom
    assert "data-pwned" not in dom.split("</head>")[-1].split("<body")[1].split(">")[0]  # body attributes untouched
    assert "<title>pwned</title>" not in dom
    assert "&lt;script&gt;" in dom  # shown as text, never run


async def test_index_lists_incidents(site: str, store: Store, tmp_path: Path) -> None:
    inc = hostile_incident(store)
    dom = await dump_dom(f"{site}/", tmp_path)
    assert f'href="/incidents/{inc.id}"' in dom
    empty_dom = await dump_dom(f"{site}/incidents/nope", tmp_path)
    assert "No incident nope" in empty_dom


# -- the storm page at a desk and on a phone ---------------------------------------------------------

STORM_INVENTORY = {
    "services": {"shop": {"url": "http://{address}/shop"}, "api": {"url": "http://{address}/api"}},
    "servers": {f"web-0{n}": {"address": f"10.0.0.{n}"} for n in range(1, 5)} | {"lb-01": {"address": "10.0.0.9"}},
    "clients": {
        "acme": {"servers": ["web-01", "web-02"], "services": ["shop"]},
        "globex": {"servers": ["web-01", "web-02", "web-03"], "services": ["shop", "api"]},
        "initech": {"servers": ["web-03", "web-04"], "services": ["api"]},
    },
}
LONG_ERROR = "connection refused by 10.0.0.3:443 after the TLS handshake was reset by the peer (ECONNRESET)"


def storm_incident(store: Store) -> Incident:
    now = utcnow()

    def check(server: str, ok: bool, service: str) -> Check:
        return Check(server=server, url=f"http://{server}/{service}", ok=ok, status=200 if ok else 503,
                     error=None if ok else LONG_ERROR, latency_ms=12.0)

    def client(name: str, services: dict[str, list[Check]]) -> Any:
        servers = STORM_INVENTORY["clients"][name]["servers"]  # type: ignore[index]
        return judge_client(name, [judge_service(s, c, 10, servers=servers) for s, c in services.items()], 10)

    verdicts = [
        client("initech", {"api": [check("web-03", False, "api"), check("web-04", False, "api")]}),
        client("globex", {"shop": [check("web-01", True, "shop"), check("web-02", True, "shop"),
                                   check("web-03", False, "shop")],
                          "api": [check("web-01", True, "api"), check("web-03", False, "api")]}),
        client("acme", {"shop": [check("web-01", True, "shop"), check("web-02", True, "shop")]}),
    ]
    inc = Incident(id="20251118-090000-storm1", opened_at=now, updated_at=now, severity="critical",
                   status="assessed", assessed_at=now, clients=verdicts, affected=["initech", "globex", "acme"])
    payload = {"alerts": [
        {"status": "resolved", "labels": {"alertname": "Old", "instance": "web-04:9100"},
         "startsAt": "2025-11-18T08:00:00Z", "endsAt": "2025-11-18T08:30:00Z"},
        {"status": "firing", "labels": {"alertname": "NodeDown", "instance": "web-03:9100"},
         "startsAt": "2025-11-18T08:59:00Z"},
        {"status": "firing", "labels": {"alertname": "LbDown", "instance": "lb-01:9100"},
         "startsAt": "2025-11-18T08:58:00Z"},
    ]}
    servers = {"web-04": "web-04", "web-03": "web-03", "lb-01": "lb-01"}
    for a in alertmanager.parse_data(payload).alerts:
        inc.add_alert(a.model_copy(update={"server": servers[a.host.split(":")[0]]}))
    with store.transaction() as pipe:
        store.put_incident(pipe, inc)
        for v in verdicts:
            store.put_last_verdict(pipe, v)
    return inc


@pytest.fixture
async def storm_site(store: Store, tmp_path: Path) -> AsyncIterator[str]:
    cfg = from_data({"inventory": STORM_INVENTORY}, base=tmp_path)
    async with app_site(cfg, store) as base:
        yield base


def shots_dir(tmp_path: Path) -> Path:
    """Screenshots go to $RESPONDER_SCREENSHOTS when set (to look at them), else the test's tmp dir."""
    import os

    d = Path(os.environ.get("RESPONDER_SCREENSHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.mark.parametrize("width", [1280, 390])
async def test_storm_page_fits_the_screen(storm_site: str, store: Store, tmp_path: Path, width: int) -> None:
    from tests.support.browser import chromium

    inc = storm_incident(store)
    async with chromium(tmp_path) as page:
        await page.open(f"{storm_site}/incidents/{inc.id}", width)
        shot = await page.screenshot(shots_dir(tmp_path) / f"incident-{width}.png")
        assert shot.stat().st_size > 1000
        await page.screenshot(shots_dir(tmp_path) / f"incident-{width}-top.png", full=False)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width  # nothing off the side
        headline = await page.evaluate("document.getElementById('headline').innerText")
        assert "initech critical, globex degraded" in headline and "web-03 fails for 2 clients" in headline
        for selector in ("#matrix", "#matrix-card .scroll", "#headline"):
            (box,) = await page.boxes(selector)
            assert box["visible"] and box["left"] >= 0 and box["right"] <= width, (selector, box)
        errors = await page.boxes("td.error:not(:empty)")
        assert len(errors) == 4
        for box in errors:
            assert box["visible"] and box["left"] >= 0 and box["right"] <= width, box
        # the common factor is the first column; its cells are coloured by their worst check
        first = await page.evaluate("Array.from(document.querySelectorAll('#matrix tr:first-child th'))"
                                    ".map(e => e.innerText.trim())")
        assert first[1].startswith("web-03")
        cell = "document.querySelector('tr[data-client=globex] td.cell.fail[data-server=web-03]"
        title = await page.evaluate(f"{cell}').title")
        assert "shop: " + LONG_ERROR in title and "api: " in title
        # on tap: the cell opens in place and shows its services' results inside the screen
        await page.evaluate(f"{cell} summary').click()")
        assert await page.evaluate(f"{cell} details').open")
        (pop,) = await page.boxes("details[open] .pop")
        assert pop["visible"] and pop["left"] >= 0
        await page.screenshot(shots_dir(tmp_path) / f"incident-{width}-tapped.png", full=False)


async def test_alerts_firing_first_then_newest(storm_site: str, store: Store, tmp_path: Path) -> None:
    inc = storm_incident(store)
    dom = await dump_dom(f"{storm_site}/incidents/{inc.id}", tmp_path)
    alerts = dom.split('id="alerts"')[1].split("</table>")[0]
    assert alerts.index("NodeDown") < alerts.index("LbDown") < alerts.index("Old")
    assert "2025-11-18 08:59:00" in alerts  # starts_at
    lb_row = alerts.split("LbDown")[0].rsplit("<tr", 1)[1]
    assert "no clients on this server" in lb_row
    assert 'href="/clients/globex"' in dom
    timeline = dom.split('id="timeline"')[1].split("</ol>")[0]
    assert timeline.index("opened by alerts") < timeline.index("assessed: critical")


async def test_client_page(storm_site: str, store: Store, tmp_path: Path) -> None:
    from tests.support.browser import chromium

    inc = storm_incident(store)
    with store.transaction() as pipe:
        store.put_open_incident(pipe, "globex", inc.id)
    async with chromium(tmp_path) as page:
        for width in (1280, 390):
            await page.open(f"{storm_site}/clients/globex", width)
            await page.screenshot(shots_dir(tmp_path) / f"client-{width}.png")
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
            text = await page.evaluate("document.body.innerText")
            assert "Open incident" in text and inc.id in text
            assert "shop failing on web-03, 1 of 3 servers" in text
            assert "1 of 3 failing" in text
    dom = await dump_dom(f"{storm_site}/clients/nobody", tmp_path)
    assert "No client nobody" in dom
