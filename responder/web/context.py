"""What every handler shares, kept on the app under one key. Handlers import this module, never the
one that builds the app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from responder.config import Config
from responder.intake.grouping import Intake
from responder.store import Store
from responder.web.instruments import Metrics


@dataclass
class Context:
    config: Config
    store: Store
    intake: Intake
    metrics: Metrics


CONTEXT: web.AppKey[Context] = web.AppKey("context", Context)
