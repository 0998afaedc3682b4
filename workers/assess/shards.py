"""The fan-out: one assessment cut into probe shards that any `responder worker` can take.

Why shards of distinct requests, and how many. Inside a shard every request is in flight at once (a
waiting socket costs almost nothing), so a shard lasts about (retries + 1) x timeout when it holds a
dead server, whatever its size; an assessment lasts that many times the rounds it needs, and rounds
are shards divided by workers. So an assessment is cut into as many shards as workers listen on the
assess queue (one round), never into shards larger than `probe.shard_size` (what one process holds in
sockets and memory, and what a lost worker costs to redo) nor smaller than MIN_SHARD (below that a
queue hop costs more than it saves). Requests are dealt out in turn, so a dark rack spreads over every
shard instead of making one of them the slow one.

A shard streams its checks to the store as they finish and reports in one transaction; the shard that
completes the set queues the join (workers/assess/join.py). A shard lost with its worker is retried by
RQ and starts over; one that never reports leaves its checks to the join at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import socket
from collections.abc import Sequence
from datetime import timedelta

from rq import get_current_job

from responder import config as config_module
from responder.config import Config, ProbeConfig
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import Check
from responder.runtime.logs import incident_job
from responder.runtime.queues import assess_workers, queue_join, queue_shards
from responder.store import Store
from workers.assess.join import join
from workers.assess.probe import probe_requests
from workers.assess.requests import Request, distinct

MIN_SHARD = 100  # distinct requests: smaller shards are not worth a queue hop
FLUSH_EVERY = 0.5  # seconds between a shard's batches of checks to the store


def shard_count(requests: int, shard_size: int, workers: int) -> int:
    """As many shards as workers, within [MIN_SHARD, shard_size] requests each."""
    if requests <= 0:
        return 0
    fewest = math.ceil(requests / shard_size)
    most = max(1, math.ceil(requests / MIN_SHARD))
    return max(fewest, min(max(workers, 1), most))


def deal(requests: Sequence[Request], shards: int) -> list[list[Request]]:
    """Requests dealt out in turn, so neighbours in the inventory land in different shards."""
    return [list(requests[n::shards]) for n in range(shards)]


def fan_out(store: Store, config: Config, incident: Incident, generation: int) -> str:
    """Plan the shards of this generation's assessment and queue them with the deadline's join."""
    if store.fanout_exists(incident.id, generation):
        return "already fanned out"  # a retry of the job after the plan was stored
    inv = config.inventory
    clients = [c for c in dict.fromkeys(incident.affected) if c in inv.clients]
    requests, shared = distinct(t for c in clients for t in inv.targets(c))
    checks = sum(len(ts) for ts in shared.values())
    count = shard_count(len(requests), config.probe.shard_size, assess_workers(store.r))
    plans = [json.dumps([r.dump() for r in part]) for part in deal(requests, count)]
    deadline = utcnow() + timedelta(seconds=config.probe.deadline)
    with store.transaction() as pipe:
        store.put_fanout(pipe, incident.id, generation, clients=clients, shards=plans, checks=checks,
                         requests=len(requests), deadline=deadline)
        if count:
            queue_shards(pipe, store.r, incident.id, generation, count, deadline)
    if not count:
        return join(store, config, incident.id, generation)
    return f"{count} shards: {len(requests)} requests for {checks} checks of {len(clients)} clients"


async def run_shard(store: Store, cfg: ProbeConfig, incident_id: str, generation: int, shard: int,
                    requests: Sequence[Request], worker: str) -> tuple[int, int]:
    """Probe the shard's requests, streaming finished checks to the store; report at the end."""
    pending: dict[str, str] = {}
    weight = 0

    def heard(r: Request, check: Check) -> None:
        nonlocal weight
        pending[r.key] = check.model_dump_json()
        weight += r.weight

    def take() -> tuple[dict[str, str], int]:
        nonlocal pending, weight
        batch, w = pending, weight
        pending, weight = {}, 0
        return batch, w

    done = asyncio.Event()

    async def stream() -> None:
        # stopped by `done`, never cancelled: a cancel between taking a batch and its thread starting
        # drops the batch unwritten (the executor cancels a work item that has not begun), and the
        # join then counts those servers as not checked
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_EVERY)
            batch, w = take()
            if batch:
                await asyncio.to_thread(store.put_shard_checks, incident_id, generation, shard, batch, w)

    streamer = asyncio.create_task(stream())
    try:
        await probe_requests(requests, cfg, heard)
    finally:
        done.set()
        await streamer
    batch, _w = take()
    total = sum(r.weight for r in requests)
    return await asyncio.to_thread(store.finish_shard, incident_id, generation, shard, batch, total, worker)


@incident_job
def shard_job(incident_id: str, generation: int, shard: int) -> str:
    """RQ job: one probe shard of a fanned-out assessment."""
    job = get_current_job()
    assert job is not None, "shard_job runs inside an RQ worker"
    store = Store(job.connection)
    config = config_module.current()
    worker = job.worker_name or f"{socket.gethostname()}:{os.getpid()}"
    if not store.begin_shard(incident_id, generation, shard, worker):
        # reported before its job ended (a retry after a kill): make sure the join was queued
        reported, shards = store.finish_shard(incident_id, generation, shard, {}, 0, worker)
        if shards and reported >= shards:
            queue_join(store.r, incident_id, generation)
        return "already reported, or the assessment is gone"
    plan = store.shard_plan(incident_id, generation, shard)
    if plan is None:
        return "no plan"
    requests = [Request.load(d) for d in json.loads(plan)]
    reported, shards = asyncio.run(run_shard(store, config.probe, incident_id, generation, shard, requests, worker))
    if shards and reported >= shards:
        queue_join(store.r, incident_id, generation)
    return f"shard {shard + 1}/{shards}: {len(requests)} requests; {reported} of {shards} shards reported"
