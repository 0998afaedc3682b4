"""A real SMTP server (aiosmtpd) in-process that keeps what it receives."""

from __future__ import annotations

import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def wait_for(self, count: int, seconds: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


def start_smtp(port: int, **kwargs: Any) -> tuple[Controller, Collector]:
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, collector
