"""A private Zabbix 6.0 stack from Debian's packages, all on loopback:

- its own PostgreSQL cluster (initdb in a temporary directory; as the postgres user when run as root),
  loaded with the schema that ships with zabbix-server-pgsql;
- zabbix_server with its own config, AlertScriptsPath and trapper port;
- the frontend (zabbix-frontend-php) under PHP's built-in web server, for its JSON-RPC API. The
  frontend reads its config from a fixed path in /etc; a hard-linked copy of it, whose config class
  names a private file instead, keeps the test away from the system's files.
"""

from __future__ import annotations

import contextlib
import getpass
import glob
import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.daemons.common import stop_process, wait_until
from tests.support.fleet import free_port

SERVER = "/usr/sbin/zabbix_server"
FRONTEND = Path("/usr/share/zabbix")
SCHEMA = Path("/usr/share/zabbix-server-pgsql")
CONFIG_CLASS = "include/classes/core/CConfigFile.php"


def initdb() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return found[-1] if found else None


def missing() -> list[str]:
    """What this machine lacks for the stack, by package."""
    out = []
    if not Path(SERVER).exists():
        out.append("zabbix-server-pgsql")
    if not (FRONTEND / "api_jsonrpc.php").exists():
        out.append("zabbix-frontend-php")
    if not shutil.which("php"):
        out.append("php-cli")
    elif "pgsql" not in subprocess.run(["php", "-m"], capture_output=True, text=True, check=False).stdout:
        out.append("php-pgsql")
    if initdb() is None or not shutil.which("psql"):
        out.append("postgresql")
    return out


def version() -> str:
    out = subprocess.run([SERVER, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else "unknown"


@dataclass
class Stack:
    api_url: str
    trapper_port: int
    log: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log_text(self) -> str:
        text = ""
        for path in (self.log.parent / "server.out", self.log):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")
        return text

    def assert_running(self) -> None:
        """A daemon that exited will not act: say so at once, with its output."""
        for proc in self.processes:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[0]} exited with {proc.returncode}:\n{self.log_text()[-4000:]}")


    async def send_until(self, host: str, key: str, value: str, reached: Callable[[], Any], what: str) -> None:
        """Send a trapper value again on every poll until `reached()`: a value that arrives between two
        config-cache syncs (the item known, its trigger not yet) is taken ("processed: 1") and then
        judged by no trigger, so one send may never raise the event."""
        async def check() -> Any:
            self.assert_running()
            if done := reached():
                return done
            with contextlib.suppress(OSError):  # the trapper is not listening yet
                await send_value(self.trapper_port, host, key, value)
            return False

        await wait_until(check, what, self.log_text)


def zabbix_port() -> int:
    """A free port Zabbix accepts as ListenPort (1024-32767: below the ephemeral range free_port uses)."""
    import random
    import socket

    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _as_db_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _wait_for_postgres(port: int, user: str) -> None:
    import time

    for _ in range(600):
        ok = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", "postgres", "-Atc",
                             "select 1"], capture_output=True, text=True, check=False)
        if ok.stdout.strip() == "1":
            return
        time.sleep(0.1)
    raise AssertionError(f"the private PostgreSQL did not start: {ok.stderr}")


@contextlib.contextmanager
def postgres() -> Iterator[tuple[int, str]]:
    """A throwaway PostgreSQL cluster on a free port: (port, superuser)."""
    user = "postgres" if os.geteuid() == 0 else getpass.getuser()
    root = Path(tempfile.mkdtemp(prefix="responder-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    binary = initdb()
    assert binary is not None
    subprocess.run(_as_db_user([binary, "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-locale"]),
                   check=True, capture_output=True)
    port = free_port()
    server = str(Path(binary).parent / "postgres")
    with open(root / "postgres.log", "wb") as out:
        proc = subprocess.Popen(_as_db_user([server, "-D", str(data), "-k", str(root), "-h", "127.0.0.1",
                                             "-p", str(port), "-c", "fsync=off", "-c", "synchronous_commit=off",
                                             "-c", "full_page_writes=off"]), stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_postgres(port, user)
        yield port, user
    finally:
        stop_process(proc)
        shutil.rmtree(root, ignore_errors=True)


def load_schema(port: int, user: str, database: str) -> None:
    subprocess.run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, database], check=True)
    for part in ("schema", "images", "data"):
        sql = subprocess.run(["zcat", str(SCHEMA / f"{part}.sql.gz")], capture_output=True, check=True).stdout
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", database,
                        "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True, check=True)


def private_frontend(directory: Path, config_file: Path) -> Path:
    """A copy of the frontend (hard links, so it costs nothing) that reads `config_file`."""
    web = directory / "web"
    try:
        subprocess.run(["cp", "-al", str(FRONTEND), str(web)], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        shutil.copytree(FRONTEND, web, symlinks=True)
    target = web / CONFIG_CLASS
    original = (FRONTEND / CONFIG_CLASS).read_text()
    assert "'/etc/zabbix/zabbix.conf.php'" in original, "this frontend finds its config elsewhere"
    target.unlink()  # a hard link: write a new file, never through the link
    target.write_text(original.replace("'/etc/zabbix/zabbix.conf.php'", repr(str(config_file))))
    return web


FRONTEND_CONFIG = """<?php
$DB['TYPE'] = 'POSTGRESQL';
$DB['SERVER'] = '127.0.0.1';
$DB['PORT'] = '{port}';
$DB['DATABASE'] = '{database}';
$DB['USER'] = '{user}';
$DB['PASSWORD'] = '';
$DB['SCHEMA'] = '';
$DB['ENCRYPTION'] = false;
$DB['KEY_FILE'] = '';
$DB['CERT_FILE'] = '';
$DB['CA_FILE'] = '';
$DB['VERIFY_HOST'] = false;
$DB['CIPHER_LIST'] = '';
$DB['VAULT_URL'] = '';
$DB['VAULT_DB_PATH'] = '';
$DB['VAULT_TOKEN'] = '';
$DB['DOUBLE_IEEE754'] = true;
$ZBX_SERVER = '127.0.0.1';
$ZBX_SERVER_PORT = '{server_port}';
$ZBX_SERVER_NAME = 'responder-test';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
"""

SERVER_CONFIG = """LogType=file
LogFile={d}/zabbix_server.log
DebugLevel=3
PidFile={d}/zabbix_server.pid
SocketDir={sockets}
DBHost=127.0.0.1
DBPort={db_port}
DBName={database}
DBUser={user}
ListenIP=127.0.0.1
ListenPort={server_port}
AlertScriptsPath={d}/alertscripts
TmpDir={d}/tmp
CacheUpdateFrequency=1
AllowRoot=1
StartPollers=1
StartPollersUnreachable=1
StartTrappers=1
StartPingers=1
StartDiscoverers=0
StartHTTPPollers=0
StartAlerters=2
StartEscalators=1
Timeout=4
"""


@contextlib.contextmanager
def running(directory: Path, alert_scripts: list[Path], env: dict[str, str]) -> Iterator[Stack]:
    """The whole stack; `env` reaches the alert scripts (Zabbix passes its environment on)."""
    d = directory
    for sub in ("alertscripts", "tmp"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    for script in alert_scripts:
        shutil.copy2(script, d / "alertscripts" / script.name)
    database = "zabbix"
    sockets = Path(tempfile.mkdtemp(prefix="zbx-"))  # unix socket paths must stay short
    with postgres() as (db_port, user):
        load_schema(db_port, user, database)
        server_port = zabbix_port()
        (d / "zabbix_server.conf").write_text(SERVER_CONFIG.format(d=d, db_port=db_port, database=database,
                                                                   user=user, server_port=server_port,
                                                                   sockets=sockets))
        frontend_config = d / "zabbix.conf.php"
        frontend_config.write_text(FRONTEND_CONFIG.format(port=db_port, database=database, user=user,
                                                          server_port=server_port))
        web = private_frontend(d, frontend_config)
        web_port = free_port()
        stack = Stack(api_url=f"http://127.0.0.1:{web_port}/api_jsonrpc.php", trapper_port=server_port,
                      log=d / "zabbix_server.log")
        try:
            with open(d / "server.out", "wb") as out:
                stack.processes.append(subprocess.Popen(
                    [SERVER, "-f", "-c", str(d / "zabbix_server.conf")], stdout=out, stderr=subprocess.STDOUT,
                    env={**os.environ, **env}))
            with open(d / "php.log", "wb") as out:
                stack.processes.append(subprocess.Popen(
                    ["php", "-S", f"127.0.0.1:{web_port}", "-t", str(web)], stdout=out, stderr=subprocess.STDOUT))
            yield stack
        finally:
            for proc in reversed(stack.processes):
                stop_process(proc)
            shutil.rmtree(sockets, ignore_errors=True)


class Api:
    """Zabbix's JSON-RPC API, as the frontend serves it."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.auth: str | None = None

    async def call(self, method: str, params: Any) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        if self.auth:
            body["auth"] = self.auth
        async with self.session.post(self.url, data=json.dumps(body),
                                     headers={"Content-Type": "application/json-rpc"}) as resp:
            answer = await resp.json(content_type=None)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer["result"]

    async def ready(self) -> bool:
        try:
            return bool(await self.call("apiinfo.version", {}))
        except (aiohttp.ClientError, AssertionError, ValueError):
            return False

    async def login(self, username: str = "Admin", password: str = "zabbix") -> None:
        self.auth = await self.call("user.login", {"username": username, "password": password})

    @contextlib.asynccontextmanager
    async def explained(self, host: str) -> AsyncIterator[None]:
        """A wait that gives up says what Zabbix itself knows: the host's events and its triggers'
        state, and every message it sent or failed to send (was there no event, or no message?)."""
        try:
            yield
        except AssertionError as exc:
            hosts = await self.call("host.get", {"output": ["hostid"], "filter": {"host": [host]}})
            ids = [h["hostid"] for h in hosts]
            events = await self.call("event.get", {"output": "extend", "hostids": ids})
            triggers = await self.call("trigger.get", {"output": ["description", "value", "state", "error",
                                                                  "lastchange"], "hostids": ids})
            alerts = await self.call("alert.get", {"output": ["eventid", "status", "error", "sendto", "subject",
                                                              "retries"]})
            raise AssertionError(f"{exc}\n--- zabbix events ---\n{events}\n--- zabbix triggers ---\n{triggers}"
                                 f"\n--- zabbix alerts ---\n{alerts}") from None


async def send_value(port: int, host: str, key: str, value: str) -> str:
    """What zabbix_sender does: one value for a trapper item, over Zabbix's own protocol."""
    import asyncio

    data = json.dumps({"request": "sender data", "data": [{"host": host, "key": key, "value": value}]}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"ZBXD\x01" + struct.pack("<Q", len(data)) + data)
        await writer.drain()
        head = await reader.readexactly(13)
        answer = json.loads(await reader.readexactly(struct.unpack("<Q", head[5:13])[0]))
    finally:
        writer.close()
    return str(answer.get("info", ""))
