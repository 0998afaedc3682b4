"""The notify commands' disk spool: atomic files, oldest first, rejected kept, one sender at a time."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from responder.forward.spool import Envelope, Posted, Spool, dumps
from tests.conftest import run_responder_async
from tests.support.fleet import free_port


def test_put_is_whole_and_ordered(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    names = [spool.put("icinga", dumps({"n": i})).name for i in range(20)]
    assert spool.pending() == names  # oldest first
    assert list(spool.tmp.iterdir()) == []  # nothing half-written left behind
    envelope = spool.read(names[3])
    assert (envelope.source, json.loads(envelope.body), envelope.attempts) == ("icinga", {"n": 3}, 0)
    assert all(n.endswith(".icinga.json") for n in names)


async def test_flush_sends_oldest_first_and_stops_when_the_receiver_is_away(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(5):
        spool.put("zabbix", dumps({"n": i}))
    seen: list[int] = []

    async def flaky(envelope: Envelope) -> Posted:
        n = json.loads(envelope.body)["n"]
        seen.append(n)
        if n == 1:
            return Posted("rejected", "answered 400: bad", 400)
        if n == 3:
            return Posted("retry", "cannot reach it")
        return Posted("sent", answer={"accepted": 1})

    report = await spool.flush(flaky)
    assert seen == [0, 1, 2, 3]
    assert (len(report.sent), report.left, report.error) == (2, 2, "cannot reach it")
    [(rejected_name, why)] = report.rejected
    assert why == "answered 400: bad"
    kept = spool.read(rejected_name, rejected=True)
    assert (json.loads(kept.body), kept.status, kept.last_error) == ({"n": 1}, 400, "answered 400: bad")
    left = [spool.read(n) for n in spool.pending()]
    assert [json.loads(e.body)["n"] for e in left] == [3, 4]
    assert (left[0].attempts, left[0].last_error) == (1, "cannot reach it")

    async def fine(envelope: Envelope) -> Posted:
        seen.append(json.loads(envelope.body)["n"])
        return Posted("sent")

    seen.clear()
    report = await spool.flush(fine)
    assert seen == [3, 4] and spool.pending() == [] and report.left == 0
    assert spool.requeue_rejected() == 1 and spool.rejected() == []
    assert [json.loads(spool.read(n).body)["n"] for n in spool.pending()] == [1]


async def test_files_spooled_during_a_flush_go_out_in_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put("icinga", dumps({"n": 0}))
    seen: list[int] = []

    async def send(envelope: Envelope) -> Posted:
        n = json.loads(envelope.body)["n"]
        seen.append(n)
        if n < 3:
            spool.put("icinga", dumps({"n": n + 1}))  # another notify process, meanwhile
        return Posted("sent")

    report = await spool.flush(send)
    assert seen == [0, 1, 2, 3] and len(report.sent) == 4 and spool.pending() == []


async def test_an_unreadable_file_is_set_aside_not_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put("icinga", dumps({"n": 0}))
    (spool.root / "00000000000000000001-1-x.icinga.json").write_bytes(b"\xff not an envelope")

    async def send(envelope: Envelope) -> Posted:
        return Posted("sent")

    report = await spool.flush(send)
    assert len(report.sent) == 1 and report.rejected[0][0] == "00000000000000000001-1-x.icinga.json"
    kept = spool.rejected_dir / "00000000000000000001-1-x.icinga.json"
    assert kept.read_bytes() == b"\xff not an envelope"
    assert "unreadable" in (spool.rejected_dir / f"{kept.name}.error").read_text()


class Receiver:
    """A real HTTP receiver that counts what it is sent (answers 202, like /hooks/*)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.read()))
        await asyncio.sleep(0.01)  # keep the race window open
        return web.json_response({"accepted": 1, "incidents": []}, status=202)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{source}", r.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", r.port).start()
    yield r
    await runner.cleanup()


async def test_two_flushing_processes_send_each_alert_once(tmp_path: Path, receiver: Receiver) -> None:
    config = tmp_path / "responder.yaml"
    config.write_text(f"state_dir: {tmp_path / 'var'}\nreceiver: {{url: 'http://127.0.0.1:{receiver.port}', "
                      "token: t}\n")
    spool = Spool(tmp_path / "var" / "spool")
    for i in range(40):
        spool.put("icinga", dumps({"n": i}))
    results = await asyncio.gather(*(run_responder_async("spool", "flush", "--config", str(config))
                                     for _ in range(2)))
    assert all(code == 0 for code, _, _ in results), results
    assert sorted(b["n"] for b in receiver.bodies) == list(range(40))  # once each
    assert [b["n"] for b in receiver.bodies] == list(range(40))  # and in order
    assert spool.pending() == []


def test_spool_directory_permissions_follow_the_umask(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    path = spool.put("icinga", dumps({}))
    assert path.stat().st_mode & 0o077 == 0  # alert text is private to the notifying user
    assert os.access(spool.root, os.W_OK)


async def test_spooled_and_rejected_files_replay(tmp_path: Path) -> None:
    from responder.intake.sources import detect_source, parser_for
    from tests.conftest import PAYLOADS

    spool = Spool(tmp_path / "spool")
    glue = (PAYLOADS / "icinga-host-down.json").read_text()
    sent = spool.root / spool.put("icinga", glue).name
    kept = spool.keep_rejected("zabbix", (PAYLOADS / "zabbix-alertscript-problem.argv.json").read_text()
                               .replace("[", '{"argv": [', 1).rstrip().removesuffix("]") + "]}", "refused")
    for path, source in ((sent, "icinga"), (kept, "zabbix")):
        body = path.read_bytes()
        assert detect_source(body) == source
        assert parser_for(source)(body).alerts


async def test_flush_sweeps_old_half_written_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put("icinga", "{}")
    old = spool.tmp / "crashed.json.abc.tmp"
    old.write_text("{half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = spool.tmp / "writing.json.def.tmp"
    fresh.write_text("{in progress")

    async def away(envelope: Envelope) -> Posted:
        return Posted("retry", "receiver away")

    with spool.lock():
        await spool.flush(away)
    assert not old.exists() and fresh.exists()
    assert len(spool.pending()) == 1
