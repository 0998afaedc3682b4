"""Icinga 2 notifications: the JSON glue, the stock scripts' flags and environment, saved shapes, keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responder.errors import PayloadError
from responder.intake.sources import detect_source, icinga
from responder.model.alert import Alert
from tests.conftest import PAYLOADS

CAPTURED = PAYLOADS / "captured" / "icinga2"


def one(body: bytes) -> Alert:
    [alert] = icinga.parse(body).alerts
    return alert


def test_the_same_notification_in_every_shape_is_one_alert() -> None:
    """JSON glue, env dump and argv list of the same PROBLEM: same alert, same idempotency key."""
    shapes = [one((PAYLOADS / f"icinga-host-down.{ext}").read_bytes()) for ext in ("json", "env", "argv.json")]
    assert len({a.key for a in shapes}) == 1
    for a in shapes:
        assert (a.host, a.status, a.event, a.identity) == \
            ("web-01.example.com", "firing", "problem", "icinga:web-01.example.com")
        assert a.labels["address"] == "10.0.1.21" and a.labels["state"] == "DOWN"
        assert a.summary == "CRITICAL - Host Unreachable (10.0.1.21)"
        assert a.starts_at is not None and a.starts_at.isoformat() == "2025-11-18T09:14:31+00:00"
    services = [one((PAYLOADS / f"icinga-service-critical.{ext}").read_bytes()) for ext in ("json", "env", "argv.json")]
    assert len({a.key for a in services}) == 1
    assert {a.identity for a in services} == {"icinga:db-01.example.com!disk /var"}
    assert services[0].name == "Disk /var" and services[0].labels["service"] == "disk /var"
    assert "| /var=20068MB" in services[0].labels["output"]  # perfdata kept


def test_problem_and_recovery_share_identity_not_key() -> None:
    down = one((PAYLOADS / "icinga-host-down.json").read_bytes())
    up = one((PAYLOADS / "icinga-host-recovery.json").read_bytes())
    assert down.identity == up.identity and down.key != up.key
    assert (up.status, up.event, up.starts_at) == ("resolved", "recovery", None)
    assert up.ends_at is not None
    crit = one((PAYLOADS / "icinga-service-critical.json").read_bytes())
    ok = one((PAYLOADS / "icinga-service-recovery.json").read_bytes())
    assert crit.identity == ok.identity and ok.status == "resolved"


@pytest.mark.parametrize(("kind", "state", "event", "status"), [
    ("PROBLEM", "CRITICAL", "problem", "firing"),
    ("RECOVERY", "OK", "recovery", "resolved"),
    ("ACKNOWLEDGEMENT", "CRITICAL", "acknowledgement", "firing"),
    ("ACKNOWLEDGEMENT", "OK", "acknowledgement", "resolved"),
    ("DOWNTIMESTART", "CRITICAL", "downtime", "firing"),
    ("DOWNTIMEEND", "OK", "downtime", "resolved"),
    ("DOWNTIMECANCELLED", "WARNING", "downtime", "firing"),
    ("DowntimeRemoved", "WARNING", "downtime", "firing"),
    ("FLAPPINGSTART", "WARNING", "flapping", "firing"),
    ("FLAPPINGEND", "OK", "flapping", "resolved"),
    ("CUSTOM", "UNKNOWN", "custom", "firing"),
    ("Problem", "WARNING", "problem", "firing"),
])
def test_notification_types(kind: str, state: str, event: str, status: str) -> None:
    batch = icinga.parse_data({"notification_type": kind, "host_name": "web-01", "service_name": "http",
                               "service_state": state, "long_date_time": "2025-11-18 09:14:31 +0000"})
    [a] = batch.alerts
    assert (a.event, a.status) == (event, status)


def test_acknowledgement_keeps_author_and_comment() -> None:
    ack = one((PAYLOADS / "icinga-service-acknowledgement.json").read_bytes())
    assert ack.event == "acknowledgement" and ack.status == "firing"  # still CRITICAL
    assert ack.labels["author"] == "jdoe" and "OPS-4711" in ack.labels["comment"]
    assert ack.identity == one((PAYLOADS / "icinga-service-critical.json").read_bytes()).identity


def test_keys() -> None:
    base = {"notification_type": "PROBLEM", "host_name": "web-01", "host_state": "DOWN",
            "long_date_time": "2025-11-18 09:14:31 +0000"}

    def key(**change: str) -> str:
        return icinga.parse_data({**base, **change}).alerts[0].key

    assert key() == key()  # a second delivery of the same notification
    assert key() == key(timet="1763457271", long_date_time="")  # timet and long_date_time are the same second
    assert key() != key(long_date_time="2025-11-18 09:44:31 +0000")  # a later problem
    assert key() != key(host_state="UNREACHABLE")
    # a re-notification (new time, same last state change) is the same alert
    assert key(last_state_change="1763457000") == key(last_state_change="1763457000",
                                                     long_date_time="2025-11-18 09:44:31 +0000")
    assert key(last_state_change="0") == key()  # Icinga's 0: the first state, not a time
    # two acknowledgements at the same second differ by what was said
    ack = {"notification_type": "ACKNOWLEDGEMENT", "notification_author": "a"}
    assert key(**ack, notification_comment="one") != key(**ack, notification_comment="two")


def test_no_time_at_all_is_accepted_with_a_warning() -> None:
    batch = icinga.parse_data({"notification_type": "PROBLEM", "host_name": "web-01"})
    assert batch.alerts[0].key and batch.warnings and "no time" in batch.warnings[0]
    again = icinga.parse_data({"notification_type": "PROBLEM", "host_name": "web-01"})
    assert again.alerts[0].key != batch.alerts[0].key  # never silently merged


def test_host_falls_back_to_the_address() -> None:
    a = icinga.parse_data({"notification_type": "PROBLEM", "host_name": "", "host_address": "10.0.1.21"}).alerts[0]
    assert a.host == "10.0.1.21"
    unknown = one((PAYLOADS / "icinga-host-unknown.json").read_bytes())
    assert unknown.host == "legacy-fw-03"


def test_edge_malformed_sample_is_accepted_in_full() -> None:
    a = one((PAYLOADS / "icinga-edge-malformed.json").read_bytes())
    assert (a.host, a.event, a.status) == ("файл-сервер-01", "custom", "firing")
    assert a.identity == "icinga:файл-сервер-01!http!vhost:shop"
    assert a.labels["author"] == "Jörg Müller" and "`backtick`" in a.labels["comment"]
    assert len(a.labels["output"]) <= icinga.LABEL_LIMIT + 1 and len(a.summary) <= 501
    assert a.starts_at is not None and a.starts_at.utcoffset() is not None


def test_icinga_json_encode_numbers_and_nulls() -> None:
    """Icinga's own Json.encode writes timet as a number and unset macros as null (captured from 2.13)."""
    for path in sorted((CAPTURED / "webhook").glob("0*.json")):
        body = json.loads(path.read_text())["body_text"].encode()
        a = one(body)
        assert a.key.startswith("icinga:") and a.host
        assert (a.event == "problem") == ("PROBLEM" in body.decode())


def test_captured_script_argv_and_env() -> None:
    """What a NotificationCommand really received from Icinga 2.13 (long flags plus env), replayed."""
    by_name = {}
    for path in sorted((CAPTURED / "script").glob("*.json")):
        assert detect_source(path.read_bytes()) == "icinga"
        by_name[path.name.split("-", 1)[1]] = one(path.read_bytes())
    assert by_name["PROBLEM-db-01-postgres.json"].identity == "icinga:db-01!postgres"
    assert by_name["RECOVERY-db-01-postgres.json"].status == "resolved"
    assert by_name["PROBLEM-web-01.json"].labels["address"] == "127.0.0.11"
    # the webhook capture of the same notifications gives the same keys
    hooked = {one(json.loads(p.read_text())["body_text"].encode()).key for p in (CAPTURED / "webhook").glob("0*.json")}
    assert {a.key for a in by_name.values()} == hooked


def test_flags_take_the_next_argument_whatever_it_looks_like() -> None:
    fields, options = icinga.read_argv(["-t", "PROBLEM", "-l", "web-01", "-o", "--help", "-c", "--config=/tmp/x",
                                        "-b", "-t", "-s", "DOWN"])
    assert fields["host_output"] == "--help" and fields["notification_comment"] == "--config=/tmp/x"
    assert fields["notification_author"] == "-t" and fields["notification_type"] == "PROBLEM"
    assert options == {}


def test_s_and_o_belong_to_the_service_when_e_is_given() -> None:
    fields, _ = icinga.read_argv(["-e", "http", "-s", "CRITICAL", "-o", "down", "-t", "PROBLEM", "-l", "h"])
    assert fields["service_state"] == "CRITICAL" and fields["service_output"] == "down"
    assert "host_state" not in fields
    fields, _ = icinga.read_argv(["-s", "DOWN", "-o", "unreachable", "-t", "PROBLEM", "-l", "h"])
    assert fields["host_state"] == "DOWN"


def test_environment_fills_gaps_only_when_it_came_from_icinga() -> None:
    os_env = {"HOSTNAME": "the-monitoring-box", "PATH": "/usr/bin"}
    assert icinga.fields_from_argv(["-t", "PROBLEM", "-l", "web-01"], os_env)["host_name"] == "web-01"
    with pytest.raises(PayloadError) as exc:
        icinga.from_argv([], os_env)  # the OS's HOSTNAME alone is no notification
    assert exc.value.field == "notification_type"
    env = {"NOTIFICATIONTYPE": "PROBLEM", "HOSTNAME": "web-01", "HOSTSTATE": "DOWN", "SERVICEDESC": "http",
           "SERVICESTATE": "CRITICAL", "LONGDATETIME": "2025-11-18 09:14:31 +0000"}
    a = icinga.from_argv([], env).alerts[0]
    assert (a.host, a.labels["service"], a.labels["state"]) == ("web-01", "http", "CRITICAL")
    mixed = icinga.fields_from_argv(["-t", "RECOVERY", "-l", "web-02"], env)
    assert (mixed["notification_type"], mixed["host_name"], mixed["host_state"]) == ("RECOVERY", "web-02", "DOWN")


def test_command_options_are_not_fields() -> None:
    fields, options = icinga.read_argv(["--config", "/etc/r.yaml", "-t", "PROBLEM", "-l", "x", "--timet", "5"])
    assert options == {"config": "/etc/r.yaml"} and fields == {"notification_type": "PROBLEM", "host_name": "x",
                                                                 "timet": "5"}


@pytest.mark.parametrize(("argv", "text"), [
    (["-Z", "x"], "option -Z not recognized"),
    (["-t"], "requires argument"),
    (["-t", "PROBLEM", "stray"], "unexpected argument 'stray'"),
])
def test_bad_argv(argv: list[str], text: str) -> None:
    with pytest.raises(PayloadError) as exc:
        icinga.read_argv(argv)
    assert text in str(exc.value) and exc.value.field == "argv"


@pytest.mark.parametrize(("data", "field", "text"), [
    ({"host_name": "x"}, "notification_type", "missing"),
    ({"notification_type": "SOMETHING", "host_name": "x"}, "notification_type", "unknown notification type"),
    ({"notification_type": "PROBLEM"}, "host_name", "missing"),
    ({"notification_type": "PROBLEM", "host_name": ["x"]}, "host_name", "expected a string"),
    ({"notification_type": {"a": 1}, "host_name": "x"}, "notification_type", "expected a string"),
])
def test_bad_glue_names_the_field(data: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(PayloadError) as exc:
        icinga.parse_data(data)  # type: ignore[arg-type]
    assert exc.value.field == field and text in exc.value.message


@pytest.mark.parametrize("body", [
    b"", b"[]", b"42", b'"text"', b"[1, 2]", b'{"argv": [1]}', b'{"argv": ["-t", "PROBLEM"], "env": 3}',
    b"not json at all", b"HOSTNAME\n", (PAYLOADS / "icinga-edge-naive-shell-json.txt").read_bytes(),
    b'[{"notification_type": "PROBLEM", "host_name": "a"}, {"notification_type": "PROBLEM"}]',
])
def test_bad_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        icinga.parse(body)


def test_storm_list_and_error_position() -> None:
    batch = icinga.parse((PAYLOADS / "icinga-host-down-storm.json").read_bytes())
    assert len(batch.alerts) == 10 and len({a.identity for a in batch.alerts}) == 10
    with pytest.raises(PayloadError) as exc:
        icinga.parse(b'[{"notification_type": "PROBLEM", "host_name": "a"}, {"notification_type": "PROBLEM"}]')
    assert exc.value.field == "[1].host_name"


def test_env_dump_forms(tmp_path: Path) -> None:
    text = 'export NOTIFICATIONTYPE=PROBLEM\nHOSTNAME=\'web-01\'\nHOSTOUTPUT="line one\\nline two"\n# c\n\n'
    a = one(text.encode())
    assert a.host == "web-01" and a.labels["output"] == "line one\nline two"
    assert icinga.looks_like_env_dump(text) and not icinga.looks_like_env_dump("{}")
