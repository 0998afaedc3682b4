"""Which inventory server an alert is about: its host, or an address it carries in its labels."""

from __future__ import annotations

from responder.inventory import Inventory
from responder.model.alert import Alert


def map_alerts(alerts: list[Alert], inventory: Inventory) -> list[Alert]:
    """Fill in `server` for every alert whose host the inventory knows. An Icinga or Zabbix host name
    the inventory lacks may still carry an address it knows (the `address` label)."""
    out = []
    for a in alerts:
        server = inventory.server_for(a.host) if a.host else None
        if server is None and a.labels.get("address"):
            server = inventory.server_for(a.labels["address"])
        out.append(a.model_copy(update={"server": server}))
    return out
