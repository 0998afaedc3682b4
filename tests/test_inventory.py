"""Host matching: name, alias, address, name:port, address:port, [v6]:port, FQDN; shared servers."""

from __future__ import annotations

import pytest

from responder.inventory import host_candidates, load_inventory_data
from tests.conftest import run_responder

INV = load_inventory_data({
    "services": {"reports": {"url": "http://{address}:8001/reports.html"}},
    "servers": {
        "web-01": {"address": "10.0.0.11", "aliases": ["web-01.dc1.example.net", "www-legacy"]},
        "web-02": {"address": "2001:db8::12"},
        "Web-03": {"address": "10.0.0.13"},
        "lb-01": {"address": "10.0.0.2"},
    },
    "clients": {
        "acme": {"servers": ["web-01", "web-02"], "services": ["reports",
                 {"shop": {"url": "https://shop.acme.example:8443/health"}}], "depends_on": ["lb-01"]},
        "globex": {"servers": ["web-02", "Web-03"], "services": ["reports"]},
    },
})


@pytest.mark.parametrize(("host", "server"), [
    ("web-01", "web-01"), ("WEB-01", "web-01"), ("web-01:9100", "web-01"), ("10.0.0.11", "web-01"),
    ("10.0.0.11:9100", "web-01"), ("web-01.dc1.example.net", "web-01"), ("www-legacy:80", "web-01"),
    ("[2001:db8::12]:9100", "web-02"), ("2001:db8:0::12", "web-02"), ("web-03", "Web-03"),
    ("web-01.dc2.example.net", "web-01"), ("https://web-01:8443/health", "web-01"), ("web-01.", "web-01"),
    ("db-99", None), ("10.9.9.9:9100", None), ("", None), ("[", None), ("::::", None),
])
def test_lookup(host: str, server: str | None) -> None:
    assert INV.server_for(host) == server


def test_shared_servers_and_dependents() -> None:
    assert INV.lookup("web-02").clients == ("acme", "globex")
    assert INV.lookup("web-01").clients == ("acme",)
    assert INV.lookup("lb-01").clients == ("acme",)
    assert INV.clients_on("lb-01") == ()


def test_targets_send_url_host_as_host_and_sni() -> None:
    shop = [t for t in INV.targets("acme") if t.service == "shop"]
    assert [t.connect_url for t in shop] == ["https://10.0.0.11:8443/health", "https://[2001:db8::12]:8443/health"]
    assert {t.host_header for t in shop} == {"shop.acme.example:8443"}
    assert {t.server_hostname for t in shop} == {"shop.acme.example"}
    reports = [t for t in INV.targets("acme") if t.service == "reports"]
    assert reports[1].url == "http://[2001:db8::12]:8001/reports.html" and reports[1].host_header is None


def test_candidates_never_raise_on_junk() -> None:
    for junk in ["http://[::1", "a:b:c", "::", "%%%", "ftp://", "x" * 10000, "web-01:port"]:
        host_candidates(junk)


def test_ten_thousand_servers() -> None:
    servers = {f"web-{i:05d}": {"address": f"10.{i // 65536}.{(i // 256) % 256}.{i % 256}",
                                "aliases": [f"web-{i:05d}.dc.example.net"]} for i in range(10_000)}
    clients = {f"client-{i:04d}": {"servers": [f"web-{i * 5 + k:05d}" for k in range(5)], "services": ["reports"]}
               for i in range(2_000)}
    inv = load_inventory_data({"services": {"reports": {"url": "http://{address}/"}}, "servers": servers,
                               "clients": clients})
    assert inv.server_for("web-09999.dc.example.net:9100") == "web-09999"
    assert inv.lookup("10.0.39.15:9100").clients == ("client-1999",)


def test_cli_lookup(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import yaml

    path = tmp_path / "responder.yaml"
    path.write_text(yaml.safe_dump({"inventory": {
        "servers": {"web-02": {"address": "10.0.0.12"}},
        "clients": {"acme": {"servers": ["web-02"], "services": [{"shop": {"url": "http://{address}/"}}]}},
    }}))
    found = run_responder("inventory", "lookup", "10.0.0.12:9100", "--json", "--config", str(path))
    assert found.returncode == 0, found.stderr
    assert '"server": "web-02"' in found.stdout and '"shop"' in found.stdout
    missing = run_responder("inventory", "lookup", "db-99", "--config", str(path))
    assert missing.returncode == 1 and "not in the inventory" in missing.stdout
