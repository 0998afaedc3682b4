"""The pure parts of log collection: the remote command, line selection, the jump host, narrowing."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from responder.config import SshConfig
from responder.errors import ConfigError
from responder.inventory import load_inventory_data
from responder.model.alert import Alert
from workers.assess.evidence.gather import narrowing_terms
from workers.assess.evidence.lines import Span, compile_filters, decode, parse_time, select
from workers.assess.evidence.ssh import Fetch, parse_jump_host, remote_command

T0 = datetime(2025, 11, 18, 9, 14, 12, tzinfo=UTC)


def combined(status: int, when: str = "18/Nov/2025:09:14:12 +0000", request: str = "GET / HTTP/1.1") -> str:
    return f'10.0.0.1 - - [{when}] "{request}" {status} 12 "-" "agent"'


def test_the_command_reads_the_tail_bounded_in_bytes() -> None:
    assert remote_command(Fetch("/var/log/nginx/access.log"), 50, 65536) == (
        "[ -r /var/log/nginx/access.log ] || { tail -n 1 -- /var/log/nginx/access.log >/dev/null; exit; }; "
        "tail -n 50 -- /var/log/nginx/access.log | tail -c 65536")


def test_the_command_narrows_to_vhosts_after_reading_more() -> None:
    assert remote_command(Fetch("/l og", ("a.test", "b'c")), 10, 4096) == (
        "[ -r '/l og' ] || { tail -n 1 -- '/l og' >/dev/null; exit; }; "
        "tail -n 200 -- '/l og' | grep -a -F -e a.test -e 'b'\"'\"'c' | tail -n 10 | tail -c 4096")


def test_a_local_filter_widens_what_is_read() -> None:
    assert remote_command(Fetch("/x", (), wide=True), 10, 4096) == \
        "[ -r /x ] || { tail -n 1 -- /x >/dev/null; exit; }; tail -n 200 -- /x | tail -c 4096"


@given(path=st.text(min_size=1), terms=st.lists(st.text(min_size=1), max_size=4))
def test_inventory_values_come_back_as_whole_words(path: str, terms: list[str]) -> None:
    """Whatever the inventory holds, a POSIX shell sees each value as one word, unchanged, where it belongs."""
    if "\x00" in path or any("\x00" in t for t in terms):
        return  # cannot be part of a command line at all
    lexer = shlex.shlex(remote_command(Fetch(path, tuple(terms)), 5, 2048), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    assert words[:13] == ["[", "-r", path, "]", "||", "{", "tail", "-n", "1", "--", path, ">", "/dev/null"]
    assert words[13:17] == [";", "exit", ";", "}"]
    assert words[17:23] == [";", "tail", "-n", "100" if terms else "5", "--", path]
    if terms:
        grep = words[24:words.index("|", 24)]
        assert grep == ["grep", "-a", "-F", *[w for t in terms for w in ("-e", t)]]


def test_decode_never_fails_and_neutralises_control_characters() -> None:
    data = b"ok \xff\xfe line\n\x1b[31mred\x1b[0m\tTab\r\nlast"
    assert decode(data, cut=False) == ["ok \ufffd\ufffd line", "\ufffd[31mred\ufffd[0m\tTab", "last"]


def test_decode_marks_a_cut_first_line_and_caps_long_lines() -> None:
    lines = decode(b"ment of a line\n" + b"y" * 5000 + b"\n", cut=True)
    assert lines[0] == "…ment of a line"
    assert lines[1] == "y" * 2000 + "…"


@pytest.mark.parametrize(("text", "expected"), [
    ("18/Nov/2025:09:14:12 +0000", T0),
    ("[18/Nov/2025:12:14:12 +0300]", T0),
    ("2025-11-18T09:14:12Z", T0),
    ("2025-11-18 09:14:12", T0),
    ("1763457252", T0),
    ("yesterday", None),
])
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_five_hundreds_first_and_the_newest_kept() -> None:
    lines = [combined(200), combined(503), combined(404), combined(500, request='GET /\\"q\\" 200 HTTP/1.1'),
             "no status here"]
    assert select(lines, limit=4) == [lines[1], lines[3], lines[2], lines[4]]


def test_the_window_drops_old_lines_and_keeps_undated_ones() -> None:
    window = Span(start=T0 - timedelta(minutes=10), end=None)
    old = combined(500, "18/Nov/2025:08:00:00 +0000")
    fresh = combined(502, "18/Nov/2025:09:10:00 +0000")
    assert select([old, "a stack trace line", fresh], window=window) == [fresh, "a stack trace line"]


def test_the_window_comes_from_the_alerts() -> None:
    def alert(start: datetime, end: datetime | None) -> Alert:
        return Alert(source="alertmanager", key=str(start), identity=str(start), host="h", status="firing",
                     name="n", starts_at=start, ends_at=end)

    margin = timedelta(minutes=10)
    assert Span.around([]) == Span()
    firing = Span.around([alert(T0, None), alert(T0 - timedelta(hours=1), T0)])
    assert firing == Span(T0 - timedelta(hours=1) - margin, None)
    resolved = Span.around([alert(T0, T0 + timedelta(minutes=5))])
    assert resolved == Span(T0 - margin, T0 + timedelta(minutes=5) + margin)
    assert not resolved.holds(T0 + timedelta(hours=1)) and resolved.holds(T0)


def test_log_filters_must_all_match_and_may_name_time_and_status() -> None:
    filters = compile_filters(r"app=shop", r"^(?P<time>\S+) (?P<status>\d{3}) ", None)
    lines = ["2025-11-18T09:14:00Z 200 app=shop fine", "2025-11-18T09:14:01Z 500 app=shop broke",
             "2025-11-18T09:14:02Z 500 app=blog broke", "2025-11-18T07:00:00Z 500 app=shop long ago"]
    window = Span(start=T0 - timedelta(minutes=10))
    assert select(lines, filters=filters, window=window) == [lines[1], lines[0]]


@pytest.mark.parametrize(("text", "expected"), [
    ("ops@bastion.example:2222", ("ops", "bastion.example", 2222)),
    ("bastion", (None, "bastion", 22)),
    ("u@[2001:db8::1]:2200", ("u", "2001:db8::1", 2200)),
    ("[2001:db8::1]", (None, "2001:db8::1", 22)),
])
def test_parse_jump_host(text: str, expected: tuple[str | None, str, int]) -> None:
    assert parse_jump_host(text) == expected


def test_a_bad_jump_host_or_log_filter_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"expected \[user@\]host\[:port\]"):
        SshConfig(jump_host="ops@bastion:ssh")
    with pytest.raises(ConfigError, match=r"servers.a.log_filter: not a valid regular expression"):
        load_inventory_data({"servers": {"a": {"address": "10.0.0.1", "log_filter": "(unclosed"}}})


def test_narrowing_on_shared_and_own_servers() -> None:
    inv = load_inventory_data({
        "services": {"shop": {"url": "https://shop.acme.test/health"}, "api": {"url": "http://{address}:81/"},
                     "raw": {"url": "http://10.0.0.9/"}},
        "servers": {"shared": {"address": "10.0.0.1"}, "own": {"address": "10.0.0.2"}},
        "clients": {
            "acme": {"servers": ["shared", "own"], "services": ["shop", "api", "raw"]},
            "globex": {"servers": ["shared"], "services": ["api"], "vhosts": ["globex.test", "www.globex.test"]},
        },
    })
    assert narrowing_terms(inv, "acme", "shared") == ("shop.acme.test",)  # not the {address} or IP ones
    assert narrowing_terms(inv, "acme", "own") == ()  # its own server: every line is its own
    assert narrowing_terms(inv, "globex", "shared") == ("globex.test", "www.globex.test")
