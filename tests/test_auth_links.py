"""Signed client links as pure functions: only the link that was signed passes, before its expiry;
anything else (a changed character, a truncated signature, garbage) is refused without an error."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from responder import links
from responder.config import from_data
from responder.links import Verdict, check

KEY = b"k" * 32
NOW = 1_800_000_000.0
INC = "20251118-091412-3fa2c1"


def parts(url: str) -> tuple[str, str, str, str]:
    split = urlsplit(url)
    _, share, incident, client = split.path.split("/")
    assert share == "share"
    q = {k: v[0] for k, v in parse_qs(split.query).items()}
    return incident, client, q["exp"], q["sig"]


def test_a_signed_link_passes_until_it_expires() -> None:
    incident, client, exp, sig = parts(links.path(KEY, INC, "acme", int(NOW) + 60))
    assert (incident, client) == (INC, "acme")
    assert check(KEY, incident, client, exp, sig, NOW) is Verdict.OK
    assert check(KEY, incident, client, exp, sig, NOW + 60) is Verdict.EXPIRED
    assert check(b"another key" * 3, incident, client, exp, sig, NOW) is Verdict.BAD
    assert check(KEY, incident, "globex", exp, sig, NOW) is Verdict.BAD
    assert check(KEY, "20251118-091412-3fa2c2", client, exp, sig, NOW) is Verdict.BAD
    assert check(KEY, incident, client, str(int(exp) + 1), sig, NOW) is Verdict.BAD
    assert check(KEY, incident, client, "0" + exp, sig, NOW) is Verdict.BAD  # one spelling per expiry
    assert check(KEY, incident, client, None, sig, NOW) is Verdict.BAD
    assert check(KEY, incident, client, exp, None, NOW) is Verdict.BAD


def test_fields_cannot_be_shifted_between_incident_and_client() -> None:
    sig = links.signature(KEY, "a/b", "c", 10**10)
    assert check(KEY, "a", "b/c", str(10**10), sig, NOW) is Verdict.BAD


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(min_value=0), char=st.characters(codec="utf-8"), which=st.sampled_from(["exp", "sig"]))
def test_one_changed_character_is_refused(pos: int, char: str, which: str) -> None:
    exp, sig = str(int(NOW) + 3600), links.signature(KEY, INC, "acme", int(NOW) + 3600)
    value = exp if which == "exp" else sig
    i = pos % len(value)
    changed = value[:i] + char + value[i + 1:]
    if changed == value:
        return
    args = (changed, sig) if which == "exp" else (exp, changed)
    assert check(KEY, INC, "acme", *args, NOW) is not Verdict.OK


@settings(max_examples=500, deadline=None)
@given(incident=st.text(), client=st.text(), exp=st.one_of(st.none(), st.text(), st.integers().map(str)),
       sig=st.one_of(st.none(), st.text(), st.binary().map(lambda b: b.hex())), now=st.floats(allow_nan=True))
def test_the_parser_never_raises_and_only_a_signature_passes(incident: str, client: str, exp: str | None,
                                                             sig: str | None, now: float) -> None:
    verdict = check(KEY, incident, client, exp, sig, now)
    assert isinstance(verdict, Verdict)
    if verdict is not Verdict.BAD:
        assert exp is not None and sig == links.signature(KEY, incident, client, int(exp))


@settings(max_examples=100, deadline=None)
@given(incident=st.text(min_size=1), client=st.text(min_size=1), ttl=st.integers(min_value=1, max_value=10**9))
def test_every_signed_link_parses_back(incident: str, client: str, ttl: int) -> None:
    """Whatever the names (slashes, spaces, non-ASCII), the path carries them back intact."""
    from urllib.parse import unquote

    url = links.path(KEY, incident, client, int(NOW) + ttl)
    inc_q, client_q, exp, sig = parts(url)
    assert check(KEY, unquote(inc_q), unquote(client_q), exp, sig, NOW) is Verdict.OK


def test_the_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    cfg = from_data({"inventory": {}, "state_dir": "var"}, base=tmp_path)
    first = links.secret(cfg)
    path = tmp_path / "var" / links.SECRET_FILE
    assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    links._cache.clear()  # another process reads the same file
    assert links.secret(cfg) == first and len(first) >= 40
    own = from_data({"inventory": {}, "state_dir": "var2", "auth": {"secret": "s" * 20}}, base=tmp_path)
    assert links.secret(own) == b"s" * 20 and not (tmp_path / "var2").exists()
    url = links.client_url(own, INC, "acme corp", now=NOW)
    assert url.startswith("http://127.0.0.1:8080/share/20251118-091412-3fa2c1/acme%20corp?exp=")
