"""Posting a spooled alert to the receiver (`responder serve`), and where that receiver is.

An answer is sorted once, here: sent (2xx), retry later (no answer, 5xx, 408/425/429: the receiver
may take it later), or rejected (any other 4xx, a redirect: a person must look).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from responder import config as config_module
from responder.config import AuthConfig, ReceiverConfig
from responder.errors import ConfigError, pydantic_problems
from responder.forward.spool import Envelope, FlushReport, Posted, Spool

ANSWER_LIMIT = 64 * 1024  # read no more of the receiver's answer than this
RETRY_STATUSES = frozenset({408, 425, 429})  # and every 5xx: the receiver may take it later


# -- where to send ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receiver:
    url: str  # base URL of `responder serve`
    token: str | None
    timeout: float
    spool: Spool


def _listen_url(listen: Any) -> str:
    try:
        return config_module.listen_url(str(listen))
    except ValueError as exc:
        raise ConfigError([f"listen: {exc}"]) from None


def receiver_from(config_path: str | None) -> Receiver:
    """Only what notify needs (receiver, listen, auth, state_dir): a monitoring host can carry a small
    responder.yaml, and a broken inventory does not stop alerts from being spooled and sent."""
    path = config_module.config_path(config_path)
    data = config_module.read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(["the top level must be a mapping of settings"], str(path))
    wanted = {k: data[k] for k in ("receiver", "listen", "state_dir") if k in data}
    receiver_data = wanted.get("receiver") or {}
    if not (isinstance(receiver_data, dict) and receiver_data.get("token")) and "auth" in data:
        wanted["auth"] = data["auth"]
    problems: list[str] = []
    wanted = config_module.substitute_env(wanted, problems=problems)
    if problems:
        raise ConfigError(problems, str(path))
    try:
        receiver = ReceiverConfig.model_validate(wanted.get("receiver") or {})
        auth = AuthConfig.model_validate(wanted.get("auth") or {})
    except ValidationError as exc:
        raise ConfigError(pydantic_problems(exc, prefix="receiver"), str(path)) from None
    base = path.resolve().parent
    state_dir = Path(config_module.resolve_path(str(wanted.get("state_dir", "./var")), base))
    url = receiver.url or _listen_url(wanted.get("listen", "127.0.0.1:8080"))
    token = receiver.token or (auth.tokens[0] if auth.tokens else None)
    return Receiver(url=url.rstrip("/"), token=token, timeout=receiver.timeout, spool=Spool(state_dir / "spool"))


# -- sending ----------------------------------------------------------------------------------------


def _user_agent() -> str:
    try:
        return f"responder-notify/{metadata.version('responder')}"
    except metadata.PackageNotFoundError:
        return "responder-notify"


def _error_of(raw: bytes) -> tuple[str, dict[str, Any]]:
    text = raw.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return " ".join(text.split())[:300], {}
    if isinstance(data, dict):
        return str(data.get("error") or "")[:300], data
    return text[:300], {}


async def post(session: aiohttp.ClientSession, receiver: Receiver, envelope: Envelope) -> Posted:
    """One delivery to /hooks/{source}: sent (2xx), retry later (no answer, 5xx, 408/425/429), or rejected."""
    url = f"{receiver.url}/hooks/{envelope.source}"
    headers = {"Content-Type": "application/json", "User-Agent": _user_agent()}
    if receiver.token:
        headers["Authorization"] = f"Bearer {receiver.token}"
    try:
        async with session.post(url, data=envelope.body.encode("utf-8"), headers=headers,
                                allow_redirects=False) as resp:
            raw = await resp.content.read(ANSWER_LIMIT)
            status = resp.status
            location = resp.headers.get("Location", "")
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {receiver.timeout:g}s"
        return Posted("retry", f"cannot reach {url}: {reason}")
    error, answer = _error_of(raw)
    if 200 <= status < 300:
        return Posted("sent", status=status, answer=answer)
    if status >= 500 or status in RETRY_STATUSES:
        return Posted("retry", f"{url} answered {status}" + (f": {error}" if error else ""), status)
    if 300 <= status < 400:
        return Posted("rejected", f"{url} answered {status}, a redirect to {location[:200]!r}: "
                                  "set receiver.url to the final address", status)
    return Posted("rejected", f"{url} answered {status}" + (f": {error}" if error else ""), status)


async def _flush(receiver: Receiver) -> FlushReport:
    timeout = aiohttp.ClientTimeout(total=receiver.timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def send(envelope: Envelope) -> Posted:
            return await post(session, receiver, envelope)

        return await receiver.spool.flush(send)


def flush(receiver: Receiver) -> FlushReport:
    """Send the spool, oldest first, as the only sender."""
    with receiver.spool.lock():
        return asyncio.run(_flush(receiver))
