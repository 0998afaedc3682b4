"""Slack incoming webhooks: a short `text` (the notification and fallback) and Block Kit `blocks`; or,
with `chat.slack.plain: true`, one Markdown `text` for Mattermost and other Slack-compatible hooks.

Block Kit limits kept: at most 50 blocks, a header's plain text at most 150 characters, a section's
text at most 3,000. Slack also refuses messages whose blocks carry much more than 12,000 characters in
all, so long incidents end with "+N more lines" and the link to the incident page.
"""

from __future__ import annotations

from typing import Any

from responder.config import Config
from workers.notify.channels.base import Recipient, SendContext, webhook_recipients
from workers.notify.channels.http import post_json
from workers.notify.markup import FLAVOURS, shorten
from workers.notify.render import Message, chat_text

NAME = "slack"
MAX_BLOCKS = 50
HEADER_CHARS = 150
SECTION_CHARS = 3000
BLOCKS_CHARS = 12_000  # all sections together
TEXT_CHARS = 300  # the fallback `text` beside blocks: a notification line, not the message
PLAIN_CHARS = 15_000  # Mattermost posts hold 16,383 characters


def recipients(config: Config, client: str | None) -> list[Recipient]:
    own = config.chat.slack.url if config.chat.slack else None
    return webhook_recipients(config, client, NAME, own, lambda contacts: contacts.slack)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, never ending inside an entity (`&lt;`) or a link (`<url|label>`)."""
    if len(text) <= limit:
        return text
    text = text[:limit]
    amp, semi = text.rfind("&"), text.rfind(";")
    if amp > semi:
        text = text[:amp]
    lt, gt = text.rfind("<"), text.rfind(">")
    if lt > gt:
        text = text[:lt]
    return text


def chunks(text: str, limit: int) -> list[str]:
    """Pack paragraphs into pieces of at most `limit` characters, splitting between lines when a
    paragraph is too long, and inside a line only when a line is."""
    pieces: list[str] = []
    for paragraph in text.split("\n\n"):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            while len(line) > limit:
                head = cut(line, limit) or line[:limit]
                lines.append(head)
                line = line[len(head):]
            lines.append(line)
        current = ""
        for line in lines:
            joined = f"{current}\n{line}" if current else line
            if len(joined) > limit:
                pieces.append(current)
                current = line
            else:
                current = joined
        if current:
            pieces.append(current)
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 2 + len(piece) <= limit:
            packed[-1] += "\n\n" + piece
        else:
            packed.append(piece)
    return packed


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def blocks_payload(message: Message, config: Config) -> dict[str, Any]:
    assert message.digest is not None
    d, flavour = message.digest, FLAVOURS["slack"]
    link = flavour.link(d.url, d.t["open"])
    body = chat_text(config, d, flavour, title=False, link=False)
    sections = chunks(body, SECTION_CHARS)
    room = MAX_BLOCKS - 3  # the header, a "+N more" context and the link
    kept: list[str] = []
    used = 0
    for piece in sections:
        if len(kept) == room or used + len(piece) > BLOCKS_CHARS - len(link):
            break
        kept.append(piece)
        used += len(piece)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {
        "type": "plain_text", "text": shorten(d.title, HEADER_CHARS), "emoji": False}}]
    blocks += [_section(p) for p in kept]
    hidden = sections[len(kept):]
    if hidden:
        lines = sum(p.count("\n") + 1 for p in hidden)
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": flavour.text(f"+{lines} {d.t['more_lines']}")}]})
    blocks.append(_section(link))
    return {"text": f"{cut(flavour.text(d.title), TEXT_CHARS)} {link}", "blocks": blocks}


def plain_payload(message: Message, config: Config) -> dict[str, Any]:
    """Markdown in `text` only: Mattermost shows it whole, where it would show only Slack's fallback."""
    assert message.digest is not None
    d, flavour = message.digest, FLAVOURS["markdown"]
    link = flavour.link(d.url, d.t["open"])
    body = chat_text(config, d, flavour, title=True, link=False)
    if len(body) + len(link) + 2 > PLAIN_CHARS:
        lines = body.split("\n")
        kept: list[str] = []
        used = 0
        for line in lines:
            if used + len(line) + 1 > PLAIN_CHARS - len(link) - 100:
                break
            kept.append(line)
            used += len(line) + 1
        more = flavour.text(f"+{len(lines) - len(kept)} {d.t['more_lines']}")
        body = "\n".join(kept) + f"\n\n{more}"
    return {"text": f"{body}\n\n{link}"}


def payload(message: Message, config: Config) -> dict[str, Any]:
    plain = config.chat.slack.plain if config.chat.slack else False
    return plain_payload(message, config) if plain else blocks_payload(message, config)


async def send(ctx: SendContext, message: Message, delivery: Recipient) -> None:
    assert delivery.target is not None
    await post_json(ctx.session, delivery.target, payload(message, ctx.config), policy=ctx.policy,
                    label=delivery.to)
