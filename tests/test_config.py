"""responder.yaml and the inventory: durations, ${VAR}, precise errors with key paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from responder.config import from_data, load, parse_duration
from responder.errors import ConfigError
from tests.conftest import run_responder

INVENTORY = {
    "services": {"reports": {"url": "http://{address}:8001/reports.html"}},
    "servers": {"web-01": {"address": "10.0.0.11"}, "web-02": {"address": "10.0.0.12"}},
    "clients": {"acme": {"servers": ["web-01", "web-02"], "services": ["reports"]}},
}


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("500ms", 0.5), ("30m", 1800), ("2h", 7200),
                                               ("1d", 86400), (5, 5), ("1.5s", 1.5)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["ten seconds", "-1s", -1, True, "5 weeks"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_env_substitution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESPONDER_TOKEN", "s3cret")
    cfg = from_data({"inventory": INVENTORY, "auth": {"tokens": ["${RESPONDER_TOKEN}"]},
                     "email": {"password": "${SMTP_PASSWORD:-fallback}"}}, base=tmp_path)
    assert cfg.auth.tokens == ["s3cret"]
    assert cfg.email is not None and cfg.email.password == "fallback"


def test_missing_env_var_names_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(ConfigError) as exc:
        from_data({"inventory": INVENTORY, "auth": {"tokens": ["${NOPE_TOKEN}"]}}, base=tmp_path)
    assert exc.value.problems == ["auth.tokens[0]: environment variable NOPE_TOKEN is not set"]


def test_every_problem_reported_with_its_path(tmp_path: Path) -> None:
    inv = {
        "services": {"reports": {"url": "ftp://x"}},
        "servers": {"web-01": {"address": "10.0.0.11"}},
        "clients": {"acme": {"servers": ["web-01", "web-9"], "services": ["reports", "nope"],
                             "depends_on": ["lb-9"]}},
    }
    with pytest.raises(ConfigError) as exc:
        from_data({"inventory": inv}, base=tmp_path)
    assert "services.reports.url: expected an http:// or https:// URL, got 'ftp://x'" in exc.value.problems


def test_cross_references(tmp_path: Path) -> None:
    inv = {
        "servers": {"web-01": {"address": "10.0.0.11"}, "web-02": {"address": "10.0.0.11"}},
        "clients": {"acme": {"servers": ["web-01", "web-9"], "services": ["nope"], "depends_on": ["lb-9"]}},
    }
    with pytest.raises(ConfigError) as exc:
        from_data({"inventory": inv}, base=tmp_path)
    problems = exc.value.problems
    assert "clients.acme.servers[1]: unknown server 'web-9'" in problems
    assert "clients.acme.depends_on[0]: unknown server 'lb-9'" in problems
    assert "clients.acme.services[0]: unknown service 'nope' (not in the catalogue and no url)" in problems
    assert "servers.web-02.address: '10.0.0.11' already names server 'web-01'" in problems


def test_settings_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        from_data({"inventory": INVENTORY, "incidents": {"threshold": 150, "group_wait": "soon"},
                   "probe": {"concurrency": 0}, "listen": "nowhere", "unknown": 1}, base=tmp_path)
    text = "\n".join(exc.value.problems)
    for key in ("incidents.threshold", "incidents.group_wait", "probe.concurrency", "listen", "unknown"):
        assert key in text


def test_inventory_in_its_own_file_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "inv.yaml").write_text(yaml.safe_dump(INVENTORY))
    (tmp_path / "responder.yaml").write_text(yaml.safe_dump({"inventory": "inv.yaml", "state_dir": "state"}))
    cfg = load(tmp_path / "responder.yaml")
    assert list(cfg.inventory.clients) == ["acme"]
    assert cfg.state_dir == str(tmp_path / "state")


def test_cli_bad_inventory_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    bad = {"servers": {"web-01": {"address": "10.0.0.11"}},
           "clients": {"acme": {"servers": ["web-01", "web-9"], "services": [{"x": {"url": "nope"}}]}}}
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = run_responder("inventory", "check", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"responder: {path}: clients.acme.servers[1]: unknown server 'web-9'",
        f"responder: {path}: clients.acme.services[0].url: expected an http:// or https:// URL, got 'nope'",
    ]
    assert "Traceback" not in result.stderr


def test_cli_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "responder.yaml"
    path.write_text("inventory: [unclosed\n")
    result = run_responder("inventory", "check", "--config", str(path))
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_missing_config(tmp_path: Path) -> None:
    result = run_responder("inventory", "check", "--config", str(tmp_path / "none.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"responder: {tmp_path / 'none.yaml'}: file not found"


def test_cli_inventory_check_prints_size(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(INVENTORY))
    result = run_responder("inventory", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert "1 clients, 2 servers, 1 catalogue services, 2 checks" in result.stdout


def test_one_rule_turns_listen_into_a_url() -> None:
    from responder.config import listen_url

    assert listen_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert listen_url("0.0.0.0:80") == "http://127.0.0.1:80"
    assert listen_url("[::1]:8080") == "http://[::1]:8080"
    assert listen_url("[::]:8080") == "http://[::1]:8080"
    assert listen_url(":8080") == "http://127.0.0.1:8080"
    cfg = from_data({"listen": "[::1]:9000", "inventory": {"servers": {}, "clients": {}}}, Path("."))
    assert cfg.incident_url("x") == "http://[::1]:9000/incidents/x"


def test_typos_name_the_key_they_meant(tmp_path: Path) -> None:
    inv = {"servers": {}, "clients": {}}
    cases = [
        ({"incidents": {"group_wiat": "10s"}}, ["incidents: unknown key 'group_wiat' (did you mean 'group_wait'?)"]),
        # a misspelt required key is the typo, not a missing key
        ({"chat": {"telegram": {"tokn": "x"}}}, ["chat.telegram: unknown key 'tokn' (did you mean 'token'?)"]),
        ({"emial": {}}, ["unknown key 'emial' (did you mean 'email'?)"]),
        ({"zzz": 1}, ["unknown key 'zzz'"]),
        ({"routes": {"critical": ["email", "teams"]}, "email": {"host": "127.0.0.1"}},
         ["routes.critical: 'teams' has no config (set chat.teams, or take it out of the route)"]),
    ]
    for data, lines in cases:
        with pytest.raises(ConfigError) as err:
            from_data({"inventory": inv, **data}, base=tmp_path)
        assert err.value.problems == lines, data
