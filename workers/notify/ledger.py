"""The notification ledger: one message per recipient and state, across job runs and workers.

The idempotency key (incident, state, channel, recipient) is written before sending, so a retried job
skips what an earlier run sent. A failure that may pass (429, 5xx, a lost connection) releases its key,
and RQ runs the job again later; any other failure keeps its key as `failed` until `responder
notifications retry` releases it. A claim still "sending" belongs to a run that died mid-send: it is
noted as busy and taken over once stale (Store.CLAIM_STALE); one taken over is noted in `taken`, since
the dead run may have delivered it (its record says `unknown`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from responder.store import Store
from workers.notify.channels.base import Recipient


@dataclass
class Ledger:
    store: Store
    incident_id: str
    busy: list[Recipient] = field(default_factory=list)  # held by a sender that did not finish
    taken: list[tuple[Recipient, str]] = field(default_factory=list)  # a dead sender's stale claim, and its state

    def claim(self, d: Recipient, state: str) -> bool:
        before = self.status(d, state)
        if self.store.claim_message(self.incident_id, state, d.channel, d.to):
            if before == "sending":
                self.taken.append((d, state))
            return True
        if self.status(d, state) == "sending":
            self.busy.append(d)  # an earlier run died mid-send: try again once its claim is stale
        return False

    def record(self, d: Recipient, state: str, status: str, transient: bool) -> None:
        if status == "failed" and transient:
            self.store.release_message(self.incident_id, state, d.channel, d.to)
        else:
            self.store.mark_message(self.incident_id, state, d.channel, d.to, status)

    def status(self, d: Recipient, state: str) -> str | None:
        return self.store.message_status(self.incident_id, state, d.channel, d.to)

    def release(self, d: Recipient, state: str) -> None:
        self.store.release_message(self.incident_id, state, d.channel, d.to)
