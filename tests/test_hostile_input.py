"""Hostile input that used to get a 500 or worse, each case as the issue found it; auth extras (token
rotation, per-hook tokens, HMAC signatures, constant-time comparison); control characters in terminals
and mail; bounded mail with the full lists attached."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import json
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console

from responder.config import Config, from_data
from responder.intake.sources import SOURCES
from responder.model.alert import Alert, utcnow
from responder.model.incident import Incident
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import PAYLOADS, run_responder
from tests.support.scenario import write_config

INVENTORY = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"web-01": {"address": "10.0.1.21"}},
    "clients": {"acme": {"servers": ["web-01"], "services": ["shop"]}},
}
SECRET = "hmac-secret-0123456789abcdef"
AUTH = {"Authorization": "Bearer old-token", "Content-Type": "application/json"}
GOOD = (PAYLOADS / "alertmanager-firing-single.json").read_bytes()
LONG_INT = b'{"alerts": [{"labels": {"instance": ' + b"7" * 5000 + b"}}]}"


def config(tmp_path: Path, **auth: Any) -> Config:
    return from_data({"inventory": INVENTORY, "incidents": {"group_wait": "1h"},
                      "auth": auth or {"tokens": ["old-token", "new-token"],
                                       "source_tokens": {"zabbix": ["zabbix-only"]}, "hmac_secret": SECRET}},
                     base=tmp_path)


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(config(tmp_path), store))) as c:
        yield c


async def answer(resp: Any) -> tuple[int, dict[str, Any]]:
    text = await resp.text()
    assert resp.content_type == "application/json", text
    return resp.status, json.loads(text)


# -- never a 500 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
async def test_an_integer_of_5000_digits_is_a_400(client: TestClient, source: str) -> None:
    status, body = await answer(await client.post(f"/hooks/{source}", data=LONG_INT, headers=AUTH))
    assert status == 400 and "number" in body["error"]


def test_replay_of_an_integer_of_5000_digits_exits_2(tmp_path: Path) -> None:
    payload = tmp_path / "long.json"
    payload.write_bytes(LONG_INT)
    path = write_config(tmp_path, INVENTORY)
    result = run_responder("replay", str(payload), "--config", str(path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(("encoding", "packed"), [
    ("gzip", gzip.compress(GOOD)), ("x-gzip", gzip.compress(GOOD)), ("deflate", zlib.compress(GOOD)),
    ("deflate", raw_deflate(GOOD)), ("identity", GOOD), ("gzip, gzip", gzip.compress(gzip.compress(GOOD))),
    ("gzip", gzip.compress(GOOD[:100]) + gzip.compress(GOOD[100:])),  # two members
])
async def test_compressed_bodies_are_read(client: TestClient, store: Store, encoding: str, packed: bytes) -> None:
    status, body = await answer(await client.post("/hooks/alertmanager", data=packed,
                                                  headers={**AUTH, "Content-Encoding": encoding}))
    assert status == 202, body


@pytest.mark.parametrize(("encoding", "data", "want"), [
    ("gzip", b"not gzip at all", 400), ("deflate", b"not deflate", 400), ("gzip", gzip.compress(GOOD)[:-12], 400),
    ("br", b"\x00", 415), ("compress", b"\x00", 415), ("gzip, deflate, gzip", b"\x00", 415),
])
async def test_bad_encodings_are_400_or_415(client: TestClient, store: Store, encoding: str, data: bytes,
                                            want: int) -> None:
    status, body = await answer(await client.post("/hooks/alertmanager", data=data,
                                                  headers={**AUTH, "Content-Encoding": encoding}))
    assert status == want and body["error"]
    assert store.deliveries() == []


async def test_a_gzip_bomb_counts_decoded_bytes(client: TestClient, store: Store) -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]")  # 64 MiB of spaces in about 64 KiB
    assert len(bomb) < 1024 * 1024
    status, body = await answer(await client.post("/hooks/alertmanager", data=bomb,
                                                  headers={**AUTH, "Content-Encoding": "gzip"}))
    assert status == 413 and "decoded" in body["error"]


async def test_ids_that_name_other_keys_are_404(client: TestClient, store: Store) -> None:
    now = utcnow()
    inc = Incident(id="20251118-091412-3fa2c1", opened_at=now, updated_at=now)
    inc.add_alert(Alert(source="alertmanager", key="k1", identity="i1", host="web-01", status="firing", name="X"))
    with store.transaction() as pipe:
        store.put_incident(pipe, inc)
    for path in (f"/api/incidents/{inc.id}:alerts", f"/incidents/{inc.id}:alerts", "/api/incidents/..%2F",
                 "/api/incidents/%00", "/incidents/" + "a" * 500):
        resp = await client.get(path)
        assert resp.status == 404, (path, await resp.text())
    assert (await client.get(f"/api/incidents/{inc.id}")).status == 200


@pytest.mark.parametrize("limit", ["²", "١٢", "５", "-1", "0", "1001", "1e3", " 5", "9" * 5000])
async def test_odd_limits_are_400(client: TestClient, limit: str) -> None:
    for path in ("/api/incidents", "/"):
        resp = await client.get(path, params={"limit": limit})
        assert resp.status == 400, (path, limit, await resp.text())


async def test_the_openapi_document_names_every_route(client: TestClient) -> None:
    status, doc = await answer(await client.get("/api/openapi.json"))
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = {r.resource.canonical for r in client.server.app.router.routes()  # type: ignore[union-attr]
              if r.resource is not None}
    assert routes == set(doc["paths"])


# -- auth ----------------------------------------------------------------------------------------------


async def test_every_token_in_the_list_works_and_per_hook_tokens_only_there(client: TestClient) -> None:
    for token in ("old-token", "new-token"):
        resp = await client.post("/hooks/alertmanager", data=GOOD, headers={**AUTH, "Authorization": f"Bearer {token}"})
        assert resp.status == 202
    zabbix = (PAYLOADS / "zabbix-problem.json").read_bytes()
    only = {**AUTH, "Authorization": "Bearer zabbix-only"}
    assert (await client.post("/hooks/zabbix", data=zabbix, headers=only)).status == 202
    assert (await client.post("/hooks/alertmanager", data=GOOD, headers=only)).status == 401


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_a_signed_delivery_needs_no_token(client: TestClient) -> None:
    plain = {"Content-Type": "application/json"}
    resp = await client.post("/hooks/alertmanager", data=GOOD, headers={**plain, "X-Responder-Signature": sign(GOOD)})
    assert resp.status == 202
    packed = gzip.compress(GOOD)  # the signature is over the body as sent
    resp = await client.post("/hooks/alertmanager", data=packed, headers={
        **plain, "Content-Encoding": "gzip", "X-Responder-Signature": sign(packed)})
    assert resp.status == 202
    for bad in (sign(GOOD, "another-secret-of-16+"), sign(GOOD + b" "), "sha1=00", "", "sha256="):
        resp = await client.post("/hooks/alertmanager", data=GOOD, headers={**plain, "X-Responder-Signature": bad})
        status, body = await answer(resp)
        assert status == 401 and SECRET not in json.dumps(body)
    assert (await client.post("/hooks/alertmanager", data=GOOD, headers=plain)).status == 401


def test_tokens_are_each_compared_without_stopping_at_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    from responder.web import hooks

    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(hooks.hmac, "compare_digest", counting)
    tokens = ["first", "second", "third"]
    assert hooks.token_matches("first", tokens)
    assert compared == [b"first", b"second", b"third"]
    compared.clear()
    assert not hooks.token_matches("nope\udcff", tokens)
    assert len(compared) == 3


def test_a_short_hmac_secret_is_refused(tmp_path: Path) -> None:
    from responder.errors import ConfigError

    with pytest.raises(ConfigError, match="16 characters"):
        config(tmp_path, hmac_secret="short")


# -- text safety -------------------------------------------------------------------------------------

NASTY = "down\x1b]0;owned\x07\x1b[2J\x00\u202eevil\x9b"


def nasty_incident() -> Incident:
    from responder.model.verdict import Check, ClientVerdict, LogExcerpt, ServiceVerdict

    now = utcnow()
    inc = Incident(id="20251118-091412-3fa2c1", opened_at=now, updated_at=now, severity="critical",
                   status="assessed", unmapped_hosts=[f"ghost{NASTY}"], quiet=NASTY)
    inc.add_alert(Alert(source="alertmanager", key="k1", identity="i1", host="web-01", server="web-01",
                        status="firing", name="Down", summary=NASTY))
    inc.clients = [ClientVerdict(client="acme", severity="critical", summary=NASTY, changes=[NASTY],
                                 services=[ServiceVerdict(service="shop", severity="critical", servers_total=1,
                                                          servers_failing=1, checks=[Check(
                                                              server="web-01", url="http://x/", ok=False,
                                                              error=NASTY)])],
                                 logs=[LogExcerpt(server="web-01", lines=[NASTY], error=NASTY)])]
    return inc


def test_the_terminal_shows_control_characters_escaped() -> None:
    from responder.cli.terminal import print_incident, print_incident_list

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200, color_system="standard")
    print_incident(console, nasty_incident())
    print_incident_list(console, [nasty_incident()])
    out = buf.getvalue()
    styled = out.replace("\x1b[", "")  # rich's own colour codes are ESC [ ... m; none of the alert's ESC is left
    assert "\x1b]" not in out and "\x07" not in out and "\x00" not in out and "\u202e" not in out
    assert "\x9b" not in out and "[2J" not in styled.replace("\\x1b[2J", "")
    assert "\\x1b]0;owned\\x07" in out and "\\u202e" in out


def test_plain_text_mail_has_no_control_characters(tmp_path: Path) -> None:
    from workers.notify.render import render

    cfg = from_data({"inventory": INVENTORY}, base=tmp_path)
    message = render(cfg, nasty_incident())
    for ch in ("\x1b", "\x00", "\x07", "\x9b"):
        assert ch not in message.text and ch not in message.html
    assert "owned" in message.text  # the words stay, only the control characters go


def test_mail_lists_at_most_50_alerts_and_unmapped_hosts_and_attaches_them_all(tmp_path: Path) -> None:
    from workers.notify.markup import FLAVOURS
    from workers.notify.render import LISTED, chat_text, render

    cfg = from_data({"inventory": INVENTORY, "public_url": "https://r.example.test"}, base=tmp_path)
    now = utcnow()
    inc = Incident(id="20251118-091412-3fa2c1", opened_at=now, updated_at=now, severity="critical",
                   status="assessed", unmapped_hosts=[f"ghost-{i:04d}.example.net" for i in range(8000)])
    for i in range(300):
        inc.add_alert(Alert(source="alertmanager", key=f"k{i}", identity=f"i{i}", host=f"ghost-{i:04d}",
                            status="firing", name="Down", summary=f"alert {i}"))
    message = render(cfg, inc)
    unmapped = len(inc.unmapped_hosts)  # the alerts' own hosts are unmapped too
    assert unmapped >= 8000
    assert len(message.text) < 20_000 and len(message.html) < 40_000
    assert message.text.count("alert ") == LISTED and "+250" in message.text and message.url in message.text
    assert "ghost-0049.example.net" in message.text and "ghost-0050.example.net" not in message.text
    assert f"+{unmapped - 50}" in message.text and f"+{unmapped - 50}" in message.html
    files = {name: data for name, _mime, data in message.attachments}
    alerts = files[f"alerts-{inc.id}.csv"].decode().splitlines()
    assert len(alerts) == 301
    assert len(files[f"unmapped-{inc.id}.txt"].decode().splitlines()) == unmapped
    assert message.digest is not None
    text = chat_text(cfg, message.digest, next(iter(FLAVOURS.values())))
    assert f"+{unmapped - 10}" in text and "+290" in text and len(text) < 5000


def test_mail_of_a_datacenter_outage_describes_the_worst_clients_and_attaches_every_check(tmp_path: Path) -> None:
    from responder.model.verdict import Check
    from workers.assess.judge import judge_client, judge_service
    from workers.notify.render import LISTED_CLIENTS, render

    inventory = {"services": {"shop": {"url": "http://{address}/"}},
                 "servers": {f"s{i}": {"address": f"10.0.{i // 250}.{i % 250 + 1}"} for i in range(2000)},
                 "clients": {f"c{i:04d}": {"servers": [f"s{i % 2000}", f"s{(i + 1) % 2000}"], "services": ["shop"]}
                             for i in range(3000)}}
    cfg = from_data({"inventory": inventory, "public_url": "https://r.example.test"}, base=tmp_path)
    now = utcnow()
    clients = []
    for i in range(3000):
        checks = [Check(server=f"s{(i + k) % 2000}", url="http://x/", ok=k == 1 and i % 2 == 0, status=503,
                        error="HTTP 503", latency_ms=5.0) for k in range(2)]
        verdict = judge_client(f"c{i:04d}", [judge_service("shop", checks, 10)], 10)
        clients.append(verdict.model_copy(update={"changes": ["newly failing"]}))
    clients.sort(key=lambda c: (c.severity != "critical", c.client))
    inc = Incident(id="20251118-091412-3fa2c1", opened_at=now, updated_at=now, severity="critical",
                   status="assessed", clients=clients)
    message = render(cfg, inc)
    size = len(message.text) + len(message.html) + sum(len(data) for _n, _m, data in message.attachments)
    assert size < 3_000_000  # the whole picture was 10 MB, past Postfix's default message size limit
    listed = [c.client for c in clients[:LISTED_CLIENTS]]
    assert all(f"\n{name}: " in message.text for name in listed)
    assert f"\n{clients[LISTED_CLIENTS].client}: " not in message.text
    more = f"+{3000 - LISTED_CLIENTS}"
    assert message.text.count(more) == 2 and message.html.count(more) == 2  # clients, and changes
    assert message.url in message.text
    files = {name: data for name, _mime, data in message.attachments}
    assert len(files[f"checks-{inc.id}.csv"].decode().splitlines()) == 1 + 6000
