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

