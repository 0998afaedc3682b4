"""Each chat channel against a local stand-in of its service that checks the payload's shape and size the
way the service would: Teams (Adaptive Card 1.4, under 20 KB), Slack (Block Kit limits) and its plain
Mattermost mode, Telegram (HTML, escaped, parts of at most 4,096 characters, in order); retries on
503 and 429 with Retry-After; error texts without secrets."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from responder.config import Config
from tests.support.chat_endpoints import (
    TEAMS_SECRET,
    TELEGRAM_TOKEN,
    ChatEndpoints,
    sample_config,
    sample_incident,
)
from workers.notify.channels.base import Recipient, RetryPolicy
from workers.notify.channels.http import retry_after
from workers.notify.channels.telegram import split_html
from workers.notify.job import Outcome, attempt

FAST = RetryPolicy(attempts=3, backoff=0.01, max_wait=5.0, timeout=5.0)
URL = "https://responder.example.test/incidents/20251118-091412-3fa2c1"


@pytest.fixture
async def chat() -> AsyncIterator[ChatEndpoints]:
    async with ChatEndpoints() as endpoints:
        yield endpoints


async def send(cfg: Config, wanted: list[Recipient], extra_clients: int = 0,
               policy: RetryPolicy = FAST) -> list[Outcome]:
    return await attempt(cfg, sample_incident(extra_clients), wanted, policy=policy)


def teams(chat: ChatEndpoints) -> Recipient:
    return Recipient("teams", "teams", target=chat.teams_url())


def texts(card: dict) -> list[str]:
    out = []
    for el in card["body"]:
        out += [el["text"]] if el["type"] == "TextBlock" else [f"{f['title']}={f['value']}" for f in el["facts"]]
    return out


async def test_teams_card_shape(chat: ChatEndpoints) -> None:
    [outcome] = await send(sample_config(chat), [teams(chat)])
    assert outcome.record.status == "sent", outcome.record.error
    assert chat.problems == []
    [got] = chat.of("teams", "noc")
    [attachment] = got.payload["attachments"]
    card = attachment["content"]
    assert (card["type"], card["version"], attachment["contentType"]) == \
        ("AdaptiveCard", "1.4", "application/vnd.microsoft.card.adaptive")
    assert card["body"][0]["color"] == "attention" and card["body"][0]["text"].startswith(r"\[CRITICAL\] acme critical")
    lines = texts(card)
    # headline, then what changed, then the FactSet of clients, then services
    assert lines[1] == "acme down, globex degraded" and lines[2] == "What changed"
    assert lines.index("acme=ok → critical") < lines.index("Clients") < \
        lines.index("acme=critical: shop down on both servers")
    assert "globex · store=degraded 1/3: s3: no answer within 1s" in lines
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the incident", "url": URL}]


async def test_teams_card_stays_under_20_kb_for_500_clients(chat: ChatEndpoints) -> None:
    cfg = sample_config(chat)
    [outcome] = await send(cfg, [teams(chat)], extra_clients=500)
    assert outcome.record.status == "sent", outcome.record.error
    assert chat.problems == []
    [got] = chat.of("teams")
    assert 15_000 < got.size < 20_000
    lines = texts(got.payload["attachments"][0]["content"])
    assert lines[2] == "What changed" and "acme=ok → critical" in lines  # what changed survives trimming
    assert any(re.fullmatch(r"…=\+\d+ more services", line) for line in lines)
    assert got.payload["attachments"][0]["content"]["actions"][0]["url"] == URL


async def test_teams_503_then_success_delivers_once(chat: ChatEndpoints) -> None:
    chat.script("teams/noc", 503)
    [outcome] = await send(sample_config(chat), [teams(chat)])
    assert outcome.record.status == "sent"
    assert len(chat.of("teams")) == 2 and chat.problems == []


async def test_429_retry_after_is_honoured(chat: ChatEndpoints) -> None:
    chat.script("teams/noc", (429, {"Retry-After": "1"}))
    [outcome] = await send(sample_config(chat), [teams(chat)])
    assert outcome.record.status == "sent"
    first, second = chat.of("teams")
    assert second.at - first.at >= 0.9  # it waited what it was asked to, not its own 10 ms backoff


async def test_429_asking_too_long_a_wait_fails_now_as_transient(chat: ChatEndpoints) -> None:
    chat.script("slack/noc", (429, {"Retry-After": "3600"}))
    [outcome] = await send(sample_config(chat), [Recipient("slack", "slack", target=chat.slack_url())])
    assert outcome.record.status == "failed" and outcome.transient
    assert "HTTP 429" in (outcome.record.error or "") and len(chat.of("slack")) == 1


def test_retry_after_header_forms() -> None:
    now = datetime(2025, 11, 18, 9, 0, 0, tzinfo=UTC)
    assert retry_after("7") == 7.0
    assert retry_after(format_datetime(now + timedelta(seconds=42), usegmt=True), now=now) == 42.0
    assert retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
    assert retry_after("soon") is None and retry_after(None) is None


async def test_5xx_until_attempts_run_out(chat: ChatEndpoints) -> None:
    chat.script("teams/noc", 500, 502, 503, 504)
    [outcome] = await send(sample_config(chat), [teams(chat)])
    assert outcome.record.status == "failed" and outcome.transient
    assert outcome.record.error == "HTTP 503: scripted 503"
    assert len(chat.of("teams")) == FAST.attempts


async def test_4xx_fails_at_once_and_never_shows_the_secret_url(chat: ChatEndpoints) -> None:
    chat.script("teams/noc", (404, {}, f"no flow at /teams/noc?api-version=1&{TEAMS_SECRET}"))
    [outcome] = await send(sample_config(chat), [teams(chat)])
    assert outcome.record.status == "failed" and not outcome.transient
    assert outcome.record.error is not None and outcome.record.error.startswith("HTTP 404: no flow at")
    assert "TEAMS-secret" not in outcome.record.error
    assert len(chat.of("teams")) == 1


async def test_wrong_telegram_token_is_reported_without_the_token(chat: ChatEndpoints) -> None:
    cfg = sample_config(chat, chat={"telegram": {"token": "999:WRONG-secret", "chat_id": 5, "api_url": chat.base_url}})
    [outcome] = await send(cfg, [Recipient("telegram", "telegram:5", target="5")])
    assert outcome.record.status == "failed" and outcome.record.error == "HTTP 401: Unauthorized"
    assert TELEGRAM_TOKEN not in json.dumps(outcome.record.model_dump(mode="json"))


async def test_connection_refused_is_transient_and_names_no_url(chat: ChatEndpoints) -> None:
    dead = f"http://127.0.0.1:9/teams/x?{TEAMS_SECRET}"
    [outcome] = await send(sample_config(chat), [Recipient("teams", "teams:acme", "acme", target=dead)])
    assert outcome.record.status == "failed" and outcome.transient
    assert (outcome.record.error or "").startswith("connection failed:") and "secret" not in outcome.record.error


async def test_slack_blocks_within_limits(chat: ChatEndpoints) -> None:
    [outcome] = await send(sample_config(chat), [Recipient("slack", "slack", target=chat.slack_url())])
    assert outcome.record.status == "sent" and chat.problems == []
    [got] = chat.of("slack")
    blocks = got.payload["blocks"]
    title = "[CRITICAL] acme critical · globex degraded · initech ok · 2 servers alerting"
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": False, "text": title}}
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sections[0].startswith("acme down, globex degraded\n\n*What changed*")
    assert sections[-1] == f"<{URL}|Open the incident>"
    assert got.payload["text"].startswith("[CRITICAL] acme critical") and URL in got.payload["text"]


async def test_slack_big_incident_is_trimmed_to_block_limits(chat: ChatEndpoints, tmp_path: Path) -> None:
    [outcome] = await send(sample_config(chat), [Recipient("slack", "slack", target=chat.slack_url())],
                           extra_clients=500)
    assert outcome.record.status == "sent" and chat.problems == []
    sections = [b["text"]["text"] for b in chat.of("slack")[0].payload["blocks"] if b["type"] == "section"]
    assert "+463 more clients" in "\n".join(sections)  # the built-in template lists 40 clients

    # a user's template listing every client at length: the blocks are still cut to Slack's limits
    (tmp_path / "chat.txt.j2").write_text(
        "{% for c in d.clients %}{{ bold(c.client) }}: {{ c.summary }} {{ c.summary }}\n\n{% endfor %}")
    cfg = sample_config(chat, report={"templates": str(tmp_path)})
    [outcome] = await send(cfg, [Recipient("slack", "slack", target=chat.slack_url())], extra_clients=500)
    assert outcome.record.status == "sent" and chat.problems == []
    blocks = chat.of("slack")[1].payload["blocks"]
    assert len(blocks) <= 50
    assert blocks[-2]["type"] == "context" and "more lines in the incident" in blocks[-2]["elements"][0]["text"]
    assert blocks[-1]["text"]["text"] == f"<{URL}|Open the incident>"


async def test_slack_plain_mode_for_mattermost(chat: ChatEndpoints) -> None:
    cfg = sample_config(chat, chat={"slack": {"url": chat.slack_url("mm"), "plain": True}})
    [outcome] = await send(cfg, [Recipient("slack", "slack", target=chat.slack_url("mm"))])
    assert outcome.record.status == "sent" and chat.problems == []
    [got] = chat.of("slack", "mm")
    assert set(got.payload) == {"text"}
    text = got.payload["text"]
    assert text.startswith(r"**\[CRITICAL\] acme critical") and text.endswith(f"[Open the incident]({URL})")
    assert r"\<script\>" in text and r"\*bold\*" in text and "@channel" not in text


async def test_telegram_html_escaped(chat: ChatEndpoints) -> None:
    [outcome] = await send(sample_config(chat), [Recipient("telegram", "telegram:-100100", target="-100100")])
    assert outcome.record.status == "sent" and chat.problems == []
    [got] = chat.of("telegram", "-100100")
    text = got.payload["text"]
    assert text.startswith("<b>[CRITICAL] acme critical") and f'<a href="{URL}">Open the incident</a>' in text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; *bold* &lt;@channel&gt;" in text
    assert got.payload["disable_web_page_preview"] is True


async def test_telegram_long_message_is_split_in_order(chat: ChatEndpoints) -> None:
    [outcome] = await send(sample_config(chat), [Recipient("telegram", "telegram:-100100", target="-100100")],
                           extra_clients=120)
    assert outcome.record.status == "sent" and chat.problems == []
    parts = [r.payload["text"] for r in chat.of("telegram")]
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert parts[0].startswith("<b>[CRITICAL]") and parts[-1].endswith("Open the incident</a>")
    joined = "\n".join(parts)
    names = re.findall(r"<b>(client-\d+)</b>", joined)
    assert names == sorted(names) and len(names) > 30  # the parts came in order
    assert len({r.peer for r in chat.of("telegram")}) == 1  # one session: the connection was kept


def test_split_html_never_breaks_a_tag() -> None:
    line = "<b>bold &amp; long</b> " + "y" * 50
    text = "<pre>" + "\n".join(f"{i} {line}" for i in range(40)) + "</pre>"
    parts = split_html(text, 300)
    assert len(parts) > 5
    for p in parts:
        assert len(p) <= 300 and p.startswith("<pre>") and p.endswith("</pre>")
        assert p.count("<b>") == p.count("</b>")
    assert "".join(re.sub(r"</?pre>", "", p) for p in parts).replace("\n", "") == \
        re.sub(r"</?pre>", "", text).replace("\n", "")
    [one] = split_html("x" * 5000, 4096)[:1]
    assert len(one) == 4096


async def test_every_chat_channel_in_one_job(chat: ChatEndpoints) -> None:
    wanted = [teams(chat), Recipient("slack", "slack", target=chat.slack_url()),
                  Recipient("telegram", "telegram:-100100", target="-100100")]
    outcomes = await send(sample_config(chat), wanted)
    assert sorted(o.record.status for o in outcomes) == ["sent"] * 3
    assert {r.kind for r in chat.received} == {"teams", "slack", "telegram"} and chat.problems == []
