"""Email transports against a real SMTP server (aiosmtpd): plain, STARTTLS, implicit TLS, login."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from responder.config import EmailConfig, from_data
from responder.model.alert import utcnow
from responder.model.incident import Incident
from responder.model.verdict import Check
from tests.support.fleet import free_port
from tests.support.smtp import Collector
from tests.support.tls import self_signed
from workers.assess.judge import judge_client, judge_service
from workers.notify.channels.email import send_mail
from workers.notify.render import render

USER, PASSWORD = "responder", "s3cret pass"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path, "127.0.0.1")


def server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)
    return ctx


@pytest.fixture
def message(tmp_path: Path) -> Any:
    cfg = from_data({"inventory": {"servers": {"w": {"address": "10.0.0.1"}},
                                   "clients": {"acme": {"servers": ["w"], "services": [{"shop": {"url": "http://{address}/"}}]}}}},
                    base=tmp_path)
    now = utcnow()
    check = Check(server="w", url="http://10.0.0.1/", ok=False, status=503, error="HTTP 503", latency_ms=4.0)
    inc = Incident(id="20251118-090000-abcdef", opened_at=now, updated_at=now, severity="critical",
                   status="assessed", clients=[judge_client("acme", [judge_service("shop", [check], 10)], 10)])
    return render(cfg, inc)


def start(port: int, **kwargs: Any) -> Iterator[Collector]:
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield collector
    finally:
        controller.stop()


async def test_plain(message: Any) -> None:
    port = free_port()
    for collector in start(port):
        await send_mail(EmailConfig(host="127.0.0.1", port=port, to=["noc@test"]), message, "noc@test")
        [got] = collector.messages
        assert got["Subject"].startswith("[CRITICAL] acme critical")
        assert [p.get_content_type() for p in got.iter_parts()][:1] == ["multipart/alternative"]


async def test_starttls_with_login(message: Any, cert: tuple[Path, Path]) -> None:
    port = free_port()
    for collector in start(port, tls_context=server_context(cert), require_starttls=True, auth_required=True,
                           authenticator=authenticator):
        cfg = EmailConfig(host="127.0.0.1", port=port, starttls=True, username=USER, password=PASSWORD,
                          ca_file=str(cert[0]))
        await send_mail(cfg, message, "noc@test")
        assert len(collector.messages) == 1
        wrong = cfg.model_copy(update={"password": "nope"})
        with pytest.raises(Exception, match=r"535|[Aa]uthentication"):
            await send_mail(wrong, message, "noc@test")
        untrusted = cfg.model_copy(update={"ca_file": None})
        with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await send_mail(untrusted, message, "noc@test")
        assert len(collector.messages) == 1


async def test_implicit_tls(message: Any, cert: tuple[Path, Path]) -> None:
    port = free_port()
    for collector in start(port, ssl_context=server_context(cert), authenticator=authenticator,
                           auth_require_tls=False):
        cfg = EmailConfig(host="127.0.0.1", port=port, tls=True, username=USER, password=PASSWORD,
                          ca_file=str(cert[0]))
        await send_mail(cfg, message, "noc@test")
        [got] = collector.messages
        assert got["X-Responder-Severity"] == "critical"
