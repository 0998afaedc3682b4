"""A real headless Chromium driven over the DevTools protocol (a websocket), for page tests that need
more than the DOM: a viewport width, element boxes, screenshots."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.fleet import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = count(1)
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        await self.ws.send_json({"id": n, "method": method, "params": params})
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    async def wait_event(self, method: str) -> None:
        if any(e.get("method") == method for e in self.events):
            self.events.clear()
            return
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("method") == method:
                self.events.clear()
                return

    async def open(self, url: str, width: int, height: int = 900) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=width < 600)
        await self.send("Page.enable")
        self.events.clear()
        await self.send("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"page script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def screenshot(self, path: Path, full: bool = True) -> Path:
        """The whole page (`full`), or what the viewport shows."""
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=full)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    async def boxes(self, selector: str) -> list[dict[str, float]]:
        """The bounding boxes (left, right, width) of every element the selector matches."""
        return list(await self.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(selector)})).map(e => {{"
            "const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width,"
            " top: r.top, visible: r.width > 0 && r.height > 0};})"))


@contextlib.asynccontextmanager
async def chromium(tmp: Path) -> AsyncIterator[Page]:
    """One Chromium and one page; closed (and its process ended) on the way out."""
    assert CHROMIUM is not None
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={tmp / 'chromium-cdp'}", f"--remote-debugging-port={port}",
        "--remote-debugging-address=127.0.0.1", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession() as http:
            targets: list[dict[str, Any]] = []
            for _ in range(600):  # until DevTools answers (or Chromium exited)
                if proc.returncode is not None:
                    raise RuntimeError(f"chromium exited with {proc.returncode}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                        targets = [t for t in await resp.json() if t.get("type") == "page"]
                        if targets:
                            break
                await asyncio.sleep(0.1)
            if not targets:
                raise RuntimeError("chromium's DevTools never listed a page")
            async with http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as ws:
                yield Page(ws)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
