"""Hypothesis over every route (structured requests, and raw bytes on a socket of serve's guarded
runner) and over every command's arguments: never a 500, never a traceback, never a token echoed."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from responder.store import Store
from responder.web.app import make_app
from tests.conftest import PAYLOADS
from tests.support.fleet import free_port
from tests.test_fuzz_hooks import AUTH, FUZZ, INVENTORY, NASTY_TEXT, client, config, environment, run_main

__all__ = ["client"]  # the fixture, shared with test_fuzz_hooks


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
@example(method="HEAD", path="/api/%ff/\x80", query={}, headers={}, body=b"")  # two that CI found
@example(method="GET", path="/api/\x1f/%ff", query={"id": "²"}, headers={}, body=b"")
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
    # a '%' is sent as it is (the server decodes it); what a URL cannot carry raw is escaped, as any client
    # would (raw bytes and control characters on the wire are the socket test's part)
    url = URL(quote(path, safe="/%:@!$&'()*+,;=-._~"), encoded=True)
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
        ctx = click.Context(group)
        for name in group.list_commands(ctx):  # the command groups load lazily
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                walk(command, [*prefix, name])
            elif command is not None and name not in LONG_RUNNING:
                out.append(([*prefix, name], [o for p in command.params for o in p.opts if o.startswith("-")]))

    walk(cli, [])
    assert len(out) > 10, out
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
    saved, sys.stdin = sys.stdin, io.StringIO("a password\n")  # `user hash` reads one
    try:
        code, err = run_main([*words, *args])
    finally:
        sys.stdin = saved
    assert code in (0, 1, 2), (words, args, err)
    assert "Traceback" not in err, (words, args, err)
