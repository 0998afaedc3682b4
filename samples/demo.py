"""`make run`: the demo. Starts a small fleet of client sites on loopback addresses (some broken on
purpose), a mail catcher, and `responder serve --workers 2` on samples/responder.yaml with the
embedded Redis; replays the sample Alertmanager storm and prints where to look.

    python samples/demo.py            # runs until Ctrl-C
    python samples/demo.py --once     # exits after the first incident is assessed and mailed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from aiosmtpd.controller import Controller

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = HERE / "responder.yaml"
STORM = HERE / "payloads" / "alertmanager-firing-storm.json"
VAR = ROOT / "var" / "demo"
MAILDIR = VAR / "mail"
SMTP_PORT = 8025
TOKEN = os.environ.get("RESPONDER_TOKEN", "demo-token")

# what is broken on purpose: (server, port) -> behaviour
BROKEN = {
    ("web-01", 8002): "503",      # acme's shop answers 503 ...
    ("web-02", 8002): "503",      # ... on both its servers: acme is critical
    ("web-03", 8001): "refuse",   # nothing listens: globex loses one of three servers
    ("web-03", 8004): "refuse",
    ("app-02", 8003): "slow",     # initech's portal answers, slowly but within its limit on the others
}


class MailCatcher:
    """Writes every message it receives to var/demo/mail/NNN.eml."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        MAILDIR.mkdir(parents=True, exist_ok=True)
        n = len(list(MAILDIR.glob("*.eml"))) + 1
        (MAILDIR / f"{n:03d}.eml").write_bytes(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


def site(server: str, port: int, behaviour: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        if behaviour == "503":
            return web.Response(status=503, text="Service Unavailable")
        if behaviour == "slow":
            await asyncio.sleep(0.4)
        return web.Response(text=f"OK from {server}:{port} for {request.host}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


async def start_fleet() -> list[web.AppRunner]:
    inventory = yaml.safe_load((HERE / "inventory.yaml").read_text())
    runners = []
    ports = (8001, 8002, 8003, 8004)
    for name, server in inventory["servers"].items():
        for port in ports:
            behaviour = BROKEN.get((name, port), "ok")
            if behaviour == "refuse":
                continue
            runner = web.AppRunner(site(name, port, behaviour), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, server["address"], port).start()
            runners.append(runner)
    return runners


async def wait_ready(url: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise SystemExit(f"demo: responder did not become ready at {url}")


async def main(once: bool) -> int:
    # every run starts from scratch: otherwise the replayed storm is (rightly) a duplicate of the last one
    shutil.rmtree(VAR, ignore_errors=True)
    MAILDIR.mkdir(parents=True, exist_ok=True)
    smtp = Controller(MailCatcher(), hostname="127.0.0.1", port=SMTP_PORT)
    smtp.start()
    runners = await start_fleet()
    env = {"RESPONDER_LOG_LEVEL": "WARNING", **os.environ, "RESPONDER_TOKEN": TOKEN}
    serve = subprocess.Popen([sys.executable, "-m", "responder", "serve", "--config", str(CONFIG),
                              "--workers", "2"], env=env)
    base = "http://127.0.0.1:8080"
    try:
        await wait_ready(f"{base}/readyz")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/hooks/alertmanager", data=STORM.read_bytes(), headers={
                "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}) as resp:
                answer = await resp.json()
            print(f"\nreplayed the sample storm ({STORM.name}): HTTP {resp.status} {answer}")
            incident_id = answer["incidents"][0]
            incident: dict = {}
            for _ in range(300):
                async with session.get(f"{base}/api/incidents/{incident_id}") as r:
                    incident = await r.json()
                if incident.get("severity") and incident.get("notifications"):
                    break
                await asyncio.sleep(0.2)
        mails = sorted(MAILDIR.glob("*.eml"))
        print("\n=== Responder demo is running ===")
        print(f"incident severity : {incident.get('severity')}")
        for c in incident.get("clients", []):
            print(f"  {c['client']:<8} {c['severity']:<9} {c['summary']}")
        print(f"incident page     : {base}/incidents/{incident_id}")
        print(f"incident JSON     : {base}/api/incidents/{incident_id}")
        print(f"all incidents     : {base}/")
        print(f"caught mail       : {', '.join(str(m) for m in mails) or '(none yet)'}")
        if mails:
            msg = message_from_bytes(mails[0].read_bytes(), policy=policy.default)
            print(f"first subject     : {msg['Subject']}")
        print("try               : .venv/bin/responder check --client globex --config samples/responder.yaml")
        if once:
            return 0 if incident.get("severity") else 1
        print("Ctrl-C stops the demo.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        serve.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            serve.wait(timeout=20)
        for r in runners:
            await r.cleanup()
        smtp.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="exit after the first incident is mailed")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.once)))
