"""Log lines: JSON lines or text, each line about an incident naming it; alert text stays escaped.

The end-to-end tests run the real `serve` (its supervised worker inherits the format) and a real
`responder worker` through an incident of the shared scenario.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from responder.runtime import logs
from tests.conftest import ROOT, run_responder_async
from tests.support.fleet import Fleet, free_port
from tests.support.scenario import shared_fleet, storm, write_config

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
HOSTILE = "web\x1b]0;owned\x07\x1b[2J\nfake 2026 line\u202e"


def record(message: str, *args: Any, name: str = "responder.test", **extra: Any) -> logging.LogRecord:
    r = logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)
    r.__dict__.update(extra)
    logs.IncidentFilter().filter(r)
    return r


def test_json_line_has_the_fields_and_the_incident() -> None:
    with logs.about("20261201-081200-abcdef"):
        r = record("probe of %s failed", HOSTILE, server="s1")
    line = logs.JsonFormatter().format(r)
    assert "\n" not in line and line.isascii()
    data = json.loads(line)
    assert data["message"] == f"probe of {HOSTILE} failed"
    assert data["incident"] == "20261201-081200-abcdef"
    assert data["level"] == "info" and data["logger"] == "responder.test" and data["server"] == "s1"
    assert data["ts"].endswith("Z") and "T" in data["ts"]


def test_text_line_tags_the_incident_and_writes_control_characters_out() -> None:
    with logs.about("20261201-081200-abcdef"):
        line = logs.TextFormatter().format(record("alert %s", HOSTILE))
    assert " [incident=20261201-081200-abcdef] alert web\\x1b]0;owned\\x07\\x1b[2J\\x0afake 2026 line\\u202e" in line
    assert "\x1b" not in line and "\n" not in line
    assert "[incident=" not in logs.TextFormatter().format(record("no incident here"))


def test_a_traceback_keeps_its_lines_but_not_its_escapes() -> None:
    try:
        raise ValueError(HOSTILE)
    except ValueError:
        r = logging.LogRecord("responder.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = logs.TextFormatter().format(r)
    assert "Traceback" in text and "\n" in text and "\x1b" not in text
    assert "ValueError" in json.loads(logs.JsonFormatter().format(r))["exc"]


def test_rq_lines_name_the_incident_of_their_job() -> None:
    r = record("Worker w1: %s (%s)", "Job OK", "notify-20261201-081200-abcdef-3", name="rq.worker")
    assert r.incident == "20261201-081200-abcdef"
    assert record("Worker w1: cleaning registries", name="rq.worker").incident is None
    # only RQ's lines are read this way: ours name the incident through the context
    assert record("20261201-081200-abcdef mentioned", name="responder.x").incident is None


def test_incident_job_sets_the_context_and_logs_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str | None] = []

    @logs.incident_job
    def job(incident_id: str, n: int) -> str:
        seen.append(logs.current())
        return f"{n} done"

    caplog.handler.addFilter(logs.IncidentFilter())
    with caplog.at_level(logging.INFO):
        assert job("20261201-081200-abcdef", 2) == "2 done"
    assert seen == ["20261201-081200-abcdef"] and logs.current() is None
    [line] = [r for r in caplog.records if r.getMessage() == "job: 2 done"]
    assert line.incident == "20261201-081200-abcdef"  # type: ignore[attr-defined]


def test_configure_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="xml"):
        logs.configure("INFO", "xml")


async def test_bad_log_format_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _out, err = await run_responder_async("worker", "--log-format", "xml", "--config", str(tmp_path / "x.yaml"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--log-format" in err


# -- end to end ------------------------------------------------------------------------------------


async def _serve(config: Path, stderr: Path, *args: str) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RESPONDER_REDIS_URL", "REDIS_URL", logs.FORMAT_ENV)}
    with stderr.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "responder", "serve", "--config", str(config), *args,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=sink)
    port = int(config.read_text().split("listen: 127.0.0.1:")[1].split()[0].strip("'\""))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            assert proc.returncode is None, stderr.read_text()
            try:
                async with session.get(f"{base}/readyz") as r:
                    if r.status == 200:
                        return proc, base
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"serve never got ready: {stderr.read_text()}")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)


async def _incident(base: str, fleet: Fleet, wait: bool) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/hooks/alertmanager", data=storm(fleet), headers=AUTH) as r:
            assert r.status == 202
            [iid] = (await r.json())["incidents"]
        for _ in range(1200 if wait else 0):
            async with session.get(f"{base}/api/incidents/{iid}") as r:
                data = await r.json()
            if data.get("severity") and data.get("assessed_at"):
                break
            await asyncio.sleep(0.1)
        else:
            assert not wait, f"incident {iid} was never assessed"
    return str(iid)


def _about(lines: list[dict[str, Any]], iid: str) -> list[dict[str, Any]]:
    return [d for d in lines if d.get("incident") == iid]


async def test_serve_and_its_workers_write_json_lines_naming_the_incident(
        fleet: Fleet, tmp_path: Path, redis_url: str) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet), listen=f"127.0.0.1:{free_port()}", redis_url=redis_url)
    stderr = tmp_path / "serve.log"
    proc, base = await _serve(path, stderr, "--workers", "1", "--log-format", "json")
    try:
        iid = await _incident(base, fleet, wait=True)
        await asyncio.sleep(1.0)  # the job's outcome line is written after the incident is stored
    finally:
        await _stop(proc)
    raw = stderr.read_text().splitlines()
    assert raw, "serve wrote no log lines"
    lines = [json.loads(line) for line in raw]  # every line, serve's and its worker's, is one JSON object
    assert all({"ts", "level", "logger", "message"} <= d.keys() for d in lines)
    mine = _about(lines, iid)
    loggers = {d["logger"] for d in mine}
    assert "responder.hooks" in loggers  # the intake
    assert {"workers.assess.job", "workers.assess.join"} <= loggers, loggers  # the worker's jobs
    assert any(d["logger"].startswith("rq.") for d in mine)  # RQ's own lines about its jobs
    assert [d for d in lines if iid in d["message"] and d.get("incident") != iid] == []
    assert any(d["message"].startswith("join_job: critical") for d in mine)


async def test_a_worker_writes_text_lines_tagged_with_the_incident(
        fleet: Fleet, tmp_path: Path, redis_url: str) -> None:
    path = write_config(tmp_path, await shared_fleet(fleet), listen=f"127.0.0.1:{free_port()}", redis_url=redis_url)
    proc, base = await _serve(path, tmp_path / "serve.log")
    try:
        iid = await _incident(base, fleet, wait=False)
        code, _out, err = await run_responder_async("worker", "--burst", "--config", str(path),
                                                    env={logs.FORMAT_ENV: ""})
    finally:
        await _stop(proc)
    assert code == 0, err
    tagged = [line for line in err.splitlines() if f"[incident={iid}]" in line]
    assert any("assess_job:" in line for line in tagged) and any("join_job:" in line for line in tagged), err
    assert all(f"[incident={iid}]" in line for line in err.splitlines() if iid in line)
    assert f"[incident={iid}] alertmanager delivery" in (tmp_path / "serve.log").read_text()
