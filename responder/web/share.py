"""The page behind a signed client link: one client's part of one incident, without a login.

The link's signature is checked before the store is read; a tampered, truncated or expired link is
answered 403 with a plain page that says which, and nothing about the incident. What the page shows
is `responder.model.scope`'s choice, the same one the client's messages were written from.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from aiohttp import web

from responder import links
from responder.errors import StoreUnavailable
from responder.model.scope import scope
from responder.web.context import CONTEXT
from responder.web.pages import _html as html  # one page renderer for every page

# the link is the credential: keep it out of caches, search engines and other sites' Referer headers
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


def _refused(verdict: links.Verdict) -> web.Response:
    message = ("This link has expired. Ask whoever sent it for a new one." if verdict is links.Verdict.EXPIRED
               else "This link is not valid. Open it exactly as it was sent.")
    body = f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Link refused</title></head>" \
           f"<body><h1>Link refused</h1><p>{message}</p></body></html>"
    return web.Response(text=body, content_type="text/html", status=403, headers=PRIVATE)


async def share(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    incident_id, client = request.match_info["incident"], request.match_info["client"]
    exp, sig = request.query.get("exp"), request.query.get("sig")
    verdict = links.check(links.secret(ctx.config), incident_id, client, exp, sig, time.time())
    if verdict is not links.Verdict.OK:
        return _refused(verdict)
    try:
        with ctx.store.guard():
            found = await asyncio.get_running_loop().run_in_executor(None, ctx.store.get_incident, incident_id)
    except StoreUnavailable:
        return html("error.html", status=503, message="The store is unavailable; try again shortly.")
    if found is None:
        return html("error.html", status=404, message="This incident is no longer kept.")
    part = scope(found, client, ctx.config.inventory)
    expires = datetime.fromtimestamp(int(exp or 0), UTC)
    response = html("share.html", incident=part, client=client, expires=expires)
    response.headers.update(PRIVATE)
    return response


def setup(app: web.Application) -> None:
    app.router.add_get(links.PREFIX + "/{incident}/{client}", share)
