"""Integrations that install themselves: the Zabbix media type, user and action through its API
(zabbix.py), and the Icinga 2 objects and the Alertmanager receiver printed with this machine's paths
and this receiver's URL filled in (icinga2.py, alertmanager.py).

The definitions are the ones in samples/integrations/ (the media types and the Icinga objects ship
in files/, kept equal to the samples by a test), so what installs itself is what the README documents
for installing by hand.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from responder.config import Config

LOOPBACK = ("127.", "::1", "localhost", "[::1]")


def packaged(name: str) -> str:
    return resources.files(__package__).joinpath("files", name).read_text(encoding="utf-8")


def receiver_url(config: Config, url: str | None = None) -> str:
    """Where a monitoring system reaches `serve`: --url, else public_url, else receiver.url, else listen."""
    return (url or config.public_url or config.receiver.url or config.base_url).rstrip("/")


def hook_token(config: Config) -> str | None:
    """The bearer token a monitoring system sends: receiver.token, else the first of auth.tokens."""
    return config.receiver.token or (config.auth.tokens[0] if config.auth.tokens else None)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.startswith(LOOPBACK) or host == "localhost"


def responder_command() -> list[str]:
    """How this machine runs `responder`: the installed script beside this Python (a virtualenv), on
    PATH, the script this process was started as, else this Python with `-m responder`."""
    beside = Path(sys.executable).parent / "responder"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("responder")
    if found:
        return [str(Path(found).resolve())]
    started = Path(sys.argv[0])
    if started.name == "responder" and started.is_file():
        return [str(started.resolve())]
    return [sys.executable, "-m", "responder"]
