"""GET /api/incidents and /api/incidents/{id}: the verdict JSON, newest first; /api/openapi.json describes
every route (responder/web/openapi.py)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from responder.errors import StoreUnavailable
from responder.model.incident import is_id
from responder.web import openapi
from responder.web.context import CONTEXT

_ASCII_DIGITS = frozenset("0123456789")


def parse_limit(raw: str | None, default: int = 50, maximum: int = 1000) -> int:
    """ASCII digits only: str.isdigit() also passes `²`, which int() then refuses."""
    if raw is None or raw == "":
        return default
    if len(raw) > 6 or not set(raw) <= _ASCII_DIGITS or not 1 <= int(raw) <= maximum:
        raise web.HTTPBadRequest(reason=f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


async def list_incidents(request: web.Request) -> web.Response:
    store = request.app[CONTEXT].store
    limit = parse_limit(request.query.get("limit"))
    try:
        with store.guard():
            incidents = await asyncio.get_running_loop().run_in_executor(None, store.list_public_incidents, limit)
    except StoreUnavailable:
        return web.json_response({"error": "the store is unavailable"}, status=503, headers={"Retry-After": "5"})
    body = b"".join([b'{"incidents":[', b",".join(incidents), b"]}"])
    return web.Response(body=body, content_type="application/json", charset="utf-8")


async def get_incident(request: web.Request) -> web.Response:
    store = request.app[CONTEXT].store
    incident_id = request.match_info["id"]
    if not is_id(incident_id):
        return web.json_response({"error": "no such incident"}, status=404)
    try:
        with store.guard():
            found = await asyncio.get_running_loop().run_in_executor(None, store.public_incidents, [incident_id])
    except StoreUnavailable:
        return web.json_response({"error": "the store is unavailable"}, status=503, headers={"Retry-After": "5"})
    if not found:
        return web.json_response({"error": f"no incident {incident_id}"}, status=404)
    return web.Response(body=found[0], content_type="application/json", charset="utf-8")


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi.DOCUMENT)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/incidents", list_incidents)
    app.router.add_get("/api/incidents/{id}", get_incident)
