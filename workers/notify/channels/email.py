"""Email through aiosmtplib: plain text and HTML alternatives, the checks as CSV, logs as text.

Plain SMTP, STARTTLS (`starttls: true`), implicit TLS (`tls: true`, usually port 465) and login.
A lost connection or a 4xx answer is transient (worth a retry later); a 5xx answer is not.

Two timeouts: `email.connect_timeout` (default `email.timeout`) for connecting and every reply up to
DATA, and `email.data_timeout` for the reply to the message itself. Once the message is on the wire
the server may be storing it while we wait: a send cut off then is `unknown` (uncertain), not a
transient failure, so no retry delivers a second copy; the long default leaves slow relays time.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib

from responder.config import Config, EmailConfig
from workers.notify.channels.base import DeliveryError, Recipient, SendContext
from workers.notify.render import Message

NAME = "email"


def recipients(config: Config, client: str | None) -> list[Recipient]:
    """The config's `email.to` for the whole incident; a client's `contacts.email` for its part.
    Nothing without an SMTP server (`email:`) to send through."""
    if config.email is None:
        return []
    if client is None:
        return [Recipient(NAME, to) for to in config.email.to]
    found = config.inventory.clients.get(client)
    return [Recipient(NAME, to, scope=client) for to in found.contacts.email] if found else []


def build(cfg: EmailConfig, message: Message, to: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = message.subject
    msg["From"] = cfg.sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=cfg.sender.rpartition("@")[2] or "responder.local")
    msg["X-Responder-Incident"] = message.incident.id
    msg["X-Responder-Severity"] = message.severity
    msg.set_content(message.text)
    msg.add_alternative(message.html, subtype="html")
    for name, mime, data in message.attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


async def send(ctx: SendContext, message: Message, delivery: Recipient) -> None:
    if ctx.config.email is None:
        raise DeliveryError("no SMTP server configured (email)")
    try:
        await send_mail(ctx.config.email, message, delivery.to)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        raise DeliveryError(f"refused: {'; '.join(f'{r.code} {r.message}' for r in exc.recipients)}"[:300],
                            transient=any(400 <= c < 500 for c in codes)) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.code}: {exc.message}"[:300], transient=400 <= exc.code < 500) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300], transient=True) from exc


class _Client(aiosmtplib.SMTP):
    """aiosmtplib's client, waiting `data_timeout` for the reply to the message and noting that it got
    that far (everything before DATA waits the client's own, connect, timeout)."""

    data_timeout: float = 600.0
    data_started = False

    async def data(self, message: str | bytes, /, *, timeout: Any = None) -> aiosmtplib.SMTPResponse:
        self.data_started = True
        return await super().data(message, timeout=self.data_timeout)


async def send_mail(cfg: EmailConfig, message: Message, to: str) -> None:
    """Send one message to one address; raises on failure (the caller records it)."""
    context = ssl.create_default_context()
    if cfg.ca_file:
        context.load_verify_locations(cfg.ca_file)
    if not cfg.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    smtp = _Client(
        hostname=cfg.host, port=cfg.port, username=cfg.username or None, password=cfg.password or None,
        use_tls=cfg.tls, start_tls=cfg.starttls if not cfg.tls else False,
        timeout=cfg.connect_timeout if cfg.connect_timeout is not None else cfg.timeout,
        tls_context=context if (cfg.tls or cfg.starttls) else None,
    )
    smtp.data_timeout = cfg.data_timeout
    msg = build(cfg, message, to)
    try:
        async with smtp:
            await smtp.send_message(msg)
    except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as exc:
        if smtp.data_started and not isinstance(exc, aiosmtplib.SMTPResponseException):
            raise DeliveryError(f"no answer once the message was sent ({type(exc).__name__}): it may have "
                                "been delivered; not sent again", uncertain=True) from exc
        raise
