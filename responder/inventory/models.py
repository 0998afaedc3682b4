"""The inventory's pieces as pydantic models: services, servers, clients, their contacts, windows.

Kept apart from the index (`responder.inventory`) so each stays readable; every name is re-exported
there, so callers import from `responder.inventory`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Model):
    """What a passing answer looks like. No status list means any 2xx or 3xx."""

    status: list[int] = Field(default_factory=list)
    body_contains: str | None = None
    max_ms: float | None = Field(None, gt=0)

    def status_ok(self, status: int) -> bool:
        return status in self.status if self.status else 200 <= status < 400


_NO_EXPECT = Expect()  # frozen defaults are shared: pydantic deep-copies an instance default per object


class ServiceSpec(_Model):
    """A service as the catalogue names it, or as resolved for one client (then `min_healthy` is set)."""

    url: str
    expect: Expect = Field(default_factory=lambda: _NO_EXPECT)
    verify_tls: bool = True
    min_healthy: int | None = Field(None, ge=1)  # critical when fewer of the client's servers pass

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url.replace("{address}", "address.invalid").replace("{server}", "server.invalid"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
        return url


def _pattern(value: str | None) -> str | None:
    """A `log_filter` must compile here, not fail later on a worker."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


class ServerSsh(_Model):
    port: int = Field(22, ge=1, le=65535)
    username: str | None = None
    host: str | None = None
    known_hosts: str | None = None
    insecure_skip_host_key_check: bool = False


_NO_SSH = ServerSsh()


class Server(_Model):
    address: str
    aliases: list[str] = Field(default_factory=list)
    ssh: ServerSsh = Field(default_factory=lambda: _NO_SSH)
    logs: list[str] = Field(default_factory=list)
    log_filter: str | None = None
    role: str | None = None

    _log_filter = field_validator("log_filter")(_pattern)

    @field_validator("address")
    @classmethod
    def _address(cls, address: str) -> str:
        if not address.strip():
            raise ValueError("an address cannot be empty")
        return address.strip()


class Contacts(_Model):
    email: list[str] = Field(default_factory=list)
    teams: str | None = None
    slack: str | None = None
    telegram: str | int | None = None


_NO_CONTACTS = Contacts()


class ClientService(_Model):
    """One service of a client: a catalogue name, optionally with its own url/expect."""

    name: str
    url: str | None = None
    expect: Expect | None = None
    verify_tls: bool | None = None
    min_healthy: int | None = Field(None, ge=1)


# A service named bare (`- shop`) is the same frozen ClientService wherever it is written: one
# instance per name instead of one per client (~650 bytes each, 25 MB over 40,000 client services).
_BARE: dict[str, ClientService] = {}


def _bare(name: str) -> ClientService:
    found = _BARE.get(name)
    if found is None:
        found = _BARE[name] = ClientService(name=name)
    return found


class Client(_Model):
    servers: list[str] = Field(default_factory=list)
    services: list[ClientService] = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=lambda: _NO_CONTACTS)
    depends_on: list[str] = Field(default_factory=list)
    vhosts: list[str] = Field(default_factory=list)
    log_filter: str | None = None
    min_healthy: int | None = Field(None, ge=1)  # for every service of the client that sets none itself

    _log_filter = field_validator("log_filter")(_pattern)

    @field_validator("services", mode="before")
    @classmethod
    def _services(cls, items: Any) -> Any:
        """Accept `- reports` and `- shop: {url: ...}` as the spec writes them."""
        if not isinstance(items, list):
            return items
        out: list[Any] = []
        for item in items:
            if isinstance(item, str):
                out.append(_bare(item))  # an instance of a frozen model is taken as it is
            elif isinstance(item, dict) and len(item) == 1 and "name" not in item:
                ((name, body),) = item.items()
                if body is None:
                    body = {}
                out.append({"name": name, **body} if isinstance(body, dict) else {"name": name, "url": body})
            else:
                out.append(item)
        return out


class MaintenanceWindow(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    client: str | None = None
    server: str | None = None
    service: str | None = None  # that service only: on every client that has it, or on `client`
    starts: datetime = Field(alias="from")
    ends: datetime = Field(alias="to")
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """One check: a client's service on one server, with where to connect and what to send."""

    client: str
    service: str
    server: str
    url: str  # what a person reads
    connect_url: str  # the same URL with the server's address as host
    host_header: str | None  # the URL's own host, sent as Host (None when the URL names the address)
    server_hostname: str | None  # TLS SNI
    expect: Expect
    verify_tls: bool


@dataclass(frozen=True, slots=True)
class HostMatch:
    host: str
    server: str | None
    clients: tuple[str, ...]
