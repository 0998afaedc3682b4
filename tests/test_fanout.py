"""The fan-out on real parts: real `responder worker` processes on a real Redis, a loopback fleet, a real
SMTP server. Waits poll the store; nothing here is timed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from rq import Queue, Worker
from rq.job import Job
from rq.registry import StartedJobRegistry

from responder.config import ProbeConfig, load
from responder.inventory import Expect, Server, ServiceSpec, make_target
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.runtime.queues import ASSESS_QUEUE, NOTIFY_QUEUE
from responder.store import Store
from responder.web.app import make_app
from tests.conftest import ROOT, run_responder_async, run_worker_async
from tests.support.fleet import Fleet, next_address
from tests.support.scenario import storm, write_config
from tests.support.smtp import Collector
from workers.assess.probe import probe
from workers.assess.requests import distinct
from workers.assess.shards import MIN_SHARD, deal, run_shard, shard_count

AUTH = {"Authorization": "Bearer test-token", "Content-Type": "application/json"}
PATIENCE = 240.0  # seconds before a wait gives up: a hung test fails, never a slow one


# -- pure ------------------------------------------------------------------------------------------


def test_shards_follow_the_workers_within_bounds() -> None:
    assert shard_count(0, 5000, 4) == 0
    assert shard_count(7000, 5000, 1) == 2  # never above shard_size
    assert shard_count(7000, 5000, 2) == 2
    assert shard_count(7000, 5000, 4) == 4  # one round on four workers
    assert shard_count(MIN_SHARD // 2, 5000, 4) == 1  # a small assessment is not cut up
    parts = deal(list(range(10)), 3)  # type: ignore[arg-type]
    assert parts == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]


def test_distinct_requests_are_the_wire_and_the_expectations() -> None:
    web = Server(address="10.0.0.1")
    plain = ServiceSpec(url="http://{address}:8001/")
    strict = ServiceSpec(url="http://{address}:8001/", expect=Expect(status=[200]))
    named = ServiceSpec(url="https://shop.example/health")
    other = ServiceSpec(url="https://other.example/health")
    targets = [make_target(c, "shop", plain, "web", web) for c in ("a", "b", "c")]
    targets += [make_target("d", "shop", strict, "web", web)]  # other expectations: its own request
    targets += [make_target(c, "shop", named, "web", web) for c in ("e", "f")]
    targets += [make_target("g", "shop", other, "web", web)]  # another Host and SNI
    requests, shared = distinct(targets)
    assert [r.weight for r in requests] == [3, 1, 2, 1]
    assert [len(shared[r.key]) for r in requests] == [3, 1, 2, 1]


async def test_retries_come_after_every_first_attempt(fleet: Fleet) -> None:
    await fleet.serve("bad", "web", "503")
    await fleet.serve("good", "web", "ok")
    spec = ServiceSpec(url=f"http://{{address}}:{fleet.port('web')}/")
    targets = [make_target("acme", "web", spec, s, Server(address=fleet.address(s))) for s in ("bad", "good")]
    results = await probe(targets, ProbeConfig(timeout=1.0, retries=2, concurrency=1))
    assert [(r.check.ok, r.check.attempts) for r in results] == [(False, 3), (True, 1)]
    # one slot: the failing check's retries wait behind the other's first attempt
    assert [s for s, _h, _p in fleet.requests] == ["bad", "good", "bad", "bad"]


def dark_server() -> tuple[socket.socket, list[socket.socket]]:
    """A listener whose accept queue is full: like a dark server, it drops every new SYN."""
    listener = socket.socket()
    listener.bind((next_address(), 0))
    listener.listen(0)
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(listener.getsockname())
        fillers.append(s)
    return listener, fillers


async def test_connect_timeout_is_its_own() -> None:
    listener, fillers = dark_server()
    try:
        address, port = listener.getsockname()
        spec = ServiceSpec(url=f"http://{{address}}:{port}/")
        [result] = await probe([make_target("acme", "web", spec, "dark", Server(address=address))],
                               ProbeConfig(timeout=600.0, connect_timeout=0.5, retries=0))
    finally:
        for s in [listener, *fillers]:
            s.close()
    assert not result.check.ok and result.check.error == "cannot connect within 0.5s"


async def test_a_batch_taken_as_the_probe_ends_is_still_written(fleet: Fleet, store: Store) -> None:
    """The shard streams checks in batches, each written in a thread. A batch taken just before the last
    check came back was once dropped unwritten when the streamer was cancelled before its thread began
    (the executor cancels a work item not yet started), so the join counted that server as not checked."""
    await fleet.serve("fast", "web", "ok")
    await fleet.serve("late", "web", "slow:0.8")  # answers after the streamer's first batch (0.5 s)
    spec = ServiceSpec(url=f"http://{{address}}:{fleet.port('web')}/")
    targets = [make_target("acme", "web", spec, s, Server(address=fleet.address(s))) for s in ("fast", "late")]
    requests, _ = distinct(targets)
    with store.transaction() as pipe:
        store.put_fanout(pipe, "i1", 1, clients=["acme"], shards=["[]"], checks=2, requests=2,
                         deadline=utcnow() + timedelta(minutes=5))
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    busy = threading.Event()  # holds the only thread until after the probe ended
    blocker = loop.run_in_executor(None, busy.wait)
    loop.call_later(1.5, busy.set)
    reported = await run_shard(store, ProbeConfig(timeout=5.0, retries=0), "i1", 1, 0, requests, "w")
    await blocker
    assert reported == (1, 1)
    assert sorted(store.fanout_checks("i1", 1)) == sorted(r.key for r in requests)


# -- real workers ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def workers(path: Path, redis_url: str, count: int, logs: Path) -> AsyncIterator[list[Any]]:
    """`count` real `responder worker` processes (each in its own process group, with its work horses)."""
    procs = []
    for n in range(count):
        with open(logs / f"worker-{n}.log", "wb") as log:
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "responder", "worker", "--config", str(path), cwd=ROOT,
                env={**os.environ, "RESPONDER_REDIS_URL": redis_url}, stdout=log, stderr=log,
                start_new_session=True))
    try:
        yield procs
    finally:
        for p in procs:
            if p.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                await p.wait()


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


async def until(what: str, test: Callable[[], Any]) -> Any:
    """Poll `test` (without blocking the fleet's event loop) until it answers something true."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + PATIENCE
    while loop.time() < give_up:
        found = test()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting: {what}")


def settled(store: Store, iid: str, notifications: int = 0) -> Callable[[], Incident | None]:
    """The incident once assessed, notified `notifications` times, with nothing left queued or running
    (a re-check minutes away, which the lifecycle keeps queued while a client fails, does not count)."""
    queues = [Queue(q, connection=store.r) for q in (ASSESS_QUEUE, NOTIFY_QUEUE)]

    def test() -> Incident | None:
        inc = store.get_incident(iid)
        soon = inc is not None and inc.pending and (inc.due_at is None or inc.due_at < utcnow() + timedelta(minutes=1))
        if inc is None or inc.severity is None or inc.running or soon:
            return None
        if len(inc.notifications) < notifications:
            return None
        if any(q.count or StartedJobRegistry(queue=q).count for q in queues):
            return None
        return inc

    return test


def fleet_inventory(fleet: Fleet, servers: dict[str, str], clients: dict[str, list[str]],
                    contacts: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "services": {"shop": {"url": f"http://{{address}}:{fleet.port('shop')}/health"}},
        "servers": {s: {"address": fleet.address(s)} for s in servers},
        "clients": {c: {"servers": on, "services": ["shop"],
                        **({"contacts": {"email": [contacts[c]]}} if contacts and c in contacts else {})}
                    for c, on in clients.items()},
    }


async def post(client: TestClient, fleet: Fleet, hosts: tuple[str, ...]) -> str:  # type: ignore[type-arg]
    resp = await client.post("/hooks/alertmanager", data=storm(fleet, hosts=hosts), headers=AUTH)
    assert resp.status == 202
    [iid] = (await resp.json())["incidents"]
    return str(iid)


async def test_a_request_shared_by_three_clients_is_sent_once(fleet: Fleet, store: Store, redis_url: str,
                                                             tmp_path: Path) -> None:
    await fleet.serve("web", "shop", "ok")
    await fleet.serve("db", "shop", "503")
    inventory = fleet_inventory(fleet, {"web": "ok", "db": "503"},
                                {"acme": ["web", "db"], "globex": ["web", "db"], "initech": ["web"]})
    path = write_config(tmp_path, inventory)
    async with TestClient(TestServer(make_app(load(path), store))) as client:
        iid = await post(client, fleet, ("web",))
        code, _, err = await run_worker_async(path, redis_url)
        assert code == 0, err
        data = await (await client.get(f"/api/incidents/{iid}")).json()
    assert Counter(s for s, _h, _p in fleet.requests) == {"web": 1, "db": 1}
    severities = {c["client"]: c["severity"] for c in data["clients"]}
    assert severities == {"acme": "degraded", "globex": "degraded", "initech": "ok"}
    for c in data["clients"]:  # the verdict still shows each client its own checks
        servers = {k["server"] for s in c["services"] for k in s["checks"]}
        assert servers == set(inventory["clients"][c["client"]]["servers"])
    progress = data["progress"]
    assert {k: v for k, v in progress.items() if k != "by_worker"} == {
        "checks_total": 5, "checks_done": 5, "shards_total": 1, "shards_done": 1}
    assert sum(progress["by_worker"].values()) == 5


async def test_shards_spread_over_two_workers(fleet: Fleet, store: Store, redis_url: str, tmp_path: Path) -> None:
    names = [f"w{n}" for n in range(6)]
    for s in names:
        await fleet.serve(s, "shop", "slow:0.5")  # every shard lasts a while, so an idle worker takes the next
    inventory = fleet_inventory(fleet, dict.fromkeys(names, "ok"), {"acme": names[:3], "globex": names[3:]})
    path = write_config(tmp_path, inventory, probe={"timeout": "5s", "retries": 0, "shard_size": 1})
    async with TestClient(TestServer(make_app(load(path), store))) as client, \
            workers(path, redis_url, 2, tmp_path):
        iid = await post(client, fleet, ("w0", "w3"))
        inc = await until("the verdict", settled(store, iid))
        data = await (await client.get(f"/api/incidents/{iid}")).json()
        code, out, _ = await run_responder_async("incident", iid, "--config", str(path),
                                                 env={"RESPONDER_REDIS_URL": redis_url})
    assert inc.severity == "ok" and {c.client for c in inc.clients} == {"acme", "globex"}
    progress = data["progress"]
    assert (progress["shards_total"], progress["shards_done"], progress["checks_done"]) == (6, 6, 6)
    assert len(progress["by_worker"]) == 2, progress  # both workers probed
    assert code == 0 and "probed: 6 checks in 6 shards on 2 workers" in out


async def test_a_worker_killed_mid_shard_still_ends_in_one_message_each(
        fleet: Fleet, store: Store, smtp: Collector, redis_url: str, tmp_path: Path) -> None:
    behaviours = {"k1": "503", "k2": "refuse", "k3": "slow:2", "k4": "slow:2"}
    for s, b in behaviours.items():
        await fleet.serve(s, "shop", b)
    inventory = fleet_inventory(fleet, behaviours, {"acme": ["k1", "k2"], "globex": ["k2", "k3"],
                                                    "initech": ["k3", "k4"]}, contacts={"acme": "noc@acme.test"})
    path = write_config(tmp_path, inventory, probe={"timeout": "10s", "retries": 0, "shard_size": 1,
                                                   "deadline": "10m"},
                        email={"host": "127.0.0.1", "port": smtp.port, "to": ["noc@test"]})  # type: ignore[attr-defined]
    async with TestClient(TestServer(make_app(load(path), store))) as client, \
            workers(path, redis_url, 2, tmp_path) as procs:
        iid = await post(client, fleet, ("k1", "k3"))

        def running_a_slow_shard() -> int | None:
            """The pid of a worker running a shard that probes a slow server (shards 2 and 3)."""
            registry = StartedJobRegistry(queue=Queue(ASSESS_QUEUE, connection=store.r))
            for job_id in registry.get_job_ids():
                job = Job.fetch(job_id, connection=store.r)
                if job.func_name.endswith("shard_job") and job.args[2] >= 2 and job.worker_name:
                    key = Worker.redis_worker_namespace_prefix + job.worker_name
                    worker = Worker.find_by_key(key, connection=store.r)
                    return worker.pid if worker is not None else None
            return None

        pid = await until("a worker probing a slow shard", running_a_slow_shard)
        [victim] = [p for p in procs if p.pid == pid]
        # the machine died: the worker, its scheduler, and its work horse (which RQ puts in a group of its own)
        for child in children(victim.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        os.killpg(victim.pid, signal.SIGKILL)
        await victim.wait()
        inc = await until("the verdict after the retry", settled(store, iid, notifications=2))
    severities = {c.client: c.severity for c in inc.clients}
    assert severities == {"acme": "critical", "globex": "degraded", "initech": "ok"}
    assert all(not s.not_checked for c in inc.clients for s in c.services)  # the lost shard was redone
    assert Counter(m["To"] for m in smtp.messages) == {"noc@test": 1, "noc@acme.test": 1}
    assert inc.progress is not None and inc.progress.shards_done == inc.progress.shards_total == 4


async def test_a_shard_that_never_reports_is_not_checked_after_the_deadline(
        fleet: Fleet, store: Store, redis_url: str, tmp_path: Path) -> None:
    await fleet.serve("n1", "shop", "ok")
    await fleet.serve("n2", "shop", "hang")  # holds its shard far beyond the deadline
    inventory = fleet_inventory(fleet, {"n1": "ok", "n2": "hang"}, {"acme": ["n1", "n2"], "globex": ["n2"]})
    path = write_config(tmp_path, inventory, probe={"timeout": "10m", "retries": 0, "shard_size": 1,
                                                   "deadline": "2s"})
    async with TestClient(TestServer(make_app(load(path), store))) as client, \
            workers(path, redis_url, 2, tmp_path):
        iid = await post(client, fleet, ("n2",))

        def joined() -> Incident | None:
            inc = store.get_incident(iid)
            return inc if inc is not None and inc.severity is not None and not inc.running else None

        inc = await until("the join at the deadline", joined)
        page = await (await client.get(f"/incidents/{iid}")).text()
    by = {c.client: c for c in inc.clients}
    assert by["acme"].severity == "ok" and by["globex"].severity == "ok"  # a doubt, never an outage
    assert by["acme"].services[0].not_checked == ["n2"] and by["globex"].services[0].not_checked == ["n2"]
    assert [(k.server, k.ok) for k in by["acme"].services[0].checks] == [("n1", True)]
    assert by["globex"].services[0].checks == []
    assert inc.progress is not None and (inc.progress.shards_done, inc.progress.shards_total) == (1, 2)
    assert "did not report by the deadline" in page
