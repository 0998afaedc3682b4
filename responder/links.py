"""Signed client links: what a client's contacts open without a login.

    {public_url}/share/{incident}/{client}?exp={unix seconds}&sig={HMAC-SHA256, base64url}

The signature covers the incident, the client and the expiry, with `auth.secret`; when the config
sets none, a random one is generated once and kept in `state_dir/link-secret` (mode 0600), which
`serve` and the workers started on the same config both read. Workers on other machines need
`auth.secret` set (or the file copied), or their links will not open.

The notifier writes links (`client_url`), the web checks them (`check`); neither knows the other.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from enum import Enum
from pathlib import Path
from urllib.parse import quote

from responder.config import Config

SECRET_FILE = "link-secret"
PREFIX = "/share"
_MAX_EXP_DIGITS = 12  # year 33658: enough, and bounds what the parser reads
_SIG_CHARS = 43  # 32 bytes in unpadded base64url


class Verdict(Enum):
    OK = "ok"
    EXPIRED = "expired"
    BAD = "bad"  # tampered, truncated, or not a link at all


def _read_or_create(path: Path) -> bytes:
    """The secret in `path`, created atomically on first use (two processes racing agree on one)."""
    with contextlib.suppress(FileNotFoundError):
        value = path.read_bytes().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # fails when another process got there first: then theirs wins
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


_cache: dict[str, bytes] = {}


def secret(config: Config) -> bytes:
    """`auth.secret`, or the one kept under `state_dir` (read once per process)."""
    if config.auth.secret:
        return config.auth.secret.encode()
    path = Path(config.state_dir) / SECRET_FILE
    key = str(path)
    if key not in _cache:
        _cache[key] = _read_or_create(path)
    return _cache[key]


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def signature(key: bytes, incident_id: str, client: str, expires: int) -> str:
    message = json.dumps([incident_id, client, expires], ensure_ascii=True).encode()  # unambiguous fields
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def path(key: bytes, incident_id: str, client: str, expires: int) -> str:
    sig = signature(key, incident_id, client, expires)
    return f"{PREFIX}/{quote(incident_id, safe='')}/{quote(client, safe='')}?exp={expires}&sig={sig}"


def client_url(config: Config, incident_id: str, client: str, now: float | None = None) -> str:
    """The link a client's contacts get: valid for `auth.link_ttl` from now."""
    expires = int((time.time() if now is None else now) + config.auth.link_ttl)
    return config.base_url + path(secret(config), incident_id, client, expires)


def check(key: bytes, incident_id: str, client: str, exp: str | None, sig: str | None, now: float) -> Verdict:
    """Whether a link's parts are genuine and still valid. Never raises, whatever it is given."""
    if not isinstance(exp, str) or not isinstance(sig, str):
        return Verdict.BAD
    if not (exp.isascii() and exp.isdigit()) or len(exp) > _MAX_EXP_DIGITS or len(sig) != _SIG_CHARS:
        return Verdict.BAD
    if exp != str(int(exp)):  # one spelling per expiry: "017…" is not the link that was sent
        return Verdict.BAD
    try:
        expected = signature(key, incident_id, client, int(exp))
    except (ValueError, TypeError):
        return Verdict.BAD
    if not hmac.compare_digest(_bytes(expected), _bytes(sig)):
        return Verdict.BAD
    return Verdict.OK if now < int(exp) else Verdict.EXPIRED
