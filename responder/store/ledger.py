"""The notification ledger: a claim written before each send, so each recipient gets one message per state."""

from __future__ import annotations

import time

from responder.store.base import text
from responder.store.intake import Intake


class Ledger(Intake):
    # -- the notification ledger --------------------------------------------------------------------

    # A claim is "sending <epoch>" until the send ends ("sent" or "failed"). A claim still "sending" after
    # CLAIM_STALE seconds belongs to a sender that died mid-way (no send lasts that long): it may be
    # taken over, so a worker killed while sending delays a message instead of losing it.
    CLAIM_STALE = 150
    _CLAIM = """
        local held = redis.call('GET', KEYS[1])
        local since = held and string.match(held, '^sending (%d+)')
        if (not held) or (since and tonumber(since) < tonumber(ARGV[2])) then
            redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
            return 1
        end
        return 0
    """

    def claim_message(self, incident_id: str, state: str, channel: str, to: str) -> bool:
        """Write the idempotency key before sending: only the first claim for a state sends."""
        now = int(time.time())
        return bool(self.r.eval(self._CLAIM, 1, self._key("sent", incident_id, state, channel, to),
                                f"sending {now}", now - self.CLAIM_STALE, 30 * 86400))

    def mark_message(self, incident_id: str, state: str, channel: str, to: str, status: str) -> None:
        self.r.set(self._key("sent", incident_id, state, channel, to), status, ex=30 * 86400)

    def message_status(self, incident_id: str, state: str, channel: str, to: str) -> str | None:
        """"sending", "sent", "failed", or None when nothing claimed it."""
        held = self.r.get(self._key("sent", incident_id, state, channel, to))
        return text(held).split(" ", 1)[0] if held is not None else None

    def hold_message(self, incident_id: str, state: str, channel: str, to: str, since: int) -> None:
        """Leave a claim "sending" since `since` (epoch seconds), as a sender that died mid-send does."""
        self.r.set(self._key("sent", incident_id, state, channel, to), f"sending {since}", ex=30 * 86400)

    def release_message(self, incident_id: str, state: str, channel: str, to: str) -> None:
        self.r.delete(self._key("sent", incident_id, state, channel, to))
