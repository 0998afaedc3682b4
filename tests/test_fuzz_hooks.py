"""Every hook and both notify commands against the payload corpus and hypothesis-made input.

Invariants: never a 500 and never a traceback; a 202 means every alert of the delivery is in the store
(its key indexed, and in an incident when it drives an assessment); a 4xx stores nothing and names the
problem; a notify command leaves exactly one file behind (spooled, or kept as rejected) for every run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responder.config import Config, from_data
from responder.errors import PayloadError
from responder.forward.spool import Spool
from responder.intake.sources import SOURCES, icinga, parser_for, zabbix
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import PAYLOADS
from tests.support.fleet import free_port

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
INVENTORY = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"web-01": {"address": "10.0.1.21"}, "db-01": {"address": "10.0.2.11"}},
    "clients": {"acme": {"servers": ["web-01", "db-01"], "services": ["shop"]}},
}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])


def config(tmp_path: Path) -> Config:
    return from_data({"inventory": INVENTORY, "auth": {"tokens": ["test-token"]},
                      "incidents": {"group_wait": "10s"}}, base=tmp_path)


@pytest.fixture
async def client(store: Store, tmp_path: Path) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(config(tmp_path), store))) as c:
        yield c


def corpus() -> list[tuple[str, bytes]]:
    """Every saved payload, and the bodies of every captured delivery."""
    out = [(p.name, p.read_bytes()) for p in sorted(PAYLOADS.glob("*")) if p.is_file()]
    for p in sorted((PAYLOADS / "captured").rglob("*.json")):
        doc = json.loads(p.read_text())
        body = doc["body_text"].encode() if isinstance(doc, dict) and "body_text" in doc else p.read_bytes()
        out.append((str(p.relative_to(PAYLOADS)), body))
    return out


CORPUS = corpus()


async def check_delivery(client: TestClient, store: Store, source: str, body: bytes,
                         headers: dict[str, str] | None = None) -> int:
    """POST one body and hold the invariants; answers the status."""
    store.clear()
    resp = await client.post(f"/hooks/{source}", data=body, headers=AUTH if headers is None else headers)
    raw = await resp.text()
    assert resp.status != 500, raw
    assert "Traceback" not in raw
    assert resp.content_type == "application/json", raw
    answer = json.loads(raw)
    deliveries = store.deliveries()
    if resp.status == 202:
        [delivery] = deliveries
        keys = delivery["alerts"]
        batch = parser_for(source)(body)
        assert len(keys) == len(batch.alerts) == answer["accepted"] + answer.get("duplicates", 0)
        for key in keys:
            assert store.alert_stored(key), key
        assessing = [k for k, a in zip(keys, batch.alerts, strict=True) if a.event in ("problem", "recovery")]
        known = store.known_alert_keys(assessing)
        assert set(known) == set(assessing)
        for key in assessing:
            incident = store.get_incident(known[key][0])
            assert incident is not None and key in {a.key for a in incident.alerts}
    else:
        assert 400 <= resp.status < 500 and answer["error"], raw
        assert deliveries == [] and store.count_incidents() == 0
    return resp.status


@pytest.mark.parametrize(("name", "body"), CORPUS, ids=[n for n, _ in CORPUS])
async def test_the_corpus_on_every_hook(client: TestClient, store: Store, name: str, body: bytes) -> None:
    statuses = {source: await check_delivery(client, store, source, body) for source in SOURCES}
    if len(body) <= 1024 * 1024:
        # each payload is accepted by at least the hook it was made for, or refused by all with a reason
        assert set(statuses.values()) <= {202, 400}


async def test_field_is_named_on_the_new_hooks(client: TestClient) -> None:
    resp = await client.post("/hooks/icinga", data=b'{"host_name": "web-01"}', headers=AUTH)
    assert (resp.status, await resp.json()) == (400, {
        "error": "notification_type: missing: the notification type ($notification.type$, flag -t)",
        "field": "notification_type"})
    resp = await client.post("/hooks/zabbix", data=(PAYLOADS / "zabbix-edge-test-button.json").read_bytes(),
                             headers=AUTH)
    answer = await resp.json()
    assert resp.status == 400 and answer["field"] == "event_id"


@pytest.mark.parametrize("source", ["icinga", "zabbix"])
async def test_same_auth_and_limits_as_alertmanager(client: TestClient, store: Store, source: str) -> None:
    body = (PAYLOADS / f"{source}-problem.json" if source == "zabbix" else PAYLOADS / "icinga-host-down.json")
    data = body.read_bytes()
    for headers in ({"Content-Type": "application/json"}, {**AUTH, "Authorization": "Bearer nope"}):
        assert (await client.post(f"/hooks/{source}", data=data, headers=headers)).status == 401
    resp = await client.post(f"/hooks/{source}", data=data, headers={**AUTH, "Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.post(f"/hooks/{source}", data=b"{" + b" " * (1024 * 1024 + 10) + b"}", headers=AUTH)
    assert resp.status == 413
    assert store.count_incidents() == 0
    first = await client.post(f"/hooks/{source}", data=data, headers=AUTH)
    again = await client.post(f"/hooks/{source}", data=data, headers=AUTH)
    assert first.status == again.status == 202
    assert (await again.json())["duplicates"] == 1 and store.count_incidents() == 1


async def test_store_down_is_503_on_the_new_hooks(tmp_path: Path) -> None:
    from responder.store import connect

    dead = Store(connect(f"redis://127.0.0.1:{free_port()}/0"))
    async with TestClient(TestServer(make_app(config(tmp_path), dead))) as c:
        for source, name in (("icinga", "icinga-host-down.json"), ("zabbix", "zabbix-problem.json")):
            resp = await c.post(f"/hooks/{source}", data=(PAYLOADS / name).read_bytes(), headers=AUTH)
            assert resp.status == 503 and resp.headers["Retry-After"]


# -- hypothesis: mutated real payloads ---------------------------------------------------------------

NASTY_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "{EVENT.ID}", "*UNKNOWN*", "{$ZABBIX.URL}", "0", "1", "PROBLEM", "RECOVERY",
                     "ACKNOWLEDGEMENT", "firing", "resolved", "web-01", "10.0.1.21", "\ud800", "\x00", "a\nb",
                     "2025-11-18 09:14:31 +0000", "1763457271", "9" * 40, "-1", "1e999", "\u202e", "'; DROP"]),
)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), NASTY_TEXT)
JSON_VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn, value: Any, rate: int) -> Any:
    """The value with some keys dropped, some values replaced, some text made nasty (about 1 in `rate`)."""
    def hit() -> bool:
        return draw(st.integers(0, rate - 1)) == 0

    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if hit():
                if draw(st.booleans()):
                    continue
                out[k] = draw(JSON_VALUES)
            else:
                out[k] = draw(mutated(v, rate))
        if hit():
            out.update(draw(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=2)))
        return out
    if isinstance(value, list):
        keep = draw(st.integers(0, len(value))) if hit() else len(value)
        return [draw(mutated(v, rate)) for v in value[:keep]]
    if isinstance(value, str):
        return draw(NASTY_TEXT) if hit() else value
    return draw(LEAVES) if hit() else value


TEMPLATES = {
    "alertmanager": [json.loads((PAYLOADS / n).read_text()) for n in (
        "alertmanager-firing-single.json", "alertmanager-mixed-partial-resolve.json")],
    "icinga": [json.loads((PAYLOADS / n).read_text()) for n in (
        "icinga-host-down.json", "icinga-service-acknowledgement.json", "icinga-host-down.argv.json")],
    "zabbix": [json.loads((PAYLOADS / n).read_text()) for n in (
        "zabbix-problem.json", "zabbix-recovery.json", "zabbix-alertscript-problem.argv.json")],
}


@st.composite
def bodies(draw: st.DrawFn, source: str) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return json.dumps(draw(JSON_VALUES)).encode()
    value = draw(mutated(draw(st.sampled_from(TEMPLATES[source])), draw(st.sampled_from([4, 16, 64]))))
    return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("source", SOURCES)
@settings(FUZZ, max_examples=150)
@given(data=st.data())
async def test_hypothesis_on_every_hook(client: TestClient, store: Store, source: str, data: st.DataObject) -> None:
    body = data.draw(bodies(source))
    await check_delivery(client, store, source, body)


# -- hypothesis: the notify commands' input ----------------------------------------------------------

FLAG_WORDS = [f"-{s}" for s, _, _ in icinga.FLAGS if s] + [f"--{long}" for _, long, _ in icinga.FLAGS] + ["--"]
ARG = st.one_of(st.sampled_from(FLAG_WORDS), NASTY_TEXT)
ICINGA_ENV = st.dictionaries(st.sampled_from([*icinga.ENV, "PATH", "HOME"]), NASTY_TEXT, max_size=6)


@FUZZ
@given(argv=st.lists(ARG, max_size=12), env=ICINGA_ENV)
def test_icinga_argv_parses_or_says_why(argv: list[str], env: dict[str, str]) -> None:
    try:
        batch = icinga.from_argv(argv, env)
    except PayloadError as exc:
        assert str(exc)
    else:
        assert len(batch.alerts) == 1 and batch.alerts[0].host


@FUZZ
@given(sendto=NASTY_TEXT, subject=NASTY_TEXT,
       lines=st.lists(st.tuples(st.sampled_from([*zabbix.TEMPLATE_KEYS, "Host", "Original problem ID"]), NASTY_TEXT),
                      max_size=12),
       extra=st.lists(NASTY_TEXT, max_size=3))
def test_zabbix_script_parses_or_says_why(sendto: str, subject: str, lines: list[tuple[str, str]],
                                          extra: list[str]) -> None:
    message = "\n".join(f"{k}: {v}" for k, v in lines)
    try:
        batch = zabbix.from_script(sendto, subject, message, extra)
    except PayloadError as exc:
        assert str(exc)
    else:
        assert len(batch.alerts) == 1 and batch.alerts[0].key.startswith("zabbix:")


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_main(args: list[str]) -> tuple[int, str]:
    """`responder ARGS` in this process (hypothesis runs many): the exit code and stderr."""
    from responder.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:
            code = 0
    return code, err.getvalue()


@pytest.fixture
def notify_setup(tmp_path: Path) -> Iterator[tuple[Path, Spool]]:
    path = tmp_path / "notify.yaml"
    path.write_text(f"state_dir: {tmp_path / 'var'}\nreceiver: {{url: 'http://127.0.0.1:{free_port()}', "
                    "token: t, timeout: 2s}\n")
    spool = Spool(tmp_path / "var" / "spool")
    with environment({"RESPONDER_CONFIG": str(path)}):
        yield path, spool


def files(spool: Spool) -> int:
    return len(spool.pending()) + len(spool.rejected())


@FUZZ
@given(argv=st.lists(ARG, max_size=10), env=ICINGA_ENV)
def test_notify_icinga_never_loses_a_run(notify_setup: tuple[Path, Spool], argv: list[str],
                                         env: dict[str, str]) -> None:
    """Receiver away: every run ends with its alert spooled (exit 0) or kept as rejected (exit 2)."""
    _, spool = notify_setup
    argv = [a.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for a in argv]
    if argv in (["--help"], ["-h"]) or "--config" in argv or any(a.startswith("--config=") for a in argv):
        return
    before = files(spool)
    real = {k: v.replace("\x00", "").encode("utf-8", "replace").decode() for k, v in env.items()}  # what exec allows
    with environment(real):
        code, err = run_main(["notify", "icinga", *argv])
    assert code in (0, 2), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    assert files(spool) == before + 1


@FUZZ
@given(args=st.lists(NASTY_TEXT, min_size=0, max_size=5))
def test_notify_zabbix_never_loses_a_run(notify_setup: tuple[Path, Spool], args: list[str]) -> None:
    config, spool = notify_setup
    args = [a.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for a in args]
    before = files(spool)
    code, err = run_main(["notify", "zabbix", "--config", str(config), "--", *args])
    assert code in (0, 2), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
    assert files(spool) == before + 1
    if code == 0:
        newest = spool.read(spool.pending()[-1])
        assert newest.source == "zabbix" and zabbix.parse(newest.body.encode()).alerts


# -- hypothesis: every route, as aiohttp's client sends it and as raw bytes on a socket -----------------

SECRET_TOKEN = "test-token"
ROUTE_PATHS = ["/hooks/alertmanager", "/hooks/icinga", "/hooks/zabbix", "/hooks/{x}", "/api/incidents",
               "/api/incidents/{x}", "/api/incidents/{x}:alerts", "/api/openapi.json", "/", "/incidents/{x}",
               "/incidents/{x}:alerts", "/healthz", "/readyz", "/metrics", "/{x}", "/api/{x}/{x}"]
SEGMENT = st.one_of(st.sampled_from(["@ID@", "@ID@:alerts", "20251118-091412-3fa2c1", "x", "..", "%00", "%2e%2e",
                                     "a" * 300, "²", "%ff",
                                     "incident", "alerts", "%3A"]),
                    st.text(st.characters(codec="utf-8", exclude_characters="/?#"), max_size=20))
QUERY = st.dictionaries(st.sampled_from(["limit", "id", "x", ""]),
                        st.one_of(st.sampled_from(["²", "5", "0", "-1", "1001", "9" * 40, "", "%00"]),
                                  st.text(max_size=10)), max_size=3)
HEADER_VALUE = st.one_of(
    st.sampled_from(["", "Bearer test-token", "Bearer nope", "bearer  test-token ", "Basic dGVzdA==",
                     "application/json", "text/plain", "application/x+json", "gzip", "deflate", "br",
                     "gzip, deflate", "identity", "sha256=00", "sha256=", "-1", "99999999999"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30))
HEADERS = st.dictionaries(st.sampled_from(["Authorization", "Content-Type", "Content-Encoding", "Accept",
                                           "X-Responder-Signature", "User-Agent", "Accept-Encoding"]),
                          HEADER_VALUE, max_size=5)


@st.composite
def route(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(ROUTE_PATHS))
    while "{x}" in path:
        path = path.replace("{x}", draw(SEGMENT), 1)
    return path


@settings(FUZZ, max_examples=200)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]), path=route(),
       query=QUERY, headers=HEADERS, body=st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"{}", b"[]"])))
async def test_hypothesis_on_every_route(client: TestClient, store: Store, method: str, path: str,
                                         query: dict[str, str], headers: dict[str, str], body: bytes) -> None:
    from yarl import URL

    if not store.count_incidents():  # one incident with alerts, so `<id>:alerts` names a real key
        await client.post("/hooks/alertmanager", data=(PAYLOADS / "alertmanager-firing-single.json").read_bytes(),
                          headers=AUTH)
    [incident] = store.list_incidents(1)
    path = path.replace("@ID@", incident.id)
    url = URL(path, encoded=True) if "%" in path else path
    resp = await client.request(method, url, params=query, headers=headers, data=body if method != "GET" else None)
    text = await resp.text(errors="replace")
    assert resp.status < 500, (method, path, query, headers, text)
    assert "Traceback" not in text and SECRET_TOKEN not in text


@pytest.fixture
async def socket_server(store: Store, tmp_path: Path) -> AsyncIterator[int]:
    """The app behind serve's guarded runner, on a loopback port of this test's loop."""
    from aiohttp import web

    from responder.runtime.connections import GuardedRunner

    cfg = config(tmp_path)
    runner = GuardedRunner(make_app(cfg, store), cfg.limits, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


RAW_LINE = st.one_of(
    st.tuples(st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"G\x00T", b"", b"POST\t"]),
              route().map(lambda p: p.encode("utf-8", "surrogatepass")),
              st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 extra", b"", b"HTTP/9"])).map(
        lambda t: b" ".join(t)),
    st.binary(max_size=60))
RAW_HEADER = st.one_of(
    st.tuples(st.sampled_from([b"Authorization", b"Content-Type", b"Content-Length", b"Transfer-Encoding",
                               b"Content-Encoding", b"Host", b"X-Responder-Signature", b"Bad Name", b""]),
              st.one_of(st.sampled_from([b"Bearer test-token", b"Bearer test-token\x01", b"application/json",
                                         b"chunked", b"gzip", b"5", b"-1", b"abc", b"99999999999999999999"]),
                        st.binary(max_size=30))).map(lambda kv: kv[0] + b": " + kv[1]),
    st.binary(max_size=40))


@settings(FUZZ, max_examples=150)
@given(line=RAW_LINE, headers=st.lists(RAW_HEADER, max_size=6), body=st.binary(max_size=200))
async def test_hypothesis_raw_requests_on_a_socket(socket_server: int, line: bytes, headers: list[bytes],
                                                   body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """Whatever bytes arrive, the answer is a well-formed 4xx (or a closed connection), never a 500, never
    a token echoed, and nothing worse than one INFO line is logged."""
    import asyncio

    caplog.set_level("INFO")
    reader, writer = await asyncio.open_connection("127.0.0.1", socket_server)
    writer.write(line + b"\r\n" + b"".join(h.replace(b"\r\n", b" ") + b"\r\n" for h in headers) + b"\r\n" + body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
        writer.write_eof()
    try:
        answer = await asyncio.wait_for(reader.read(), 60)
    except ConnectionError:
        answer = b""
    writer.close()
    if answer:
        status_line = answer.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1."), answer
        assert not status_line.split(b" ")[1].startswith(b"5"), answer
    assert SECRET_TOKEN.encode() not in answer
    for record in caplog.records:
        assert record.levelno < 40 and not record.exc_info, record.getMessage()


# -- hypothesis: every command's arguments -------------------------------------------------------------

LONG_RUNNING = {"serve", "worker"}  # they run until stopped; their arguments are checked in test_cli


def commands() -> list[tuple[list[str], list[str]]]:
    """(command words, its option names) for every command of `responder`."""
    import click

    from responder.cli import cli

    out: list[tuple[list[str], list[str]]] = []

    def walk(group: click.Group, prefix: list[str]) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])
            elif name not in LONG_RUNNING:
                out.append(([*prefix, name], [o for p in command.params for o in p.opts if o.startswith("-")]))

    walk(cli, [])
    return out


COMMANDS = commands()


@pytest.fixture
def cli_config(redis_url: str, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "responder.yaml"
    inventory = {**INVENTORY, "servers": {"web-01": {"address": "127.0.0.1"}, "db-01": {"address": "127.0.0.1"}},
                 "services": {"shop": {"url": f"http://{{address}}:{free_port()}/"}}}
    path.write_text(json.dumps({
        "redis_url": redis_url, "state_dir": str(tmp_path / "var"), "inventory": inventory,
        "auth": {"tokens": ["test-token"]}, "probe": {"timeout": "1s", "retries": 0},
        "receiver": {"url": f"http://127.0.0.1:{free_port()}", "token": "t", "timeout": "1s"}}))
    with environment({"RESPONDER_CONFIG": str(path)}):
        yield path


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_hypothesis_on_every_commands_arguments(cli_config: Path, data: st.DataObject) -> None:
    words, options = data.draw(st.sampled_from(COMMANDS))
    extra = [o for o in options if o not in ("--config", "--logs")] or ["--"]
    args = data.draw(st.lists(st.one_of(st.sampled_from(extra), NASTY_TEXT, st.sampled_from(
        ["web-01", "acme", "shop", "20251118-091412-3fa2c1", "x:alerts", "1h", "-5", "²", "9" * 5000,
         str(PAYLOADS / "alertmanager-firing-single.json"), "/dev/null", "/nonexistent"])), max_size=5))
    args = [a.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "") for a in args]
    if any(a in ("--help", "-h", "--config") or a.startswith("--config=") for a in args):
        return
    code, err = run_main([*words, *args])
    assert code in (0, 1, 2), (words, args, err)
    assert "Traceback" not in err, (words, args, err)
