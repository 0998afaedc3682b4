"""POST a JSON payload to a chat endpoint on the job's shared session, with bounded retries.

429 and 5xx answers and lost connections are retried with exponential backoff, waiting what the
endpoint asks for in `Retry-After` (seconds or an HTTP date; Telegram also puts it in the body). A
wait longer than the policy allows fails at once, as transient, so the job can be retried later
instead of holding a worker. Other answers (4xx, redirects) fail at once with the status and a short
excerpt of the body. Error text never carries the URL: webhook URLs and bot tokens are secrets.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from workers.notify.channels.base import DeliveryError, RetryPolicy


def encode(payload: Any) -> bytes:
    """The exact bytes sent: UTF-8 (not \\u escapes), so size limits are measured on what goes out."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _body_retry_after(body: bytes) -> float | None:
    """Telegram's `{"parameters": {"retry_after": N}}`."""
    try:
        data = json.loads(body)
        value = data["parameters"]["retry_after"]
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    except (ValueError, KeyError, TypeError):
        return None


def excerpt(body: bytes, limit: int = 200) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("description"), str):
            text = data["description"]  # Telegram says what is wrong here
    except ValueError:
        pass
    return text[:limit] + ("…" if len(text) > limit else "") if text else "(empty body)"


def redact(text: str, url: str, label: str) -> str:
    """Remove every secret part of `url` (the whole, its path, its query) from an error text."""
    parts = urlsplit(url)
    for secret in (url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.query, parts.path):
        if secret and secret != "/":
            text = text.replace(secret, f"<{label}>")
    return text


async def post_json(session: aiohttp.ClientSession, url: str, payload: Any, *, policy: RetryPolicy,
                    label: str) -> bytes:
    """POST and answer the response body of the first 2xx; raise DeliveryError otherwise."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    timeout = aiohttp.ClientTimeout(total=policy.timeout)
    for attempt in range(1, policy.attempts + 1):
        backoff = policy.backoff * 2 ** (attempt - 1)
        try:
            async with session.post(url, data=body, headers=headers, timeout=timeout,
                                    allow_redirects=False) as resp:
                answer = await resp.read()
                if 200 <= resp.status < 300:
                    return answer
                problem = f"HTTP {resp.status}: {redact(excerpt(answer), url, label)}"
                if resp.status != 429 and resp.status < 500:
                    raise DeliveryError(problem, transient=False)
                error = DeliveryError(problem, transient=True)
                asked = retry_after(resp.headers.get("Retry-After")) if "Retry-After" in resp.headers \
                    else _body_retry_after(answer)
                if asked is not None and asked > policy.max_wait:
                    raise DeliveryError(f"{problem} (asked to retry after {asked:.0f} s)", transient=True)
                wait = asked if asked is not None else backoff
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = redact(str(exc), url, label) or "no answer"
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {policy.timeout:g} s"
            error = DeliveryError(f"connection failed: {type(exc).__name__}: {reason}"[:300], transient=True)
            wait = backoff
        if attempt == policy.attempts:
            raise error
        await asyncio.sleep(min(wait, policy.max_wait))
    raise AssertionError("unreachable")  # pragma: no cover
