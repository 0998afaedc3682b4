"""responder.yaml as typed models: `${VAR}` substitution, durations, paths, and the inventory.

Configuration is the one piece of global state: a process loads it once (`load` or `current`) and
hands the typed `Config` to whatever needs it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from responder.config.problems import config_problems
from responder.config.yamlfile import gc_paused, read_yaml_cached, store_cached
from responder.config.yamlfile import read_yaml as read_yaml
from responder.config.yamlfile import substitute_env as substitute_env
from responder.errors import ConfigError
from responder.inventory import Inventory, load_inventory_data

DEFAULT_CONFIG = "responder.yaml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_JUMP_HOST = re.compile(r"^(?:[^@\s]+@)?(?:\[[0-9A-Fa-f:.]+\]|[^@\s:\[\]]+)(?::\d{1,5})?$")


def parse_duration(value: Any) -> float:
    """Seconds from `10s`, `500ms`, `30m`, `2h`, `1d` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 10s, 5m or 2h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError(f"expected a duration like 10s, 5m or 2h, got {value!r}")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


class AuthConfig(_Model):
    """Who may call what: bearer `tokens` on /hooks/* (`source_tokens` on one hook only, or a body signed
    with `hmac_secret`), basic-auth `users` (name → bcrypt hash) on the pages and /api/*, and the
    `secret` that signs client links (generated under state_dir when unset)."""

    tokens: list[str] = Field(default_factory=list)  # several at once: rotate by adding, then removing
    users: dict[str, str] = Field(default_factory=dict)
    secret: str | None = None
    link_ttl: Duration = 7 * 86400.0
    metrics: bool = False  # /metrics behind the login too
    source_tokens: dict[str, list[str]] = Field(default_factory=dict)  # extra tokens good for one hook only
    hmac_secret: str | None = None  # senders that sign: X-Responder-Signature: sha256=<hex of the raw body>

    @field_validator("tokens")
    @classmethod
    def _no_blank(cls, tokens: list[str]) -> list[str]:
        if any(not t.strip() for t in tokens):
            raise ValueError("a token cannot be empty (is its environment variable set?)")
        return tokens

    @field_validator("users")
    @classmethod
    def _hashes(cls, users: dict[str, str]) -> dict[str, str]:
        for name, value in users.items():
            if not name or ":" in name:
                raise ValueError(f"a user name cannot be empty or contain ':', got {name!r}")
            if not _BCRYPT.match(value):  # the value is never echoed: it may be a password by mistake
                raise ValueError(f"{name}: expected a bcrypt hash ($2y$…), as `htpasswd -nbB NAME PASS` "
                                 "or `responder user hash` prints")
        return users

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, secret: str | None) -> str | None:
        if secret is not None and len(secret) < 16:
            raise ValueError("the link secret needs at least 16 characters (is its environment variable set?)")
        return secret

    @field_validator("link_ttl")
    @classmethod
    def _positive(cls, ttl: float) -> float:
        if ttl < 60:
            raise ValueError("link_ttl must be at least a minute")
        return ttl

    @field_validator("source_tokens")
    @classmethod
    def _no_blank_per_source(cls, tokens: dict[str, list[str]]) -> dict[str, list[str]]:
        if any(not t.strip() for ts in tokens.values() for t in ts):
            raise ValueError("a token cannot be empty (is its environment variable set?)")
        return tokens

    @field_validator("hmac_secret")
    @classmethod
    def _secret(cls, secret: str | None) -> str | None:
        if secret is not None and len(secret.strip()) < 16:
            raise ValueError("the HMAC secret needs at least 16 characters (is its environment variable set?)")
        return secret

    def for_source(self, source: str) -> list[str]:
        return [*self.tokens, *self.source_tokens.get(source, [])]

    @property
    def required(self) -> bool:
        return bool(self.tokens or self.source_tokens or self.hmac_secret)


Event = Literal["problem", "recovery", "acknowledgement", "downtime", "flapping", "custom", "update"]


def _assessing_events() -> list[Event]:
    return ["problem", "recovery"]


class IncidentsConfig(_Model):
    group_wait: Duration = 10.0
    threshold: float = Field(10.0, ge=0, le=100, description="percent of a client's servers")
    cooldown: Duration = 1800.0  # an unchanged message (same reason, same content) is not repeated sooner
    recheck: Duration = 300.0  # re-probe an open incident this often while a client fails (0: never)
    repeat: Duration = 14400.0  # remind that it still fails this often (0: never), like Alertmanager's repeat_interval
    # events that start an assessment; the others are recorded on the incident only
    assess_on: list[Event] = Field(default_factory=_assessing_events)


class ProbeConfig(_Model):
    """How checks are sent; see README (Probing a large outage) for how the defaults were chosen."""

    timeout: Duration = 5.0  # the answer, counted from an established connection
    connect_timeout: Duration = 2.0  # TCP and TLS; a dead server costs this, not `timeout`
    retries: int = Field(1, ge=0, le=10)  # extra attempts, in later passes after every first attempt
    concurrency: int = Field(2000, ge=1, le=100000)  # requests in flight per process, below the open-file limit
    shard_size: int = Field(5000, ge=1, le=1000000)  # most distinct requests in one shard (one RQ job)
    deadline: Duration = 30.0  # after the fan-out, the verdict is joined anyway; missing shards: not checked
    user_agent: str = "Responder probe"
    ca_file: str | None = None  # extra CA bundle for services behind an internal CA


class SshConfig(_Model):
    username: str | None = None
    client_keys: list[str] = Field(default_factory=list)
    known_hosts: str | None = "~/.ssh/known_hosts"
    agent: bool = True
    timeout: Duration = 5.0
    command_timeout: Duration = 10.0
    lines: int = Field(50, ge=1, le=100000)
    max_bytes: int = Field(256 * 1024, ge=1024)
    concurrency: int = Field(50, ge=1, le=2000)
    jump_host: str | None = None

    @field_validator("jump_host")
    @classmethod
    def _jump_host(cls, value: str | None) -> str | None:
        if value is not None and not _JUMP_HOST.match(value):
            raise ValueError(f"expected [user@]host[:port], got {value!r}")
        return value


class EmailConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "responder@localhost"
    to: list[str] = Field(default_factory=list)
    timeout: Duration = 10.0  # the connect timeout when connect_timeout is not set (kept for old configs)
    connect_timeout: Duration | None = None  # connecting, TLS and every reply before DATA
    # the reply to the message (DATA): the server may be storing it meanwhile, so a send cut off here
    # is recorded `unknown` and never resent (a retry would be a copy); below the notify job's 300 s
    data_timeout: Duration = Field(180.0, gt=0, le=280)
    verify_tls: bool = True
    ca_file: str | None = None  # an extra CA bundle for a relay with an internal certificate


class TeamsConfig(_Model):
    url: str


class SlackConfig(_Model):
    url: str
    plain: bool = False


class TelegramConfig(_Model):
    token: str
    chat_id: str | int | None = None  # None: the bot only messages clients' `contacts.telegram` chats
    api_url: str = "https://api.telegram.org"


class ChatConfig(_Model):
    teams: TeamsConfig | None = None
    slack: SlackConfig | None = None
    telegram: TelegramConfig | None = None


Channel = Literal["email", "teams", "slack", "telegram"]


def _email_only() -> list[Channel]:
    return ["email"]


class RoutesConfig(_Model):
    critical: list[Channel] = Field(default_factory=_email_only)
    degraded: list[Channel] = Field(default_factory=_email_only)
    ok: list[Channel] = Field(default_factory=_email_only)

    def for_severity(self, severity: str) -> list[Channel]:
        return list(getattr(self, severity, []))


class ReportConfig(_Model):
    language: Literal["en", "ru"] = "en"
    templates: str | None = None


# labels that may name an alert's host, in the order they are tried: node exporter and blackbox
# (instance, target), hand-written rules (host, hostname, server), node_exporter's uname (nodename),
# Kubernetes (node, kubernetes_node, pod), Icinga and Zabbix glue (host_name, host_host, address, dns)
HOST_LABELS = ("instance", "host", "hostname", "nodename", "node", "kubernetes_node", "server", "target",
               "host_name", "host_host", "address", "dns", "pod")


class IntakeConfig(_Model):
    host_labels: list[str] = Field(default_factory=lambda: list(HOST_LABELS), min_length=1)

    @field_validator("host_labels")
    @classmethod
    def _names(cls, labels: list[str]) -> list[str]:
        if any(not label.strip() for label in labels):
            raise ValueError("a label name cannot be empty")
        return list(dict.fromkeys(label.strip() for label in labels))


class LimitsConfig(_Model):
    max_body: int = Field(1024 * 1024, ge=1024)  # decoded bytes: a compressed body counts as it unpacks
    header_timeout: Duration = 10.0  # a connection that has not sent a whole request head by then is closed
    body_timeout: Duration = 30.0  # a request whose body has not all arrived by then answers 408
    idle_timeout: Duration = 75.0  # a kept-alive connection with no new request is closed
    max_pending: int = Field(256, ge=1, le=100000)  # connections still sending their head: the oldest goes


class ReceiverConfig(_Model):
    """Where `responder notify` posts: a running `responder serve` (default: http://<listen>, first auth token)."""

    url: str | None = None
    token: str | None = None
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {url!r}")
        return url


class Config(_Model):
    redis_url: str | None = None
    listen: str = "127.0.0.1:8080"
    public_url: str | None = None
    state_dir: str = "./var"
    inventory: Inventory
    auth: AuthConfig = AuthConfig()
    incidents: IncidentsConfig = IncidentsConfig()
    intake: IntakeConfig = IntakeConfig()
    probe: ProbeConfig = ProbeConfig()
    ssh: SshConfig = SshConfig()
    email: EmailConfig | None = None
    chat: ChatConfig = ChatConfig()
    routes: RoutesConfig = RoutesConfig()
    report: ReportConfig = ReportConfig()
    limits: LimitsConfig = LimitsConfig()
    receiver: ReceiverConfig = ReceiverConfig()
    source_path: str | None = None

    @property
    def listen_host_port(self) -> tuple[str, int]:
        return split_listen(self.listen)

    @property
    def base_url(self) -> str:
        """Where people reach the web pages; links in messages start here."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return listen_url(self.listen)

    def incident_url(self, incident_id: str) -> str:
        return f"{self.base_url}/incidents/{incident_id}"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value


def split_listen(listen: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` as (host, port); ValueError when it is none of these."""
    host, sep, port = str(listen).rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def listen_url(listen: str) -> str:
    """The URL a local client reaches a `listen` address at: the one rule for it. A wildcard becomes
    the loopback address of its family; an IPv6 address is bracketed."""
    host, port = split_listen(listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def resolve_path(value: str, base: Path) -> str:
    p = Path(os.path.expanduser(value))
    return os.path.normpath(p if p.is_absolute() else (base / p))


def log_level() -> str:
    """`$RESPONDER_LOG_LEVEL` (default INFO) for serve and worker: WARNING hides RQ's line per job."""
    level = os.environ.get("RESPONDER_LOG_LEVEL", "INFO").upper()
    return level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"


def config_path(explicit: str | None = None) -> Path:
    """`--config FILE`, else `$RESPONDER_CONFIG`, else `./responder.yaml`."""
    return Path(explicit or os.environ.get("RESPONDER_CONFIG") or DEFAULT_CONFIG)


def load(path: str | Path | None = None) -> Config:
    """Load and validate responder.yaml (and its inventory); raises ConfigError listing every problem."""
    cfg_path = config_path(str(path) if path else None)
    data = read_yaml(cfg_path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["the top level must be a mapping of settings"], str(cfg_path))
    return from_data(data, base=cfg_path.resolve().parent, source=str(cfg_path))


def from_data(data: dict[str, Any], base: Path, source: str | None = None) -> Config:
    with gc_paused():
        return _from_data(data, base, source)


def _from_data(data: dict[str, Any], base: Path, source: str | None = None) -> Config:
    problems: list[str] = []
    data = substitute_env(data, problems=problems)
    inventory_source = source
    raw_inventory = data.get("inventory")
    if raw_inventory is None:
        problems.append("inventory: missing (a file name, or the inventory inline)")
        raise ConfigError(problems, source)
    if isinstance(raw_inventory, str):
        inv_path = Path(resolve_path(raw_inventory, base))
        inventory_source = str(inv_path)
        cache_dir = Path(resolve_path(str(data.get("state_dir", "./var")), base)) / "cache"
        try:
            raw_inventory, text, cached = read_yaml_cached(inv_path, cache_dir)
        except ConfigError as exc:
            raise ConfigError([f"inventory: {p}" for p in exc.problems], exc.source) from None
        parsed = raw_inventory
        inv_problems: list[str] = []
        raw_inventory = raw_inventory or {}
        if "${" in text:  # walking 10,000s of servers for nothing costs a quarter of a second
            raw_inventory = substitute_env(raw_inventory, problems=inv_problems)
        if inv_problems:
            raise ConfigError(inv_problems, inventory_source)
        if problems:
            raise ConfigError(problems, source)
        inventory = load_inventory_data(raw_inventory, source=inventory_source)
        if not cached:
            store_cached(inv_path, cache_dir, text, parsed)
    else:
        if problems:
            raise ConfigError(problems, source)
        inventory = load_inventory_data(raw_inventory, source=inventory_source)

    data = dict(data)
    data["inventory"] = inventory
    data["state_dir"] = resolve_path(str(data.get("state_dir", "./var")), base)
    data["source_path"] = source
    report = data.get("report")
    if isinstance(report, dict) and report.get("templates"):
        data["report"] = {**report, "templates": resolve_path(str(report["templates"]), base)}
    ssh = data.get("ssh")
    if isinstance(ssh, dict):
        ssh = dict(ssh)
        if ssh.get("known_hosts"):
            ssh["known_hosts"] = resolve_path(str(ssh["known_hosts"]), base)
        if isinstance(ssh.get("client_keys"), list):
            ssh["client_keys"] = [resolve_path(str(k), base) for k in ssh["client_keys"]]
        data["ssh"] = ssh
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(config_problems(exc, Config), source) from None
    if isinstance(data.get("routes"), dict):
        unrouted = unconfigured_routes(config, list(data["routes"]))
        if unrouted:
            raise ConfigError(unrouted, source)
    return config


# -- error formatting ---------------------------------------------------------------------------------

_CHANNEL_CONFIG = {"email": "email", "teams": "chat.teams", "slack": "chat.slack", "telegram": "chat.telegram"}


def unconfigured_routes(config: Config, severities: Sequence[str] = ("critical", "degraded", "ok")) -> list[str]:
    """A route naming a channel with no config would send nothing, silently: that is a config error."""
    configured = {"email": config.email is not None, "teams": config.chat.teams is not None,
                  "slack": config.chat.slack is not None, "telegram": config.chat.telegram is not None}
    problems = []
    for severity in severities:
        for channel in config.routes.for_severity(severity):
            if not configured[channel]:
                problems.append(f"routes.{severity}: '{channel}' has no config (set {_CHANNEL_CONFIG[channel]},"
                                f" or take it out of the route)")
    return problems




_current: Config | None = None


def current() -> Config:
    """The process's configuration, loaded once from `$RESPONDER_CONFIG` (RQ jobs call this)."""
    global _current
    if _current is None:
        _current = load()
    return _current


def set_current(config: Config) -> None:
    """Install an already loaded config as the process's own (the CLI does this after --config)."""
    global _current
    _current = config
