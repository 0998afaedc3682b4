"""Zabbix: the webhook media type's JSON, the script media type's argv and message template, keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from responder.errors import PayloadError
from responder.intake.sources import detect_source, zabbix
from responder.model.alert import Alert
from tests.conftest import PAYLOADS, ROOT

CAPTURED = PAYLOADS / "captured" / "zabbix"
SAMPLES = ROOT / "samples" / "integrations" / "zabbix"


def one(body: bytes) -> Alert:
    [alert] = zabbix.parse(body).alerts
    return alert


def load(name: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((PAYLOADS / name).read_text())
    return data


def test_problem_and_recovery() -> None:
    problem = one((PAYLOADS / "zabbix-problem.json").read_bytes())
    recovery = one((PAYLOADS / "zabbix-recovery.json").read_bytes())
    assert (problem.status, problem.event, recovery.status, recovery.event) == \
        ("firing", "problem", "resolved", "recovery")
    assert problem.identity == recovery.identity == "zabbix:3157884"
    assert (problem.key, recovery.key) == ("zabbix:3157884:1:0", "zabbix:3157884:0:0")
    assert problem.host == "web-01.example.com"  # {HOST.HOST}, the technical name
    assert problem.labels["address"] == "10.0.1.21" and problem.labels["severity"] == "High"
    assert problem.labels["tags"] == "component:network, env:prod, scope:availability"
    assert "recovery_id" not in problem.labels  # {EVENT.RECOVERY.ID} left literal in a problem
    assert recovery.labels["recovery_id"] == "3158101"


def test_unknown_and_literal_macros_count_as_absent() -> None:
    a = one((PAYLOADS / "zabbix-problem-unknown-host.json").read_bytes())
    assert a.host == "legacy-fw-03" and "address" not in a.labels and "dns" not in a.labels
    data = load("zabbix-problem.json") | {"host_host": "{HOST.HOST}", "host_name": "*UNKNOWN*", "host_ip": "10.9.9.9"}
    assert zabbix.parse_data(data).alerts[0].host == "10.9.9.9"
    assert zabbix.absent("{$ZABBIX.URL}") and zabbix.absent(" *UNKNOWN* ") and zabbix.absent("")
    assert not zabbix.absent("{not a macro}") and not zabbix.absent("web-01")


def test_test_button_is_refused_with_the_reason() -> None:
    with pytest.raises(PayloadError) as exc:
        zabbix.parse((PAYLOADS / "zabbix-edge-test-button.json").read_bytes())
    assert exc.value.field == "event_id" and "not expanded" in exc.value.message


@pytest.mark.parametrize(("change", "field", "text"), [
    ({"event_value": "{EVENT.VALUE}"}, "event_value", "Test button"),
    ({"event_value": "2"}, "event_value", "expected 0 or 1"),
    ({"event_update_status": "yes"}, "event_update_status", "expected 0 or 1"),
    ({"event_id": "abc"}, "event_id", "expected the number"),
    ({"host_host": "", "host_name": "", "host_ip": "*UNKNOWN*", "host_conn": "", "host_dns": ""}, "host_host", "host"),
    ({"event_id": ["1"]}, "event_id", "expected a string"),
])
def test_bad_fields_are_named(change: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(PayloadError) as exc:
        zabbix.parse_data(load("zabbix-problem.json") | change)  # type: ignore[operator]
    assert exc.value.field == field and text in exc.value.message


def test_updates_are_distinct_deliveries_but_retries_are_not() -> None:
    base = load("zabbix-problem.json") | {"event_update_status": "1", "event_update_action": "acknowledged",
                                          "event_update_user": "Jane Doe", "event_update_date": "2025.11.18"}
    first = zabbix.parse_data(base | {"event_update_time": "09:20:00", "event_update_message": "on it"}).alerts[0]
    retry = zabbix.parse_data(base | {"event_update_time": "09:20:00", "event_update_message": "on it"}).alerts[0]
    second = zabbix.parse_data(base | {"event_update_time": "09:25:00", "event_update_message": "fixed"}).alerts[0]
    assert first.key == retry.key != second.key
    assert first.event == "update" and first.status == "firing" and first.labels["author"] == "Jane Doe"
    assert first.identity == "zabbix:3157884"


def test_numbers_are_accepted_as_strings() -> None:
    data = load("zabbix-problem.json") | {"event_id": 3157884, "event_value": 1, "event_update_status": 0}
    assert zabbix.parse_data(data).alerts[0].key == "zabbix:3157884:1:0"


def test_captured_webhook_and_script_deliveries() -> None:
    """Zabbix 6.0.14's own deliveries (an older glue with CamelCase names, and a stock-worded script)."""
    hooked = {}
    for path in sorted((CAPTURED / "webhook").glob("0*.json")):
        a = one(json.loads(path.read_text())["body_text"].encode())
        hooked[a.key] = a
    assert set(hooked) == {"zabbix:2:1:0", "zabbix:3:1:0", "zabbix:4:1:0", "zabbix:2:0:0"}
    assert hooked["zabbix:2:1:0"].host == "web-01" and hooked["zabbix:2:1:0"].labels["address"] == "127.0.0.11"
    scripted = {}
    for path in sorted((CAPTURED / "script").glob("*.json")):
        assert detect_source(path.read_bytes()) == "zabbix"
        a = one(path.read_bytes())
        scripted[a.key] = a
    assert set(scripted) == set(hooked)  # the same events, the same keys: a second channel is a duplicate
    assert scripted["zabbix:2:0:0"].status == "resolved"


def test_argv_list_with_expanded_extras() -> None:
    a = one((PAYLOADS / "zabbix-alertscript-problem.argv.json").read_bytes())
    assert (a.key, a.host, a.name) == ("zabbix:3157884:1:0", "web-01", "Unavailable by ICMP ping")
    assert detect_source((PAYLOADS / "zabbix-alertscript-problem.argv.json").read_bytes()) == "zabbix"


def render(template: str, macros: dict[str, str]) -> str:
    """What Zabbix does to the message template: known macros filled in, the others left as written."""
    for name, value in macros.items():
        template = template.replace("{" + name + "}", value)
    return template


MACROS = {
    "EVENT.ID": "77", "EVENT.VALUE": "1", "EVENT.UPDATE.STATUS": "0", "EVENT.SOURCE": "0", "EVENT.STATUS": "PROBLEM",
    "EVENT.NAME": "Nginx is down", "EVENT.SEVERITY": "Disaster", "EVENT.NSEVERITY": "5", "EVENT.DATE": "2025.11.18",
    "EVENT.TIME": "09:14:31", "EVENT.DURATION": "2s", "EVENT.ACK.STATUS": "No",
    "EVENT.TAGSJSON": '[{"tag":"role","value":"web"}]', "HOST.ID": "10584", "HOST.HOST": "web-01",
    "HOST.NAME": "Web 01", "HOST.IP": "10.0.1.21", "HOST.DNS": "", "HOST.CONN": "10.0.1.21", "HOST.PORT": "10050",
    "TRIGGER.ID": "24917", "TRIGGER.NAME": "Nginx is down", "TRIGGER.STATUS": "PROBLEM",
    "TRIGGER.HOSTGROUP.NAME": "Web servers", "EVENT.OPDATA": "0 workers",
    "TRIGGER.DESCRIPTION": "Check the service.\nHOST.HOST: evil-host\nEVENT.ID: 1",
}


def test_the_shipped_template_round_trips() -> None:
    template = (SAMPLES / "message-template.txt").read_text()
    message = render(template, MACROS)
    a = zabbix.from_script("responder", "Problem: Nginx is down", message).alerts[0]
    assert (a.key, a.host, a.name, a.status) == ("zabbix:77:1:0", "web-01", "Nginx is down", "firing")
    assert a.labels["address"] == "10.0.1.21" and a.labels["tags"] == "role:web"
    assert a.labels["description"] == "Check the service.\nHOST.HOST: evil-host\nEVENT.ID: 1"  # no re-pointing
    assert "recovery_id" not in a.labels and "update_action" not in a.labels
    recovery = render(template, MACROS | {"EVENT.VALUE": "0", "EVENT.RECOVERY.ID": "78", "EVENT.STATUS": "RESOLVED"})
    r = zabbix.from_script("responder", "Resolved: Nginx is down", recovery).alerts[0]
    assert (r.key, r.status, r.labels["recovery_id"]) == ("zabbix:77:0:0", "resolved", "78")
    update = render(template, MACROS | {"EVENT.UPDATE.STATUS": "1", "EVENT.UPDATE.ACTION": "acknowledged",
                                        "USER.FULLNAME": "Jane Doe", "EVENT.UPDATE.MESSAGE": "on it\nsecond line"})
    u = zabbix.from_script("responder", "Updated problem: Nginx is down", update).alerts[0]
    assert u.event == "update" and u.labels["update_message"] == "on it\nsecond line"


def test_the_script_media_type_ships_the_template() -> None:
    template = (SAMPLES / "message-template.txt").read_text()
    export = yaml.safe_load((SAMPLES / "media_responder_script.yaml").read_text())["zabbix_export"]
    assert export["version"] == "6.0"
    [media] = export["media_types"]
    assert media["type"] == "SCRIPT" and media["parameters"] == ["{ALERT.SENDTO}", "{ALERT.SUBJECT}", "{ALERT.MESSAGE}"]
    assert {t["operation_mode"] for t in media["message_templates"]} == {"PROBLEM", "RECOVERY", "UPDATE"}
    assert all(t["message"] == template for t in media["message_templates"])
    macros = {line.split(":", 1)[0] for line in template.splitlines()}
    assert macros <= set(zabbix.TEMPLATE_KEYS)


def test_the_webhook_media_type_sends_every_parameter_the_parser_reads() -> None:
    export = yaml.safe_load((SAMPLES / "media_responder_webhook.yaml").read_text())["zabbix_export"]
    [media] = export["media_types"]
    names = {p["name"] for p in media["parameters"]} - {"responder_url", "responder_token"}
    assert names <= set(zabbix.Params.model_fields)
    assert {"event_id", "event_value", "event_update_status", "host_host", "host_ip"} <= names
    assert "Authorization: Bearer" in media["script"]


def test_stock_wording_still_works() -> None:
    message = "Problem started at 09:14:31 on 2025.11.18\nProblem name: Disk full\nHost: db-01\nSeverity: High\n" \
              "Operational data: \nOriginal problem ID: 99\n"
    a = zabbix.from_script("x", "Problem: Disk full", message).alerts[0]
    assert (a.key, a.host, a.name) == ("zabbix:99:1:0", "db-01", "Disk full")
    r = zabbix.from_script("x", "Resolved in 5m: Disk full", message.replace("Problem started", "Problem has been "
                                                                            "resolved")).alerts[0]
    assert r.status == "resolved"
    with pytest.raises(PayloadError) as exc:
        zabbix.from_script("x", "Hello", "no event here")
    assert exc.value.field == "event_id"


def test_literal_extras_are_ignored_and_expanded_ones_fill_gaps() -> None:
    message = "HOST.HOST: web-01\nEVENT.NAME: x\n"
    with pytest.raises(PayloadError):
        zabbix.from_script("x", "s", message, ["{EVENT.ID}", "{EVENT.VALUE}", "{EVENT.UPDATE.STATUS}"])
    b = zabbix.from_script("x", "s", message, ["5", "1", "0"]).alerts[0]
    assert b.key == "zabbix:5:1:0" and b.host == "web-01"


@pytest.mark.parametrize("body", [
    b"", b"[]", b"7", b'["only", "two"]', b'{"argv": ["a"]}', b"[1, 2]", b'[{"event_id": "1"}]', b"nope",
])
def test_bad_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        zabbix.parse(body)


def test_storm_list() -> None:
    batch = zabbix.parse((PAYLOADS / "zabbix-problem-storm.json").read_bytes())
    assert len(batch.alerts) == 10 and len({a.key for a in batch.alerts}) == 10


def test_detect_source_on_every_sample(tmp_path: Path) -> None:
    expected = {"alertmanager": "alertmanager-*.json", "icinga": "icinga-*.*", "zabbix": "zabbix-*.json"}
    for source, pattern in expected.items():
        for path in PAYLOADS.glob(pattern):
            if path.suffix in (".txt", ".jsonl") or "edge-invalid" in path.name:
                continue
            assert detect_source(path.read_bytes()) == source, path.name
