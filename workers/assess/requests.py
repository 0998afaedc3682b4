"""What goes on the wire, without the wire: the distinct requests of a set of targets, and each
target's share of a request's check.

Kept apart from `probe` so the join, which only maps checks back to targets, imports neither aiohttp
nor its stack (~9 MB in a worker that had not probed yet).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from responder.inventory import Expect, Target
from responder.model.verdict import Check


@dataclass(frozen=True, slots=True)
class Result:
    target: Target
    check: Check


@dataclass(frozen=True, slots=True)
class Request:
    """One request on the wire; `weight` is how many targets share it (for progress)."""

    key: str
    server: str
    url: str
    connect_url: str
    host_header: str | None
    server_hostname: str | None
    expect: Expect
    verify_tls: bool
    weight: int = 1

    def dump(self) -> dict[str, Any]:
        return {"key": self.key, "server": self.server, "url": self.url, "connect_url": self.connect_url,
                "host": self.host_header, "sni": self.server_hostname, "expect": self.expect.model_dump(),
                "verify_tls": self.verify_tls, "weight": self.weight}

    @classmethod
    def load(cls, data: dict[str, Any]) -> Request:
        return cls(key=data["key"], server=data["server"], url=data["url"], connect_url=data["connect_url"],
                   host_header=data["host"], server_hostname=data["sni"],
                   expect=Expect.model_validate(data["expect"]), verify_tls=data["verify_tls"],
                   weight=int(data.get("weight", 1)))


def request_key(t: Target) -> str:
    """Equal for two targets exactly when one request answers both: same wire and same expectations."""
    e = t.expect
    ident = json.dumps([t.connect_url, t.host_header, t.server_hostname, t.verify_tls,
                        sorted(e.status), e.body_contains, e.max_ms])
    return hashlib.blake2b(ident.encode(), digest_size=12).hexdigest()


def distinct(targets: Iterable[Target]) -> tuple[list[Request], dict[str, list[Target]]]:
    """The distinct requests (in first-seen order) and the targets each one answers."""
    shared: dict[str, list[Target]] = {}
    for t in targets:
        shared.setdefault(request_key(t), []).append(t)
    requests = [
        Request(key=k, server=ts[0].server, url=ts[0].url, connect_url=ts[0].connect_url,
                host_header=ts[0].host_header, server_hostname=ts[0].server_hostname, expect=ts[0].expect,
                verify_tls=ts[0].verify_tls, weight=len(ts))
        for k, ts in shared.items()
    ]
    return requests, shared


def for_target(check: Check, t: Target) -> Check:
    """A shared request's check, as this target reports it."""
    if check.server == t.server and check.url == t.url:
        return check
    return check.model_copy(update={"server": t.server, "url": t.url})


def per_target(shared: dict[str, list[Target]],
               on_result: Callable[[Result], None]) -> Callable[[Request, Check], None]:
    """`probe_requests`' callback that tells each target its result as soon as its request's check is final."""

    def heard(r: Request, check: Check) -> None:
        for t in shared[r.key]:
            on_result(Result(t, for_target(check, t)))

    return heard
