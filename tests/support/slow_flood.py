"""`python -m tests.support.slow_flood PORT COUNT`: COUNT connections to 127.0.0.1:PORT, each sending a
request head one byte at a time and coming back when the server closes it, until stdin closes. It runs
in a process of its own, as an attacker would, so its load does not slow the test's own client. Prints
"opened N" once all COUNT are open, and "opened N closed M" at the end."""

from __future__ import annotations

import asyncio
import contextlib
import sys

HEAD = b"POST /hooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" * 50


class SlowFlood:
    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.opened = 0
        self.closed_by_server = 0
        self.stop = asyncio.Event()

    async def one(self) -> None:
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            self.opened += 1
            try:
                for i in range(len(HEAD)):
                    if self.stop.is_set():
                        break
                    writer.write(HEAD[i:i + 1])
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        if await asyncio.wait_for(reader.read(1), 0.5) == b"":
                            break  # the server closed it
                self.closed_by_server += 1
            except OSError:
                self.closed_by_server += 1
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await asyncio.sleep(0.5)  # and comes back


async def main(port: int, count: int) -> None:
    flood = SlowFlood(port, count)
    tasks = [asyncio.create_task(flood.one()) for _ in range(count)]
    while flood.opened < count:
        await asyncio.sleep(0.05)
    print(f"opened {flood.opened}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    flood.stop.set()
    await asyncio.gather(*tasks)
    print(f"opened {flood.opened} closed {flood.closed_by_server}", flush=True)


if __name__ == "__main__":
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
