"""Logins and signed client links over real HTTP, a real SMTP server and a real headless Chromium.

The pages and the API refuse without a login and work with one; a contact's link, taken from the mail
the contact received, opens without a login and shows nothing of any other client; a link with one
changed character, or past its expiry, is refused; the NOC's mail links to the full page, behind the
login."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import bcrypt
import pytest

from responder import links
from responder.config import Config, from_data
from responder.store import Store
from responder.web.app import make_app
from responder.web.auth import Throttle
from tests.support.app_site import app_site
from tests.support.chat_endpoints import sample_incident, sample_inventory
from tests.support.fleet import free_port
from tests.support.smtp import Collector
from tests.test_pages import dump_dom
from workers.notify.job import notify

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make system-deps)")
PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)  # as htpasswd -B
OTHERS = ("globex", "initech", "store", "portal", "s3", "s4", "s5", "10.0.0.3", "10.0.0.4", "10.0.0.5",
          "ops@globex.test", "it@initech.test", "noc@example.test")


@dataclass
class Site:
    base: str
    config: Config

    def auth(self, password: str = PASSWORD) -> dict[str, str]:
        return basic("noc", password)


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def config(tmp_path: Path, port: int, smtp_port: int = 25, **auth: object) -> Config:
    return from_data({
        "listen": f"127.0.0.1:{port}", "state_dir": "var", "inventory": sample_inventory(),
        "auth": {"tokens": ["test-token"], "users": {"noc": HASH}, "link_ttl": "1h", **auth},
        "email": {"host": "127.0.0.1", "port": smtp_port, "sender": "responder@test", "to": ["noc@example.test"]},
        "routes": {"critical": ["email"], "degraded": ["email"], "ok": ["email"]},
    }, base=tmp_path)


@pytest.fixture
async def site(store: Store, smtp: Collector, tmp_path: Path) -> AsyncIterator[Site]:
    port = free_port()
    cfg = config(tmp_path, port, smtp.port)  # type: ignore[attr-defined]
    async with app_site(cfg, store, port) as base:
        yield Site(base, cfg)


def words(text: str) -> set[str]:
    return set(re.findall(r"[\w.@-]*\w", text))


async def test_pages_and_api_refuse_without_a_login_and_work_with_one(site: Site, store: Store) -> None:
    inc = sample_incident()
    with store.transaction() as pipe:
        store.put_incident(pipe, inc)
    guarded = ["/", f"/incidents/{inc.id}", "/api/incidents", f"/api/incidents/{inc.id}", "/clients/acme",
               "/nowhere", "/incidents/../api/incidents"]
    async with aiohttp.ClientSession() as s:
        for path in guarded:
            async with s.get(site.base + path) as r:
                assert r.status == 401, path
                assert r.headers["WWW-Authenticate"].startswith('Basic realm="Responder"'), path
                assert "globex" not in await r.text()
            async with s.get(site.base + path, headers=site.auth("wrong")) as r:
                assert r.status == 401, path
        for path in ("/", f"/incidents/{inc.id}", "/api/incidents", f"/api/incidents/{inc.id}"):
            async with s.get(site.base + path, headers=site.auth()) as r:
                assert r.status == 200, path
                assert "globex" in await r.text()
        for path in ("/healthz", "/readyz", "/metrics"):  # open by design
            async with s.get(site.base + path) as r:
                assert r.status == 200, path
        async with s.post(site.base + "/hooks/alertmanager", data=b"{}", headers={
                "Authorization": "Bearer test-token", "Content-Type": "application/json"}) as r:
            assert r.status == 400  # the bearer token let it through to the parser; no login asked
        async with s.get(site.base + "/api/incidents", headers={"Authorization": "Basic !!!"}) as r:
            assert r.status == 401 and (await r.json()) == {"error": "login required"}
        async with s.get(site.base + "/metrics") as r:
            metrics = await r.text()
        assert 'responder_login_failures_total{reason="password"} 7.0' in metrics
        assert 'responder_login_failures_total{reason="malformed"} 1.0' in metrics


async def test_a_burst_of_failures_is_slowed(site: Site) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(Throttle.limit):
            async with s.get(site.base + "/api/incidents", headers=basic("mallory", "guess")) as r:
                assert r.status == 401
        started = time.monotonic()
        async with s.get(site.base + "/api/incidents", headers=basic("mallory", "guess")) as r:
            assert r.status == 401
        assert time.monotonic() - started >= Throttle.first_delay  # waited before it was even checked
        async with s.get(site.base + "/metrics") as r:
            assert 'responder_login_failures_total{reason="unknown_user"} 6.0' in await r.text()


def test_the_throttle_doubles_and_forgets() -> None:
    t = Throttle(limit=3, window=60, max_delay=2.0, first_delay=0.5)
    for i in range(3):
        assert t.delay("10.0.0.9", 100.0 + i) == 0
        t.failed("10.0.0.9", 100.0 + i)
    assert t.delay("10.0.0.9", 103) == 0.5 and t.delay("10.0.0.8", 103) == 0
    t.failed("10.0.0.9", 103)
    t.failed("10.0.0.9", 104)
    assert t.delay("10.0.0.9", 105) == 2.0  # capped
    assert t.delay("10.0.0.9", 170) == 0  # the window passed


async def test_metrics_behind_the_login_when_asked(store: Store, tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(make_app(config(tmp_path, 8080, metrics=True), store))) as c:
        assert (await c.get("/metrics")).status == 401
        assert (await c.get("/metrics", headers=basic("noc", PASSWORD))).status == 200
        assert (await c.get("/healthz")).status == 200


def test_serve_says_loudly_when_the_pages_are_open(store: Store, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    open_cfg = from_data({"listen": "0.0.0.0:8080", "state_dir": "var", "inventory": sample_inventory(),
                          "auth": {"tokens": ["t"]}}, base=tmp_path)
    with caplog.at_level(logging.WARNING, "responder.web"):
        make_app(open_cfg, store)
        make_app(open_cfg.model_copy(update={"listen": "127.0.0.1:8080"}), store)
        make_app(config(tmp_path, 8080).model_copy(update={"listen": "0.0.0.0:8080"}), store)
    assert [r.getMessage() for r in caplog.records if "NO LOGINS" in r.getMessage()] == [
        "NO LOGINS CONFIGURED (auth.users): the pages and /api/* show every client's incidents to anyone who "
        "can reach 0.0.0.0:8080; see README, Keeping the pages private"]


async def mailed(site: Site, store: Store, smtp: Collector) -> dict[str, str]:
    """Send the sample incident's notifications through the real SMTP server; each recipient's text."""
    inc = sample_incident()
    with store.transaction() as pipe:
        store.put_incident(pipe, inc)
    outcomes = await notify(store, site.config, inc.id, "state-1")
    assert outcomes and all(o.record.status == "sent" for o in outcomes), outcomes
    mails = await asyncio.to_thread(smtp.wait_for, len(outcomes))
    out = {}
    for m in mails:
        body = m.get_body(("plain",))
        assert body is not None
        out[str(m["To"])] = body.get_content()
    return out


def link_in(text: str) -> str:
    """The message's link to Responder (the hostile sample alert carries a link of its own)."""
    [url] = set(re.findall(r"http://127\.0\.0\.1:\d+/\S+", text))
    return url


@needs_chromium
async def test_a_contacts_link_opens_without_login_and_shows_no_other_client(
        site: Site, store: Store, smtp: Collector, tmp_path: Path) -> None:
    texts = await mailed(site, store, smtp)
    assert set(texts) == {"noc@acme.test", "ops@globex.test", "noc@example.test"}
    acme = link_in(texts["noc@acme.test"])
    assert acme.startswith(f"{site.base}/share/20251118-091412-3fa2c1/acme?exp=")
    dom = await dump_dom(acme, tmp_path)
    assert 'data-client="acme"' in dom and "shop" in dom and "http://10.0.0.1/shop" in dom
    body = dom.split("<body", 1)[1]
    assert not words(body) & set(OTHERS), words(body) & set(OTHERS)
    assert 'href="/' not in body  # no way from here to the pages behind the login
    globex = await dump_dom(link_in(texts["ops@globex.test"]), tmp_path)
    assert 'data-client="globex"' in globex and "acme" not in globex.split("<body", 1)[1]

    shot = tmp_path / "share.png"
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-shot'}", "--window-size=1200,800", f"--screenshot={shot}", acme,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.wait_for(proc.wait(), timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
async def test_the_noc_link_leads_to_the_full_page_behind_the_login(
        site: Site, store: Store, smtp: Collector, tmp_path: Path) -> None:
    texts = await mailed(site, store, smtp)
    noc = link_in(texts["noc@example.test"])
    assert noc == f"{site.base}/incidents/20251118-091412-3fa2c1"
    refused = await dump_dom(noc, tmp_path)  # headless Chromium cancels the login prompt: nothing shown
    assert "globex" not in refused and "data-client" not in refused
    async with aiohttp.ClientSession() as s, s.get(noc) as r:
        assert r.status == 401 and "Login required" in await r.text()
    logged_in = noc.replace("http://", f"http://noc:{PASSWORD.replace(' ', '%20')}@")
    full = await dump_dom(logged_in, tmp_path)
    assert 'data-client="globex"' in full and 'data-client="acme"' in full


async def test_a_changed_or_expired_link_is_refused(site: Site, store: Store, smtp: Collector) -> None:
    texts = await mailed(site, store, smtp)
    good = link_in(texts["noc@acme.test"])
    sig_at = good.index("sig=") + 4
    changed = [good[:sig_at + 5] + ("A" if good[sig_at + 5] != "A" else "B") + good[sig_at + 6:],
               good.replace("/acme?", "/globex?"), good.replace("exp=", "exp=1"), good[:-1],
               good.split("&sig=")[0], good.replace("20251118-091412-3fa2c1", "20251118-091412-3fa2c2")]
    key = links.secret(site.config)
    expired = site.base + links.path(key, "20251118-091412-3fa2c1", "acme", int(time.time()) - 1)
    async with aiohttp.ClientSession() as s:
        async with s.get(good) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
        for url in changed:
            async with s.get(url) as r:
                page = await r.text()
                assert r.status == 403, url
                assert "not valid" in page and "shop" not in page and r.content_type == "text/html"
        async with s.get(expired) as r:
            assert r.status == 403 and "expired" in await r.text()


async def test_user_hash_reads_the_password_from_stdin_and_prints_a_usable_hash() -> None:
    from tests.conftest import run_responder_async

    code, out, err = await run_responder_async("user", "hash", "noc", "--rounds", "4", stdin=f"{PASSWORD}\n".encode())
    assert code == 0, err
    name, _, quoted = out.strip().partition(": ")
    assert name == "noc" and bcrypt.checkpw(PASSWORD.encode(), quoted.strip('"').encode())
    from_data({"inventory": {}, "auth": {"users": {"noc": quoted.strip('"')}}}, base=Path("."))  # the config takes it
    code, out, err = await run_responder_async("user", "hash", stdin=b"\n")
    assert code == 2 and err.strip() == "responder: the password cannot be empty"
