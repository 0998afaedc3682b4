"""Words of every message: what changed first, one client's part only, English and Russian, templates a
user overrides, and untrusted alert text kept inert in every markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from responder.config import Config
from responder.wording import PHRASES
from tests.support.chat_endpoints import HOSTILE, ChatEndpoints, sample_config, sample_incident
from workers.notify.markup import FLAVOURS
from workers.notify.render import chat_text, render, subject

TEMPLATES = Path(__file__).resolve().parent.parent / "workers" / "notify" / "templates"


def config(**settings: object) -> Config:
    return sample_config(ChatEndpoints(port=9), **settings)


def test_headline_and_changes_come_first_in_email() -> None:
    m = render(config(), sample_incident())
    text, html = m.text, m.html
    assert text.index("acme down, globex degraded") < text.index("What changed") < text.index("acme: critical")
    assert text.index("ok → critical") < text.index("shop down on both servers")
    assert html.index("acme down, globex degraded") < html.index("What changed") < html.index("shop down on both")
    assert m.subject == "[CRITICAL] acme critical · globex degraded · initech ok · 2 servers alerting"
    assert "https://responder.example.test/incidents/20251118-091412-3fa2c1" in text


def test_changes_first_in_every_chat_flavour() -> None:
    m = render(config(), sample_incident())
    assert m.digest is not None
    for flavour in FLAVOURS.values():
        body = chat_text(config(), m.digest, flavour)
        assert body.index("What changed") < body.index("shop down on both servers"), flavour.name
        assert "https://responder.example.test/incidents/20251118-091412-3fa2c1" in body


def test_scoped_message_shows_one_client_only() -> None:
    cfg, inc = config(), sample_incident()
    m = render(cfg, inc, scope="globex")
    assert m.digest is not None
    assert m.subject == "[DEGRADED] globex degraded · 1 server alerting"  # its own severity, its own servers
    bodies = [m.text, m.html, m.attachments[0][2].decode(), *(chat_text(cfg, m.digest, f) for f in FLAVOURS.values())]
    for body in bodies:
        assert "globex" in body
        for other in ("acme", "initech", "shop", "portal", "s1:9100", "script"):
            assert other not in body, (other, body[:300])
    # the incident-wide headline names acme: a scoped message leaves it out
    assert m.digest.headline is None
    assert render(cfg, inc).digest.headline == "acme down, globex degraded"  # type: ignore[union-attr]


def test_email_html_escapes_alert_text() -> None:
    m = render(config(), sample_incident())
    assert "<script>" not in m.html and "&lt;script&gt;" in m.html
    assert "&lt;@channel&gt;" in m.html


def test_chat_flavours_neutralise_hostile_text() -> None:
    cfg = config()
    digest = render(cfg, sample_incident()).digest
    assert digest is not None
    telegram = chat_text(cfg, digest, FLAVOURS["telegram"])
    assert "<script>" not in telegram
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; *bold* &lt;@channel&gt;" in telegram
    slack = chat_text(cfg, digest, FLAVOURS["slack"])
    assert "&lt;script&gt;" in slack and "&lt;@channel&gt;" in slack and "&lt;!channel&gt;" in slack
    assert "*bold*" not in slack and "\u2217bold\u2217" in slack and "`x`" not in slack
    markdown = chat_text(cfg, digest, FLAVOURS["markdown"])
    assert r"\<script\>" in markdown and r"\*bold\*" in markdown and r"\[click\]" in markdown
    assert "@channel" not in markdown  # a zero-width space keeps Mattermost from mentioning everyone
    teams = chat_text(cfg, digest, FLAVOURS["teams"])
    assert r"\<script>" in teams and r"\*bold\*" in teams and r"\[click\]" in teams


@pytest.mark.parametrize("escape", [f.escape for f in FLAVOURS.values()])
def test_escapes_leave_plain_words_alone(escape: object) -> None:
    assert escape("shop down on both servers") == "shop down on both servers"  # type: ignore[operator]


def test_teams_escape_list_markers_and_card_functions() -> None:
    esc = FLAVOURS["teams"].escape
    assert esc("- item\n1. first") == "\\- item\n1\\. first"
    assert "{{DATE(" not in esc("{{DATE(2017-02-14T06:08:39Z, SHORT)}}")


def test_russian_subject_and_bodies() -> None:
    cfg = config(report={"language": "ru"})
    m = render(cfg, sample_incident(language="ru"))  # summaries are written in the report's language
    assert m.subject == "[CRITICAL] acme критично · globex деградация · initech норма · 2 сервера с алертами"
    assert m.digest is not None
    bodies = [m.text, m.html, *(chat_text(cfg, m.digest, f) for f in FLAVOURS.values())]
    for body in bodies:
        assert "Что изменилось" in body
        assert "shop недоступен на обоих серверах" in body
        for english in ("What changed", "Open the incident", "down on both", "servers alerting", "Alerts",
                        "failing on"):
            assert english not in body, english
    assert "Открыть инцидент" in m.html and "Все проверки во вложенном CSV." in m.text


def test_russian_plurals() -> None:
    inc = sample_incident()
    for n, words in ((1, "сервер с алертом"), (3, "сервера с алертами"), (5, "серверов с алертами"),
                     (11, "серверов с алертами"), (21, "сервер с алертом")):
        inc.alerts = inc.alerts[:1]
        for i in range(1, n):
            inc.add_alert(inc.alerts[0].model_copy(update={"identity": f"x{i}", "server": f"srv{i}"}))
        assert subject(inc, inc.clients, "ru").endswith(f" {n} {words}")


def test_every_phrase_exists_in_every_language() -> None:
    assert set(PHRASES["en"]) == set(PHRASES["ru"])
    used: set[str] = set()
    for template in TEMPLATES.glob("*.j2"):
        source = template.read_text()
        used |= set(re.findall(r"\bt\.(\w+)", source)) | set(re.findall(r"\bt\[['\"](\w+)['\"]\]", source))
    for module in ("channels/teams.py", "channels/slack.py", "channels/telegram.py", "render.py"):
        source = (TEMPLATES.parent / module).read_text()
        used |= set(re.findall(r"\bt\[['\"](\w+)['\"]\]", source)) | set(re.findall(r"\bph\[['\"](\w+)['\"]\]", source))
    assert used and not used - set(PHRASES["ru"]), used - set(PHRASES["ru"])


def test_user_templates_override_the_built_in_ones(tmp_path: Path) -> None:
    (tmp_path / "email.txt.j2").write_text("Custom {{ incident.id }}: {{ clients|length }} clients\n")
    (tmp_path / "chat.txt.j2").write_text("{{ bold('Ours') }} {{ d.alerts[0] }}\n")
    cfg = config(report={"language": "en", "templates": str(tmp_path)})
    m = render(cfg, sample_incident())
    assert m.text == "Custom 20251118-091412-3fa2c1: 3 clients"
    assert "<table" in m.html  # not overridden: the built-in one
    assert m.digest is not None
    ours = chat_text(cfg, m.digest, FLAVOURS["telegram"])
    assert ours.startswith("<b>Ours</b> firing · s1:9100 · InstanceDown: &lt;script&gt;")  # still escaped
    assert HOSTILE not in ours
