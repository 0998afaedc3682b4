"""`serve` and `worker`: the long-running processes."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import click

from responder import config as config_module
from responder.cli.common import config_option, fail, load_config
from responder.runtime import logs

log_format_option = click.option(
    "--log-format", type=click.Choice(logs.FORMATS), envvar=logs.FORMAT_ENV, default="text", show_default=True,
    help=f"text for people, json for log pipelines (one object per line); also ${logs.FORMAT_ENV}")


RECYCLE_ENV = "RESPONDER_WORKER_RECYCLE_MB"  # see ResponderWorker.RECYCLE_MB
NAME_ON_EXEC_ENV = "_RESPONDER_WORKER_NAME"  # from a worker to itself across its exec, never set by hand


@click.command()
@config_option
@click.option("--workers", type=click.IntRange(0, 256), default=0, show_default=True,
              help="also run N RQ worker processes")
@log_format_option
def serve(config_path: str | None, workers: int, log_format: str) -> None:
    """Webhook receiver, web pages, JSON API and /metrics."""
    from responder.runtime import serve as server

    cfg = load_config(config_path)
    os.environ[logs.FORMAT_ENV] = log_format  # the supervised workers write the same format
    logs.configure(config_module.log_level(), log_format)
    source = str(Path(cfg.source_path).resolve()) if cfg.source_path else None
    server.run(cfg, source, workers)


@click.command()
@config_option
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@log_format_option
def worker(config_path: str | None, burst: bool, log_format: str) -> None:
    """An RQ worker for Responder's queues; run many, on many machines, against one Redis."""
    import redis

    from responder.redact import install_log_redaction, strip_userinfo
    from responder.runtime.embedded import redis_url
    from responder.runtime.lifeline import tie_to_supervisor
    from responder.runtime.queues import QUEUES
    from responder.runtime.worker import ResponderWorker

    tie_to_supervisor()
    cfg = load_config(config_path)
    recycle = os.environ.get(RECYCLE_ENV, "")
    try:
        recycle_mb = float(recycle) if recycle.strip() else None
        if recycle_mb is not None and not math.isfinite(recycle_mb):
            raise ValueError(recycle)
    except ValueError:
        fail(f"{RECYCLE_ENV}={recycle!r}: expected a number of MB (0 never restarts the worker)")
    url = redis_url(cfg)
    if not url:
        fail("no Redis to work from: set redis_url, or start `responder serve` (embedded Redis) first")
    conn = redis.Redis.from_url(url)
    try:
        conn.ping()
    except redis.RedisError as exc:
        fail(f"cannot reach Redis at {strip_userinfo(url)}: {exc}")
    level = config_module.log_level()
    logs.configure(level, log_format)
    install_log_redaction(cfg)
    # burst mode queues due jobs once (RQ's own path); a long-running worker keeps a scheduler thread
    # a worker that started afresh keeps its RQ name: progress per worker and `rq info` show one worker
    name = os.environ.pop(NAME_ON_EXEC_ENV, None) or None
    worker = ResponderWorker(list(QUEUES), connection=conn, recycle_mb=recycle_mb, name=name)
    worker.work(burst=burst, with_scheduler=True, logging_level=level)
    if worker.recycle:  # a fresh heap, same pid: the supervisor, systemd or a shell sees no exit
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, NAME_ON_EXEC_ENV: worker.name})


COMMANDS: list[click.Command] = [serve, worker]
