"""Email through aiosmtplib: plain text and HTML alternatives, the checks as CSV, logs as text.

Plain SMTP, STARTTLS (`starttls: true`), implicit TLS (`tls: true`, usually port 465) and login.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from responder.config import EmailConfig
from workers.notify.render import Message


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


async def send(cfg: EmailConfig, message: Message, to: str) -> None:
    """Send one message to one address; raises on failure (the caller records it)."""
    context = ssl.create_default_context()
    if not cfg.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    await aiosmtplib.send(
        build(cfg, message, to), hostname=cfg.host, port=cfg.port,
        username=cfg.username or None, password=cfg.password or None,
        use_tls=cfg.tls, start_tls=cfg.starttls if not cfg.tls else False,
        timeout=cfg.timeout, tls_context=context if (cfg.tls or cfg.starttls) else None,
    )
