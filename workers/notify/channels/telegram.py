"""Telegram through the Bot API's sendMessage, in HTML parse mode.

Every value is escaped (`&`, `<`, `>`). Telegram takes at most 4,096 characters a message, so a long
message is split between lines (inside a line only when a line alone is too long), never inside a tag
or an entity: tags open at a split are closed at the end of the part and opened again in the next.
Parts are sent in order, at most MAX_PARTS of them; the link to the incident ends the last.
"""

from __future__ import annotations

import json
import re
from collections import deque

from responder.config import Config
from workers.notify.channels.base import DeliveryError, Recipient, SendContext
from workers.notify.channels.http import post_json
from workers.notify.markup import FLAVOURS
from workers.notify.render import Message, chat_text

NAME = "telegram"
MAX_CHARS = 4096
MAX_PARTS = 4
_TOKEN = re.compile(r"<[^<>]*>|&#?\w+;|\n|[^<&\n]+|[<&]")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*>")


def recipients(config: Config, client: str | None) -> list[Recipient]:
    bot = config.chat.telegram
    if client is None:
        if bot is None or bot.chat_id is None:
            return []
        return [Recipient(NAME, f"{NAME}:{bot.chat_id}", target=str(bot.chat_id))]
    found = config.inventory.clients.get(client)
    if found is None or found.contacts.telegram is None:
        return []
    chat = str(found.contacts.telegram)
    problem = None if bot is not None else "no Telegram bot: set chat.telegram.token to message client chats"
    return [Recipient(NAME, f"{NAME}:{chat}", scope=client, target=chat, problem=problem)]


def length(text: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _after(stack: list[tuple[str, str]], token: str) -> list[tuple[str, str]]:
    """The open tags once `token` is written."""
    tag = _TAG.fullmatch(token)
    if tag is None:
        return stack
    name = tag.group(2).lower()
    if not tag.group(1):
        return [*stack, (name, token)]
    for j in range(len(stack) - 1, -1, -1):
        if stack[j][0] == name:
            return stack[:j] + stack[j + 1:]
    return stack


def _closers(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _openers(stack: list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def split_html(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Split Telegram HTML into parts of at most `limit` UTF-16 units, preferring line boundaries."""
    parts: list[str] = []
    stack: list[tuple[str, str]] = []
    current = ""
    line_end: tuple[int, list[tuple[str, str]]] | None = None  # the last newline in `current`
    queue = deque(_TOKEN.findall(text))
    while queue:
        token = queue.popleft()
        if token in ("<", "&"):
            token = "&lt;" if token == "<" else "&amp;"  # a stray character: escape it, never cut it
        after = _after(stack, token)
        if length(current) + length(token) + length(_closers(after)) <= limit:
            if token == "\n":
                line_end = (len(current), list(stack))
            current, stack = current + token, after
            continue
        if line_end is not None:  # end the part at the last line boundary; the token comes again
            pos, open_then = line_end
            parts.append(current[:pos] + _closers(open_then))
            current, line_end = _openers(open_then) + current[pos + 1:], None
            queue.appendleft(token)
            continue
        fresh = _openers(stack)
        if token == "\n":
            parts.append(current + _closers(stack))
            current = fresh
            continue
        plain = _TAG.fullmatch(token) is None and not token.startswith("&")
        room = limit - length(current) - length(_closers(stack))
        if plain and room > 0:  # a line too long alone: cut it inside its text
            head = token[:room]
            while length(head) > room:
                head = head[:-1]
            current += head
            queue.appendleft(token[len(head):])
        elif current == fresh:  # a tag or an entity that cannot fit anywhere: let it overflow
            current, stack = current + token, after
            continue
        else:
            queue.appendleft(token)
        parts.append(current + _closers(stack))
        current = fresh
    if current.strip() and current != _openers(stack):
        parts.append(current + _closers(stack))
    return [p.strip("\n") for p in parts if p.strip()]


def parts(message: Message, config: Config, limit: int = MAX_CHARS, max_parts: int = MAX_PARTS) -> list[str]:
    """The message as the texts of consecutive sendMessage calls."""
    assert message.digest is not None
    d, flavour = message.digest, FLAVOURS["telegram"]
    link = flavour.link(d.url, d.t["open"])
    reserve = length(link) + 120  # room on every part for the link and a "+N more lines" note
    pieces = split_html(chat_text(config, d, flavour, title=True, link=False), limit - reserve)
    if len(pieces) > max_parts:
        hidden = sum(p.count("\n") + 1 for p in pieces[max_parts:])
        pieces = pieces[:max_parts]
        pieces[-1] += "\n\n" + flavour.text(f"+{hidden} {d.t['more_lines']}")
    if not pieces:
        return [link]
    pieces[-1] += "\n\n" + link
    return pieces


async def send(ctx: SendContext, message: Message, delivery: Recipient) -> None:
    bot = ctx.config.chat.telegram
    if bot is None:
        raise DeliveryError("no Telegram bot configured (chat.telegram)")
    assert delivery.target is not None
    url = f"{bot.api_url.rstrip('/')}/bot{bot.token}/sendMessage"
    for text in parts(message, ctx.config):
        try:
            answer = await post_json(ctx.session, url, {
                "chat_id": delivery.target, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True,
            }, policy=ctx.policy, label=delivery.to)
        except DeliveryError as exc:  # Telegram may quote the token back in its description
            raise DeliveryError(str(exc).replace(bot.token, "<token>"), transient=exc.transient) from None
        try:
            ok = json.loads(answer).get("ok") is True
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            said = answer[:200].decode("utf-8", "replace").replace(bot.token, "<token>")
            raise DeliveryError(f"Telegram did not accept the message: {said}")
