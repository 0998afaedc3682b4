"""The one interface every channel module implements, and what a send hands it.

A channel module (email.py, teams.py, slack.py, telegram.py) has:

- `NAME`: the channel's name in `routes` and in notification records;
- `recipients(config, client)`: its recipients for the whole incident (`client` None: the config's
  recipients) or for one client's contacts (that client's part only);
- `async send(ctx, message, delivery)`: send one message to one recipient; raise `DeliveryError`
  (or anything else) on failure, and the caller records it.

Adding a channel is a new module here and one line in job.CHANNELS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiohttp

from responder.config import Config
from responder.inventory import Contacts

if TYPE_CHECKING:
    from workers.notify.render import Message


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # tries in all, the first included
    backoff: float = 1.0  # the first wait without Retry-After; doubles after each try
    max_wait: float = 30.0  # the longest wait between tries
    timeout: float = 15.0  # one request, connect to last byte


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Recipient:
    channel: str
    to: str  # an address, or a label for a webhook (never the secret URL itself)
    scope: str | None = None  # the client whose part this recipient may see
    target: str | None = None  # where to send when it differs from `to` (a webhook URL, a chat id)
    problem: str | None = None  # why it cannot be sent (recorded as skipped, never claimed)

    @property
    def key(self) -> tuple[str, str]:
        """What makes two recipients the same recipient: one message each."""
        return self.channel, self.target or self.to


@dataclass
class SendContext:
    """What one notify job shares between its sends: one HTTP session for every chat send."""

    config: Config
    session: aiohttp.ClientSession
    policy: RetryPolicy


class DeliveryError(Exception):
    """A send that did not succeed. `transient` failures (429, 5xx, a lost connection) are worth
    retrying later; the others (a wrong URL, a refused payload) need a person. `uncertain`: cut off
    after the server may have taken the message (recorded `unknown`, never sent again on its own)."""

    def __init__(self, message: str, transient: bool = False, uncertain: bool = False) -> None:
        super().__init__(message)
        self.transient = transient and not uncertain
        self.uncertain = uncertain


def webhook_recipients(config: Config, client: str | None, name: str, own: str | None,
                       contact: Callable[[Contacts], str | None]) -> list[Recipient]:
    """For a webhook channel: the config's URL for the whole incident, or the client's own URL for its
    part. The record's `to` is a label (`teams`, `teams:acme`); the URL stays in `target`."""
    if client is None:
        return [Recipient(name, name, target=own)] if own else []
    found = config.inventory.clients.get(client)
    url = contact(found.contacts) if found else None
    return [Recipient(name, f"{name}:{client}", scope=client, target=url)] if url else []


class Channel(Protocol):
    NAME: str

    def recipients(self, config: Config, client: str | None) -> list[Recipient]: ...

    async def send(self, ctx: SendContext, message: Message, delivery: Recipient) -> None: ...
