"""No secret in anything Responder writes: distinctive secrets in a config, a real `responder serve` and
worker, a real SMTP server that wants a login, the chat stand-ins (some refusing, one echoing its
secret back in the error), a real incident; then every log, API answer, page, mail, chat message,
CLI answer and file under state_dir (but the config and the link-secret file) is searched for them."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from pathlib import Path
from urllib.parse import quote

import aiohttp
import bcrypt
from aiosmtpd.smtp import AuthResult

from tests.conftest import run_responder_async
from tests.support.chat_endpoints import TEAMS_SECRET, TELEGRAM_TOKEN, ChatEndpoints
from tests.support.fleet import Fleet, free_port
from tests.support.scenario import shared_fleet, storm, write_config
from tests.support.serve_process import serve
from tests.support.smtp import start_smtp

HOOK_TOKEN = "HOOK-secret-token-5a1c"
WRONG_TOKEN = "WRONG-hook-token-77de"
SMTP_PASSWORD = "SMTP-secret-password-e19f"
SLACK_HOOK = "SLACK-secret-acme-hook-3b2d"
LOGIN_PASSWORD = "LOGIN-secret-password-c0d3"
WRONG_PASSWORD = "WRONG-login-password-9a9a"
LOGIN_HASH = bcrypt.hashpw(LOGIN_PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"noc:{password}".encode()).decode()}


class Authenticator:
    """The SMTP server takes one login: mailer / SMTP_PASSWORD."""

    def __call__(self, server: object, session: object, envelope: object, mechanism: str,
                 auth_data: object) -> AuthResult:
        login = getattr(auth_data, "login", b"")
        password = getattr(auth_data, "password", b"")
        return AuthResult(success=login == b"mailer" and password == SMTP_PASSWORD.encode())


async def test_no_secret_appears_in_anything_responder_writes(fleet: Fleet, tmp_path: Path) -> None:
    smtp_port = free_port()
    controller, mail = start_smtp(smtp_port, authenticator=Authenticator(), auth_require_tls=False)
    chat = ChatEndpoints()
    await chat.__aenter__()
    try:
        await run(fleet, tmp_path, smtp_port, mail, chat)
    finally:
        await chat.__aexit__()
        controller.stop()


async def run(fleet: Fleet, tmp_path: Path, smtp_port: int, mail: object, chat: ChatEndpoints) -> None:
    inventory = await shared_fleet(fleet)
    inventory["clients"]["acme"]["contacts"].update(
        slack=chat.slack_url(SLACK_HOOK), teams=chat.teams_url("acme"), telegram="-100200")
    port = free_port()
    everything = ["email", "teams", "slack", "telegram"]
    path = write_config(
        tmp_path, inventory, listen=f"127.0.0.1:{port}",
        auth={"tokens": ["${HOOK_TOKEN}"], "users": {"noc": LOGIN_HASH}},
        email={"host": "127.0.0.1", "port": smtp_port, "username": "mailer", "password": "${SMTP_PASSWORD}",
               "sender": "responder@test", "to": ["noc@test"]},
        chat={"teams": {"url": chat.teams_url()}, "slack": {"url": chat.slack_url()},
              "telegram": {"token": TELEGRAM_TOKEN, "chat_id": "-100100", "api_url": chat.base_url}},
        routes={"critical": everything, "degraded": everything, "ok": ["email"]})
    env = {**os.environ, "HOOK_TOKEN": HOOK_TOKEN, "SMTP_PASSWORD": SMTP_PASSWORD, "RESPONDER_LOG_LEVEL": "DEBUG"}
    # refusals that carry the secret back: a service that echoes its own URL, Telegram quoting the token
    chat.script(f"slack/{SLACK_HOOK}", (404, {}, f"no_service: {chat.slack_url(SLACK_HOOK)} is gone"))
    chat.script("telegram/-100200", (403, {}, f"Forbidden: bot {TELEGRAM_TOKEN} was blocked by the user"))
    chat.script("teams/acme", (400, {}, f"bad request to /teams/acme?api-version=1&{TEAMS_SECRET}"))

    written: dict[str, str] = {}
    async with serve(path, port, env=env, ready="/readyz") as served:
        base = served.base
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/hooks/alertmanager", data=storm(fleet), headers={
                    "Authorization": f"Bearer {WRONG_TOKEN}", "Content-Type": "application/json"}) as r:
                assert r.status == 401
                written["hook 401"] = await r.text()
            async with s.post(f"{base}/hooks/alertmanager", data=storm(fleet), headers={
                    "Authorization": f"Bearer {HOOK_TOKEN}", "Content-Type": "application/json"}) as r:
                assert r.status == 202
                [iid] = (await r.json())["incidents"]
            code, out, err = await run_responder_async("worker", "--burst", "--config", str(path), env=env)
            assert code == 0, err
            written["worker"] = out + err
            code, out, err = await run_responder_async("notifications", "retry", iid, "--config", str(path), env=env)
            written["retry"] = out + err
            code, out, err = await run_responder_async("incident", iid, "--json", "--config", str(path), env=env)
            assert code == 0, err
            written["incident --json"] = out + err
            async with s.get(f"{base}/api/incidents", headers=basic(WRONG_PASSWORD)) as r:
                assert r.status == 401
                written["login 401"] = await r.text()
            for page in ("/api/incidents", f"/api/incidents/{iid}", "/", f"/incidents/{iid}", "/metrics"):
                async with s.get(base + page, headers=basic(LOGIN_PASSWORD)) as r:
                    assert r.status == 200, page
                    written[page] = await r.text()
            verdict = written[f"/api/incidents/{iid}"]
            assert '"severity": "critical"' in verdict or '"severity":"critical"' in verdict
            mails = await asyncio.to_thread(mail.wait_for, 2)  # type: ignore[attr-defined]
            assert sorted(str(m["To"]) for m in mails) == ["noc@acme.test", "noc@test"]
            for i, m in enumerate(mails):
                written[f"mail {i}"] = m.as_string()
            [acme] = [m for m in mails if m["To"] == "noc@acme.test"]
            text = acme.get_body(("plain",))
            assert text is not None
            [share] = re.findall(rf"{re.escape(base)}/share/\S+", text.get_content())
            async with s.get(share) as r:
                assert r.status == 200
                written["share"] = await r.text()
        code, out, err = await run_responder_async("inventory", "check", "--config", str(path), env=env)
        written["inventory check"] = out + err
        broken = tmp_path / "broken.yaml"
        broken.write_text(path.read_text() + "surprise: 1\n")
        code, out, err = await run_responder_async("incidents", "--config", str(broken), env=env)
        assert code == 2
        written["bad config"] = out + err

    statuses = {(r.kind, r.name) for r in chat.received}
    assert ("slack", SLACK_HOOK) in statuses and ("telegram", "-100200") in statuses  # the refusals happened
    failures = " ".join(written["incident --json"].split())
    assert failures.count('"status": "failed"') >= 3, failures
    for r in chat.received:
        written[f"chat {r.kind} {r.name}"] = str(r.payload)
    written["log serve"] = served.log.read_bytes().decode("utf-8", "replace")  # its stdout and stderr
    state = tmp_path / "var"
    link_secret = (state / "link-secret").read_text().strip()
    for f in state.rglob("*"):
        if f.is_file() and f.name != "link-secret":
            written[f"state {f.relative_to(state)}"] = f.read_bytes().decode("utf-8", "replace")
    assert any(k.startswith("state redis") for k in written), sorted(written)

    secrets = {"hook token": HOOK_TOKEN, "wrong hook token": WRONG_TOKEN, "SMTP password": SMTP_PASSWORD,
               "Slack hook": SLACK_HOOK, "Teams signature": TEAMS_SECRET.split("=", 1)[1],
               "Telegram token": TELEGRAM_TOKEN.split(":", 1)[1], "login password": LOGIN_PASSWORD,
               "wrong login password": WRONG_PASSWORD, "login hash": LOGIN_HASH[7:], "link secret": link_secret}
    found = []
    for what, value in secrets.items():
        for form in {value, quote(value, safe="")}:
            found += [f"{what} in {where}" for where, text in written.items() if form in text]
    assert not found, found
