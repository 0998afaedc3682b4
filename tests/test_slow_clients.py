"""Slow, abusive and broken clients against a real `responder serve`: the hooks keep answering, the log
stays short and holds no secret.

The flood test runs serve under `prlimit --nofile=1024` and holds 2,000 connections that send their
request heads a byte at a time: without the head timeout and the cap on connections still sending a
head, those use up every file descriptor and the hooks stop accepting connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT
from tests.support.fleet import free_port
from tests.support.scenario import write_config
from tests.support.serve_process import serve, wait_until

TOKEN = "tok-SECRET-5d1e7a0c93"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
INVENTORY = {
    "services": {"shop": {"url": "http://{address}:8001/"}},
    "servers": {"web-01": {"address": "10.0.1.21"}},
    "clients": {"acme": {"servers": ["web-01"], "services": ["shop"]}},
}
BODY = json.dumps({"receiver": "r", "status": "firing", "alerts": [{
    "status": "firing", "labels": {"alertname": "Down", "instance": "web-01"}, "annotations": {},
    "startsAt": "2025-11-18T09:14:12Z", "fingerprint": "f1"}], "groupLabels": {}, "commonLabels": {},
    "commonAnnotations": {}, "externalURL": "http://am", "version": "4", "groupKey": "k"}).encode()
pytestmark = pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) is not installed")


def config(tmp_path: Path, port: int, **limits: object) -> Path:
    return write_config(tmp_path, INVENTORY, listen=f"127.0.0.1:{port}", auth={"tokens": [TOKEN]},
                        incidents={"group_wait": "1h"}, limits=limits)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_two_thousand_slow_connections_under_1024_files(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    path = config(tmp_path, port)
    async with serve(path, port, env={"RESPONDER_REDIS_URL": redis_url},
                     prefix=["prlimit", "--nofile=1024:1024"]) as s:
        flood = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.slow_flood", str(port), "2000", cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        try:
            assert flood.stdout is not None and flood.stdin is not None
            assert int((await flood.stdout.readline()).split()[1]) >= 2000  # all open (some again already)
            answered = []
            most_fds = 0
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
                for n in range(20):
                    body = BODY.replace(b'"f1"', f'"f{n}"'.encode())
                    async with session.post(f"{s.base}/hooks/alertmanager", data=body, headers=AUTH) as r:
                        answered.append(r.status)
                    most_fds = max(most_fds, open_fds(s.pid))
            flood.stdin.close()
            opened, closed = map(int, (await flood.stdout.readline()).split()[1::2])
        finally:
            if flood.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    flood.kill()
            await flood.wait()
        assert answered == [202] * 20
        assert most_fds < 1024
        assert closed >= opened - 256  # the cap: all but the newest were shed
        out = s.output()
    assert "Traceback" not in out and "Too many open files" not in out
    assert len([line for line in out.splitlines() if "slow connections" in line]) <= 30, out[-3000:]


async def test_a_head_that_never_ends_is_closed(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    async with serve(config(tmp_path, port, header_timeout="1s", idle_timeout="1s", body_timeout="1s"), port,
                     env={"RESPONDER_REDIS_URL": redis_url}) as s:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 120) == b""  # closed, nothing answered
        writer.close()
        # a body that stops arriving answers 408
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"alerts\"")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 120)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer
        # a kept-alive connection that asks nothing more is closed after its answer
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 120)  # the answer, then the end
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"ok": true}'), answer
        assert "Traceback" not in s.output()


async def raw(port: int, request: bytes, close_early: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    if close_early:
        writer.close()
        return b""
    answer = await asyncio.wait_for(reader.read(), 120)
    writer.close()
    return answer


async def test_bad_requests_are_one_line_and_no_secret_is_written(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    email_password = "pw-SECRET-e2b4"
    slack = "https://hooks.slack.example/services/T0/B0/SECRET-slack-91ab"
    path = write_config(tmp_path, INVENTORY, listen=f"127.0.0.1:{port}", auth={"tokens": [TOKEN]},
                        incidents={"group_wait": "1h"},
                        email={"host": "127.0.0.1", "port": free_port(), "password": email_password,
                               "username": "u", "to": ["noc@example.test"]},
                        chat={"slack": {"url": slack}})
    async with serve(path, port, env={"RESPONDER_REDIS_URL": redis_url}) as s:
        answers = [
            # a token with a control character: aiohttp refuses the head, and used to echo the token
            await raw(port, b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + TOKEN.encode() + b"\x01\r\nContent-Length: 2\r\n\r\n{}"),
            await raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                      + b"\x7f\x00\r\n\r\n"),
            await raw(port, b"GARBAGE\r\n\r\n"),
            await raw(port, b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"),
            # a wrong token: 401 and nothing echoed
            await raw(port, b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      + TOKEN.encode() + b"-wrong\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
        ]
        # a client that goes away mid-body
        await raw(port, b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                  + b"\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"a", close_early=True)
        async with aiohttp.ClientSession() as session, \
                session.post(f"{s.base}/hooks/alertmanager", data=BODY, headers=AUTH) as r:
            assert r.status == 202  # still answering
        await wait_until(lambda: "broke off" in s.output(), "the broken body is logged")
        out = s.output()
    for answer in answers:
        status = answer.split(b"\r\n", 1)[0]
        assert status.split(b" ")[1] in (b"400", b"401"), answer
        assert TOKEN.encode() not in answer
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"application/json" in head and json.loads(body)["error"]
    assert "Traceback" not in out, out
    for secret in (TOKEN, email_password, slack, "SECRET"):
        assert secret not in out, out
    malformed = [line for line in out.splitlines() if "malformed request" in line or "bad or broken" in line
                 or "broke off" in line]
    assert len(malformed) >= 4 and all(" INFO " in line for line in malformed), out


async def test_the_redis_password_is_never_printed(tmp_path: Path) -> None:
    from tests.conftest import run_responder_async

    password = "redispw-SECRET-33c1"
    url = f"redis://:{password}@127.0.0.1:{free_port()}/0"
    path = write_config(tmp_path, INVENTORY, redis_url=url)
    for args in (["incidents"], ["worker", "--burst"]):
        code, out, err = await run_responder_async(*args, "--config", str(path))
        assert code == 2 and password not in out + err and "***@127.0.0.1" in err, err
    port = free_port()
    path = write_config(tmp_path, INVENTORY, redis_url=url, listen=f"127.0.0.1:{port}")
    async with serve(path, port, workers=1) as s:
        async with aiohttp.ClientSession() as session, session.post(
                f"{s.base}/hooks/alertmanager", data=BODY, headers={**AUTH, "Authorization": "Bearer test-token"}) as r:
            assert r.status == 503  # the store is away: retry later
        await wait_until(lambda: "cannot reach Redis" in s.output(), "the worker says why it stops")
        out = s.output()
    assert password not in out and "Traceback" not in out, out
