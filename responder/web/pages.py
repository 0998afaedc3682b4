"""Web pages for people: recent incidents, and one incident with its client × server × service grid."""

from __future__ import annotations

import asyncio

import jinja2
from aiohttp import web

from responder.errors import StoreUnavailable
from responder.web.api import parse_limit
from responder.web.context import CONTEXT

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("responder.web", "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True,
)
COLOURS = {"critical": "#b3261e", "degraded": "#b26a00", "ok": "#1e7b34", None: "#555"}


def _html(template: str, status: int = 200, **ctx: object) -> web.Response:
    body = _env.get_template(template).render(colours=COLOURS, **ctx)
    return web.Response(text=body, content_type="text/html", status=status)


async def index(request: web.Request) -> web.Response:
    store = request.app[CONTEXT].store
    limit = parse_limit(request.query.get("limit"))
    try:
        with store.guard():
            incidents = await asyncio.get_running_loop().run_in_executor(None, store.list_incidents, limit)
    except StoreUnavailable:
        return _html("error.html", status=503, message="The store is unavailable; try again shortly.")
    return _html("index.html", incidents=incidents)


async def incident(request: web.Request) -> web.Response:
    store = request.app[CONTEXT].store
    incident_id = request.match_info["id"]
    try:
        with store.guard():
            found = await asyncio.get_running_loop().run_in_executor(None, store.get_incident, incident_id)
    except StoreUnavailable:
        return _html("error.html", status=503, message="The store is unavailable; try again shortly.")
    if found is None:
        return _html("error.html", status=404, message=f"No incident {incident_id}.")
    return _html("incident.html", incident=found)


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/incidents/{id}", incident)
