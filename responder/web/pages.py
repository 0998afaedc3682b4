"""Web pages for people: recent incidents; one incident with its headline, client × server matrix,
per-client results and timeline; one client's recent verdicts. Server-rendered, no script."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import jinja2
from aiohttp import web

from responder.errors import StoreUnavailable
from responder.store import Store
from responder.web import views
from responder.web.api import parse_limit
from responder.web.context import CONTEXT
from responder.wording import incident_headline, of_failing, severity_word

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("responder.web", "templates"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True,
)
COLOURS = {"critical": "#b3261e", "degraded": "#b26a00", "ok": "#1e7b34", None: "#555", "": "#555"}
_env.globals.update(colours=COLOURS, severity_word=severity_word, of_failing=of_failing,
                    check_result=views.check_result)
T = TypeVar("T")


def _html(template: str, status: int = 200, **ctx: object) -> web.Response:
    body = _env.get_template(template).render(**ctx)
    return web.Response(text=body, content_type="text/html", status=status)


def _unavailable() -> web.Response:
    return _html("error.html", status=503, message="The store is unavailable; try again shortly.")


async def _read(store: Store, fn: Callable[..., T], *args: Any) -> T:
    """Run a store read off the event loop; a lost Redis raises StoreUnavailable."""
    def call() -> T:
        with store.guard():
            return fn(*args)

    return await asyncio.get_running_loop().run_in_executor(None, call)


async def index(request: web.Request) -> web.Response:
    store = request.app[CONTEXT].store
    limit = parse_limit(request.query.get("limit"))
    try:
        incidents = await _read(store, store.list_incidents, limit)
    except StoreUnavailable:
        return _unavailable()
    return _html("index.html", incidents=incidents)


async def incident(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    incident_id = request.match_info["id"]
    try:
        found = await _read(ctx.store, ctx.store.get_incident, incident_id)
    except StoreUnavailable:
        return _unavailable()
    if found is None:
        return _html("error.html", status=404, message=f"No incident {incident_id}.")
    language = ctx.config.report.language
    return _html("incident.html", incident=found, headline=incident_headline(found, language),
                 matrix=views.matrix(found), alerts=views.alert_rows(found, ctx.config.inventory),
                 timeline=views.timeline(found), cards=views.CLIENT_CARDS)


async def client(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    name = request.match_info["name"]
    store = ctx.store
    try:
        last = (await _read(store, store.last_verdicts, [name])).get(name)
        recent = await _read(store, store.incidents_of_client, name, 20)
        open_id = await _read(store, store.open_incident_of, name)
    except StoreUnavailable:
        return _unavailable()
    spec = ctx.config.inventory.clients.get(name)
    if spec is None and last is None and not recent:
        return _html("error.html", status=404, message=f"No client {name}.")
    open_incident = next((i for i in recent if i.id == open_id), None)
    if open_id and open_incident is None:
        try:
            open_incident = await _read(store, store.get_incident, open_id, False)
        except StoreUnavailable:
            return _unavailable()
    return _html("client.html", name=name, spec=spec, last=last, open_incident=open_incident,
                 history=views.history(name, recent),
                 services=sorted(ctx.config.inventory.services_of(name)) if spec else [])


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/incidents/{id}", incident)
    app.router.add_get("/clients/{name}", client)
