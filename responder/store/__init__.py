"""Everything Redis holds for Responder: deliveries, the alert index, incidents, shards, the notification ledger.

The store is the one owner of Redis keys: `Base._key` spells them, and only this package calls it.
One module per concern, stacked into `Store`: base → shards → incidents → intake → ledger → stats.

All keys live under one prefix. Writes that must happen together go through one MULTI/EXEC
pipeline (`Store.transaction`), so an acknowledged alert is either wholly stored or not at all.
"""

from __future__ import annotations

from responder.store.base import (
    ALERT_INDEX_TTL,
    DELIVERY_TTL,
    LOCK_TTL,
    PREFIX,
    RECORDED_ONLY,
    connect,
    text,
)
from responder.store.stats import Stats


class Store(Stats):
    """Every key and transaction Responder uses (see the modules of this package)."""


__all__ = ["ALERT_INDEX_TTL", "DELIVERY_TTL", "LOCK_TTL", "PREFIX", "RECORDED_ONLY", "Store", "connect", "text"]
