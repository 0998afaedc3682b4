"""The markup of each chat flavour: how untrusted text is neutralised, how bold and links are written.

Alert text is untrusted. Each flavour escapes every interpolated value so it can neither format the
message nor open a link or a mention:

- `telegram`: Telegram's HTML parse mode; `&`, `<` and `>` become entities.
- `slack`: Slack mrkdwn; `&`, `<` and `>` become entities (no links, no `<!channel>`). Slack has no
  escape for `*`, `~`, `` ` `` and word-edge `_`, so those are swapped for look-alikes.
- `markdown`: Markdown for Mattermost (Slack's plain mode); backslash escapes, and `@` loses its
  power to mention (`@channel`) through a zero-width space.
- `teams`: the Markdown subset of Adaptive Card TextBlocks and Facts; backslash escapes, list markers
  at the start of a line escaped, `{{` broken so it cannot call the card's DATE()/TIME() functions.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass


class Safe(str):
    """Text already written in a flavour's markup: not escaped again."""


ZWSP = "\u200b"

_SLACK_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_SLACK_LOOKALIKE = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})
_SLACK_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#<>|~])")
_TEAMS_SPECIAL = re.compile(r"([\\`*_\[\]<~])")  # Teams renders no headings, tables or quotes
_LIST_MARKER = re.compile(r"^(\s*)([-+*]|\d+\.)(\s)", re.MULTILINE)


def escape_telegram(text: str) -> str:
    return html.escape(text, quote=False)


def escape_slack(text: str) -> str:
    text = text.translate(_SLACK_ENTITIES).translate(_SLACK_LOOKALIKE)
    return _SLACK_EDGE_UNDERSCORE.sub("\uff3f", text)


def escape_markdown(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text).replace("@", "@" + ZWSP)


def escape_teams(text: str) -> str:
    text = _TEAMS_SPECIAL.sub(r"\\\1", text)
    text = _LIST_MARKER.sub(lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}"
                            if not m.group(2)[0].isdigit()
                            else f"{m.group(1)}{m.group(2)[:-1]}\\.{m.group(3)}", text)
    return text.replace("{{", "{" + ZWSP + "{")


@dataclass(frozen=True)
class Flavour:
    name: str
    escape: Callable[[str], str]
    bold_format: str  # `{}` is the escaped text
    link_format: Callable[[str, str], str]  # (url, escaped label) -> markup

    def text(self, value: object) -> Safe:
        """Any value as safe text: escaped unless it is already markup."""
        if isinstance(value, Safe):
            return value
        return Safe(self.escape("" if value is None else str(value)))

    def bold(self, value: object) -> Safe:
        return Safe(self.bold_format.format(self.text(value)))

    def link(self, url: str, label: object) -> Safe:
        return Safe(self.link_format(url, self.text(label)))


def _slack_link(url: str, label: str) -> str:
    return f"<{url.translate(_SLACK_ENTITIES).replace('|', '%7C')}|{label}>"


def _markdown_link(url: str, label: str) -> str:
    return f"[{label}]({url.replace(')', '%29').replace(' ', '%20')})"


FLAVOURS: dict[str, Flavour] = {
    "telegram": Flavour("telegram", escape_telegram, "<b>{}</b>",
                        lambda url, label: f'<a href="{html.escape(url, quote=True)}">{label}</a>'),
    "slack": Flavour("slack", escape_slack, "*{}*", _slack_link),
    "markdown": Flavour("markdown", escape_markdown, "**{}**", _markdown_link),
    "teams": Flavour("teams", escape_teams, "**{}**", _markdown_link),
}


def shorten(text: str, limit: int, ellipsis: str = "…") -> str:
    """At most `limit` characters, cut on a word when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut + ellipsis
