"""The inventory's parse cache under state_dir: used only for the same bytes, never trusted blindly."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from responder.config import load
from responder.config.yamlfile import read_yaml_cached
from responder.errors import ConfigError

INVENTORY = """\
services:
  reports: {url: 'http://{address}:8001/reports.html'}
servers:
  web-01: {address: 10.0.0.11}
  web-02: {address: 10.0.0.12, aliases: [web-02.dc1.example.net]}
clients:
  acme: {servers: [web-01, web-02], services: [reports]}
maintenance:
  - {server: web-01, from: 2026-01-01T00:00:00Z, to: 2026-01-02T00:00:00Z, reason: disks}
"""


def _setup(tmp_path: Path, inventory: str = INVENTORY) -> tuple[Path, Path, Path]:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(inventory)
    cfg = tmp_path / "responder.yaml"
    cfg.write_text(yaml.safe_dump({"state_dir": "state", "inventory": "inventory.yaml"}))
    return cfg, inv, tmp_path / "state" / "cache"


def test_a_second_load_reads_the_cached_parse(tmp_path: Path) -> None:
    cfg, inv, cache = _setup(tmp_path)
    first = load(cfg)
    assert list(cache.iterdir())  # written once the inventory was accepted
    data, _text, cached = read_yaml_cached(inv, cache)
    assert cached and data == yaml.safe_load(INVENTORY)  # datetimes included
    assert load(cfg) == first


def test_a_changed_file_is_parsed_again(tmp_path: Path) -> None:
    cfg, inv, cache = _setup(tmp_path)
    load(cfg)
    inv.write_text(INVENTORY.replace("10.0.0.12", "10.0.0.13"))
    assert load(cfg).inventory.servers["web-02"].address == "10.0.0.13"
    _data, _text, cached = read_yaml_cached(inv, cache)
    assert cached


def test_a_broken_inventory_is_never_cached(tmp_path: Path) -> None:
    cfg, _inv, cache = _setup(tmp_path, INVENTORY.replace("[web-01, web-02]", "[web-01, web-09]"))
    with pytest.raises(ConfigError, match="unknown server 'web-09'"):
        load(cfg)
    assert not cache.exists() or not list(cache.iterdir())
    with pytest.raises(ConfigError, match="unknown server 'web-09'"):
        load(cfg)


@pytest.mark.parametrize("damage", ["truncate", "foreign class"])
def test_a_damaged_or_foreign_cache_file_is_a_miss(tmp_path: Path, damage: str) -> None:
    cfg, inv, cache = _setup(tmp_path)
    load(cfg)
    (cached_file,) = cache.iterdir()
    raw = cached_file.read_bytes()
    if damage == "truncate":
        cached_file.write_bytes(raw[:40])
    else:  # the right key, but a pickle naming a class outside the YAML types
        cached_file.write_bytes(raw[:16] + pickle.dumps({"servers": Path("/")}))
    data, _text, cached = read_yaml_cached(inv, cache)
    assert not cached and data == yaml.safe_load(INVENTORY)
    assert load(cfg).inventory.servers["web-01"].address == "10.0.0.11"
