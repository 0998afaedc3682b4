"""The web pages in a real headless Chromium: they render the verdict and never run alert text."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from responder.config import from_data
from responder.intake.sources import alertmanager
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import Check
from responder.store import Store
from responder.web.app import make_app
from tests.support.fleet import free_port
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
    runner = web.AppRunner(make_app(cfg, store), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


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
