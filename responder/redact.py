"""Secrets never reach a log line or an error message: URL userinfo and the config's own secrets.

`redis_url: redis://:PASSWORD@host` must not be printed when Redis cannot be reached, nor a bearer
token, an SMTP password, a chat webhook URL (its path is the credential) or a bot token. `redact`
rewrites one text; `install_log_redaction` puts it on every handler of the root logger, so whatever
logs (ours, aiohttp, RQ, redis-py) is rewritten before it is written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from responder.config import Config

MASK = "***"
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"]*@")


def strip_userinfo(text: str) -> str:
    """`redis://:pw@host:6379/0` -> `redis://***@host:6379/0`, in every URL of the text."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def config_secrets(config: Config | None) -> list[str]:
    """Every credential the config holds, longest first (a token inside a URL is masked with the URL)."""
    if config is None:
        return []
    found: list[str] = [*config.auth.tokens, *(t for ts in config.auth.source_tokens.values() for t in ts)]
    found += [s for s in (config.auth.hmac_secret, config.auth.secret) if s]
    if config.email and config.email.password:
        found.append(config.email.password)
    chat = config.chat
    found += [c.url for c in (chat.teams, chat.slack) if c is not None]
    if chat.telegram is not None:
        found.append(chat.telegram.token)
    if config.receiver.token:
        found.append(config.receiver.token)
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return strip_userinfo(text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and its traceback) with `redact` before any handler formats it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logger's bug, not a reason to drop the line
            message = str(record.msg)
        record.msg = redact(message, self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def install_log_redaction(config: Config | None) -> None:
    """Redact on every handler of the root logger (call after logging.basicConfig)."""
    f = RedactingFilter(config_secrets(config))
    for handler in logging.getLogger().handlers:
        handler.addFilter(f)
