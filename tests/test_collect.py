"""The SSH collector against real SSH servers on loopback that run its commands with a real shell."""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from responder.config import Config, from_data
from responder.model.verdict import Check, ClientVerdict, ServiceVerdict
from tests.support.ssh_server import SshHost, SshLab
from workers.assess.evidence.gather import collect_for_verdicts

NOW = "18/Nov/2025:09:20:00 +0000"


def access(vhost: str, status: int, path: str = "/", when: str = NOW) -> str:
    return f'{vhost} 10.1.2.3 - - [{when}] "GET {path} HTTP/1.1" {status} 512 "-" "curl/8.0"'


def config(lab: SshLab, servers: dict[str, dict[str, Any]], clients: dict[str, dict[str, Any]],
           **ssh: Any) -> Config:
    settings = {"username": "responder", "client_keys": [str(lab.client_key_path)],
                "known_hosts": str(lab.known_hosts), "agent": False, "timeout": "2s", "command_timeout": "5s"}
    settings.update(ssh)
    inventory = {"services": {"shop": {"url": "http://{address}:8080/"}}, "servers": servers,
                 "clients": {name: {"services": ["shop"], **c} for name, c in clients.items()}}
    return from_data({"inventory": inventory, "ssh": settings}, base=lab.dir)


def entry(host: SshHost, *logs: str, **extra: Any) -> dict[str, Any]:
    ssh = {"port": host.port, **extra.pop("ssh", {})}
    return {"address": host.address, "ssh": ssh, "logs": list(logs), **extra}


def failing(client: str, servers: list[str], passing: Sequence[str] = ()) -> ClientVerdict:
    checks = [Check(server=s, url="http://x/", ok=False, error="HTTP 503") for s in servers]
    checks += [Check(server=s, url="http://x/", ok=True, status=200) for s in passing]
    service = ServiceVerdict(service="shop", severity="critical", servers_total=len(checks),
                             servers_failing=len(servers), checks=checks)
    return ClientVerdict(client=client, severity="critical", summary="shop down", services=[service])


def by_server(verdict: ClientVerdict) -> dict[str, Any]:
    return {log.server: log for log in verdict.logs}


async def test_three_failing_servers_one_hangs_one_untrusted(lab: SshLab) -> None:
    good = await lab.host("good")
    hung = await lab.host("hung", stall=True)
    stranger = await lab.host("stranger", trust="unknown")
    healthy = await lab.host("healthy")
    for h in (good, hung, stranger, healthy):
        h.write("access.log", access("shop.test", 503) + "\n")
    log = str(good.root / "access.log")
    cfg = config(lab, {h.name: entry(h, str(h.root / "access.log")) for h in (good, hung, stranger, healthy)},
                 {"acme": {"servers": ["good", "hung", "stranger", "healthy"]}}, timeout="0.5s")

    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["good", "hung", "stranger"], ["healthy"])], [])

    logs = by_server(verdict)
    assert set(logs) == {"good", "hung", "stranger"}
    assert (logs["good"].path, logs["good"].lines, logs["good"].error) == (log, [access("shop.test", 503)], None)
    assert logs["hung"].error == "timed out connecting after 0.5s" and logs["hung"].lines == []
    assert logs["stranger"].error == \
        f"host key not trusted: {stranger.address}:{stranger.port} is not in known_hosts {lab.known_hosts}"
    assert stranger.connections == 1 and stranger.commands == []  # refused before anything ran
    assert healthy.connections == 0  # only failing servers are contacted
    assert hung.connections == 1


async def test_a_changed_host_key_is_refused(lab: SshLab) -> None:
    impostor = await lab.host("impostor", trust="changed")
    impostor.write("access.log", "secret\n")
    cfg = config(lab, {"impostor": entry(impostor, str(impostor.root / "access.log"))},
                 {"acme": {"servers": ["impostor"]}})
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["impostor"])], [])
    [excerpt] = verdict.logs
    assert excerpt.error is not None and excerpt.error.startswith("host key not trusted: ")
    assert "other than the one in known_hosts" in excerpt.error
    assert excerpt.lines == [] and impostor.commands == []


async def test_shell_metacharacters_and_html_in_log_lines_are_only_data(lab: SshLab, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    hostile = [
        access("shop.test", 500, f"/$(touch {canary})"),
        access("shop.test", 502, f"/`touch {canary}`"),
        access("shop.test", 200, "/<script>alert(1)</script>"),
        f"$(rm -rf /) ; rm -rf / && `reboot` | {canary} > /dev/null \\ '\" <b>bold</b> &amp;",
    ]
    host = await lab.host("web")
    host.write("access.log", "\n".join(hostile) + "\n")
    cfg = config(lab, {"web": entry(host, str(host.root / "access.log"))}, {"acme": {"servers": ["web"]}})
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    [excerpt] = verdict.logs
    assert excerpt.error is None
    assert sorted(excerpt.lines) == sorted(hostile)  # byte for byte, nothing interpreted
    assert excerpt.lines[:2] == hostile[:2]  # the 5xx lines first
    assert not canary.exists()


async def test_hostile_inventory_values_stay_quoted(lab: SshLab, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    host = await lab.host("web")
    weird = f"logs/$(touch {canary}); `touch {canary}` 'it''s' \"x\" & | > <.log"
    path = host.write(weird, "\n".join([
        access("shop.test", 503),
        access(f"'; touch {canary}; '", 503),
        access("other.test", 503),
        access("-e", 500),
    ]) + "\n")
    vhosts = ["shop.test", f"'; touch {canary}; '", f"$(touch {canary})", "-e"]
    cfg = config(lab, {"web": entry(host, str(path))}, {"acme": {"servers": ["web"], "vhosts": vhosts}})
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    [excerpt] = verdict.logs
    assert excerpt.error is None and excerpt.path == str(path)
    assert excerpt.lines == [access("shop.test", 503), access(f"'; touch {canary}; '", 503), access("-e", 500)]
    assert not canary.exists()
    [command] = host.commands
    words = shlex.split(command)
    assert str(path) in words and f"'; touch {canary}; '" in words and f"$(touch {canary})" in words


async def test_a_huge_log_is_bounded_in_lines_and_bytes(lab: SshLab) -> None:
    host = await lab.host("web")
    many = host.write("many.log", "".join(access("shop.test", 200, f"/{i}") + "\n" for i in range(200_000)))
    wide = host.write("wide.log", "".join(f"{i} " + "x" * 50_000 + "\n" for i in range(100)))
    cfg = config(lab, {"web": entry(host, str(many), str(wide))}, {"acme": {"servers": ["web"]}},
                 lines=30, max_bytes=64 * 1024)
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    many_x, wide_x = verdict.logs
    assert many_x.lines == [access("shop.test", 200, f"/{i}") for i in range(200_000 - 30, 200_000)]
    assert not many_x.truncated
    assert wide_x.truncated and wide_x.error is None
    assert sum(len(line) for line in wide_x.lines) <= 64 * 1024
    assert wide_x.lines[0].startswith("…") and wide_x.lines[-1].startswith("99 ")
    assert all(len(line) <= 2001 for line in wide_x.lines)


async def test_a_server_is_contacted_once_for_all_its_clients(lab: SshLab) -> None:
    shared = await lab.host("shared")
    lone = await lab.host("lone")
    quiet = await lab.host("quiet")
    shared.write("a.log", "\n".join([access("acme.test", 503), access("globex.test", 502)]) + "\n")
    shared.write("b.log", access("acme.test", 500) + "\n")
    lone.write("a.log", access("globex.test", 504) + "\n")
    servers = {
        "shared": entry(shared, str(shared.root / "a.log"), str(shared.root / "b.log")),
        "lone": entry(lone, str(lone.root / "a.log")),
        "quiet": entry(quiet, str(quiet.root / "a.log")),
        "nologs": {"address": "127.0.0.1"},
    }
    cfg = config(lab, servers, {
        "acme": {"servers": ["shared", "quiet"], "vhosts": ["acme.test"]},
        "globex": {"servers": ["shared", "lone", "nologs"], "vhosts": ["globex.test"]},
    })
    acme, globex = await collect_for_verdicts(
        cfg, [failing("acme", ["shared"], ["quiet"]), failing("globex", ["shared", "lone", "nologs"])], [])
    assert (shared.connections, lone.connections, quiet.connections) == (1, 1, 0)
    assert len(shared.commands) == 4  # two logs, narrowed for each client
    assert [(Path(x.path or "").name, x.lines) for x in acme.logs] == [
        ("a.log", [access("acme.test", 503)]), ("b.log", [access("acme.test", 500)])]
    assert [(x.server, x.lines) for x in globex.logs] == [
        ("lone", [access("globex.test", 504)]), ("shared", [access("globex.test", 502)]),
        ("shared", [])]  # nothing of globex's in b.log; and nologs is skipped
    assert globex.logs[2].note == "no recent line mentions globex.test"


async def test_authentication_failure(lab: SshLab) -> None:
    host = await lab.host("locked", accept_key=False)
    cfg = config(lab, {"locked": entry(host, "/var/log/x.log")}, {"acme": {"servers": ["locked"]}})
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["locked"])], [])
    assert [(x.server, x.path, x.error) for x in verdict.logs] == [("locked", None, "authentication failed")]
    assert host.commands == []


async def test_non_zero_exit_is_reported_per_log(lab: SshLab) -> None:
    host = await lab.host("web")
    good = host.write("good.log", access("shop.test", 503) + "\n")
    missing = str(host.root / "missing.log")
    (host.root / "a-directory").mkdir()
    cfg = config(lab, {"web": entry(host, missing, str(host.root / "a-directory"), str(good))},
                 {"acme": {"servers": ["web"]}})
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    gone, directory, found = verdict.logs
    assert gone.path == missing and gone.lines == []
    assert gone.error == f"exit status 1: tail: cannot open '{missing}' for reading: No such file or directory"
    assert directory.error == f"tail: error reading '{host.root / 'a-directory'}': Is a directory"
    assert found.error is None and found.lines == [access("shop.test", 503)]


async def test_a_command_that_never_ends_times_out(lab: SshLab) -> None:
    host = await lab.host("web")
    fifo = host.root / "stuck.log"
    os.mkfifo(fifo)  # tail blocks on a pipe nobody writes to
    good = host.write("good.log", access("shop.test", 503) + "\n")
    cfg = config(lab, {"web": entry(host, str(fifo), str(good))}, {"acme": {"servers": ["web"]}},
                 command_timeout="0.5s")
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    stuck, found = verdict.logs
    assert stuck.error == "command timed out after 0.5s"
    assert found.error is None and found.lines == [access("shop.test", 503)]  # the connection lived on


async def test_through_a_jump_host(lab: SshLab) -> None:
    bastion = await lab.host("bastion", jump=True)
    inner = await lab.host("inner")
    inner.write("access.log", access("shop.test", 503) + "\n")
    cfg = config(lab, {"inner": entry(inner, str(inner.root / "access.log"))}, {"acme": {"servers": ["inner"]}},
                 jump_host=f"ops@{bastion.address}:{bastion.port}")
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["inner"])], [])
    [excerpt] = verdict.logs
    assert excerpt.error is None and excerpt.lines == [access("shop.test", 503)]
    assert bastion.forwarded == [(inner.address, inner.port)]
    assert bastion.connections == 1 and bastion.commands == []


async def test_an_untrusted_jump_host_stops_everything_behind_it(lab: SshLab) -> None:
    bastion = await lab.host("bastion", jump=True, trust="unknown")
    inner = [await lab.host(f"inner{i}") for i in range(2)]
    cfg = config(lab, {h.name: entry(h, "/var/log/x.log") for h in inner},
                 {"acme": {"servers": [h.name for h in inner]}}, jump_host=f"{bastion.address}:{bastion.port}")
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", [h.name for h in inner])], [])
    expected = f"jump host {bastion.address}:{bastion.port}: host key not trusted: " \
               f"{bastion.address}:{bastion.port} is not in known_hosts {lab.known_hosts}"
    assert [(x.server, x.error) for x in verdict.logs] == [("inner0", expected), ("inner1", expected)]
    assert bastion.connections == 1 and bastion.forwarded == []
    assert [h.connections for h in inner] == [0, 0]


async def test_the_lab_opt_out_skips_the_host_key_check_loudly(lab: SshLab,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    host = await lab.host("lab", trust="unknown")
    host.write("access.log", access("shop.test", 503) + "\n")
    cfg = config(lab, {"lab": entry(host, str(host.root / "access.log"),
                                    ssh={"insecure_skip_host_key_check": True})}, {"acme": {"servers": ["lab"]}})
    with caplog.at_level(logging.WARNING, logger="workers.assess.evidence.ssh"):
        [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["lab"])], [])
        await collect_for_verdicts(cfg, [failing("acme", ["lab"])], [])
    [excerpt] = verdict.logs
    assert excerpt.lines == [access("shop.test", 503)] and excerpt.error is None
    assert excerpt.note == "host key NOT verified (servers.lab.ssh.insecure_skip_host_key_check is set)"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "SKIPPED" in r.getMessage()]
    assert len(warnings) == 2  # every time it is used


async def test_a_missing_known_hosts_file_refuses_every_server(lab: SshLab) -> None:
    host = await lab.host("web")
    missing = lab.dir / "nope" / "known_hosts"
    cfg = config(lab, {"web": entry(host, "/var/log/x.log")}, {"acme": {"servers": ["web"]}},
                 known_hosts=str(missing))
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    assert [x.error for x in verdict.logs] == \
        [f"host key not trusted: cannot read known_hosts {missing} (No such file or directory)"]
    assert host.connections == 0


async def test_per_server_user_host_and_known_hosts(lab: SshLab) -> None:
    host = await lab.host("web", trust="unknown")
    own = lab.dir / "web_known_hosts"
    assert host.host_key is not None
    key = host.host_key.export_public_key("openssh").decode().strip()
    own.write_text(f"[{host.address}]:{host.port} {key}\n")
    host.write("access.log", access("shop.test", 503) + "\n")
    server = {"address": "192.0.2.1", "logs": [str(host.root / "access.log")],  # probes go there; SSH does not
              "ssh": {"host": host.address, "port": host.port, "username": "deploy", "known_hosts": str(own)}}
    cfg = config(lab, {"web": server}, {"acme": {"servers": ["web"]}})
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    assert [(x.error, x.lines) for x in verdict.logs] == [(None, [access("shop.test", 503)])]
    assert host.usernames == ["deploy"]


async def test_window_and_log_filter_narrow_the_lines(lab: SshLab) -> None:
    from datetime import UTC, datetime

    from responder.model.alert import Alert

    host = await lab.host("app")
    host.write("app.log", "\n".join([
        "2025-11-18T08:00:00Z status=500 old failure",
        "2025-11-18T09:13:00Z status=200 fine",
        "2025-11-18T09:14:30Z status=503 upstream gone",
        "2025-11-18T09:15:00Z debug noise",
        "not a record at all",
    ]) + "\n")
    cfg = config(lab, {"app": entry(host, str(host.root / "app.log"),
                                    log_filter=r"^(?P<time>\S+) status=(?P<status>\d+)")},
                 {"acme": {"servers": ["app"]}})
    alert = Alert(source="alertmanager", key="k", identity="i", host="app", server="app", status="firing",
                  name="Down", starts_at=datetime(2025, 11, 18, 9, 14, tzinfo=UTC))
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["app"])], [alert])
    [excerpt] = verdict.logs
    assert excerpt.lines == ["2025-11-18T09:14:30Z status=503 upstream gone", "2025-11-18T09:13:00Z status=200 fine"]


async def test_refused_connections_and_unusable_keys_are_reported(lab: SshLab) -> None:
    from tests.support.fleet import free_port, next_address

    address = next_address()
    closed = {"address": address, "ssh": {"port": free_port(address)}, "logs": ["/var/log/x.log"]}
    cfg = config(lab, {"closed": closed}, {"acme": {"servers": ["closed"]}})
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["closed"])], [])
    assert [x.error for x in verdict.logs] == ["connection refused"]

    host = await lab.host("web")
    missing = lab.dir / "no_such_key"
    cfg = config(lab, {"web": entry(host, "/var/log/x.log")}, {"acme": {"servers": ["web"]}},
                 client_keys=[str(missing)])
    [verdict] = await collect_for_verdicts(cfg, [failing("acme", ["web"])], [])
    assert [x.error for x in verdict.logs] == [f"cannot load ssh.client_keys: {missing}: No such file or directory"]
    assert host.connections == 0
