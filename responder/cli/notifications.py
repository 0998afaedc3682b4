"""`responder notifications retry INCIDENT_ID`: send again what failed for an incident's latest state.

Failures that may pass (429, 5xx, a lost connection) are retried by RQ on its own; this is for the
rest, once a person has fixed what was wrong (a webhook URL, a mail server), or for failures that
outlasted RQ's retries. Exit status: 0 nothing left failing, 1 something still fails, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import sys

import click
from rich.text import Text

from responder.cli.common import config_option, fail, load_config, open_store, out


@click.group("notifications")
def group() -> None:
    """Notifications of incidents."""


@group.command("retry")
@click.argument("incident_id")
@config_option
def retry(incident_id: str, config_path: str | None) -> None:
    """Resend the notifications of an incident that failed (its latest state)."""
    from workers.notify.job import retry_failed

    cfg = load_config(config_path)
    with open_store(cfg) as store:
        try:
            result = asyncio.run(retry_failed(store, cfg, incident_id))
        except LookupError:
            fail(f"no incident {incident_id!r}")
    if not (result.outcomes or result.busy or result.gone):
        out.print(f"{incident_id}: no failed notifications to retry")
        return
    for o in result.outcomes:
        r = o.record
        out.print(Text(f"{r.channel} {r.to}: {r.status}" + (f" ({r.error})" if r.error else "")))
    for label in result.busy:
        out.print(Text(f"{label}: being sent by a worker (or its worker died mid-send); not resent"))
    for label in result.gone:
        out.print(Text(f"{label}: no longer a recipient under the current config; not resent"))
    if any(o.record.status == "failed" for o in result.outcomes):
        sys.exit(1)


COMMANDS: list[click.Command] = [group]
