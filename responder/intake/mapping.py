"""Which inventory server an alert is about: the first of its host labels the inventory knows.

Exporters and Kubernetes name the host in different labels (`instance`, `nodename`, `node`...), and an
Icinga or Zabbix host name the inventory lacks may still carry an address it knows; so the labels of
`intake.host_labels` are tried in order, then the host the source chose, and the first that maps
wins. An alert none of them maps keeps `server` None and says which labels were tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from responder.inventory import Inventory
from responder.model.alert import Alert, with_server


@dataclass(frozen=True)
class Mapped:
    alert: Alert
    note: str = ""  # for an alert no label maps: which were tried


def map_alerts(alerts: list[Alert], inventory: Inventory, labels: Sequence[str]) -> list[Mapped]:
    out = []
    for a in alerts:
        server, note = locate(a, inventory, labels)
        out.append(Mapped(with_server(a, server)) if server else Mapped(a, note))
    return out


def map_alert(alert: Alert, inventory: Inventory, labels: Sequence[str]) -> Mapped:
    [mapped] = map_alerts([alert], inventory, labels)
    return mapped


def locate(alert: Alert, inventory: Inventory, labels: Sequence[str]) -> tuple[str | None, str]:
    """(the inventory server the alert is about, "") or (None, a note saying what was tried)."""
    tried: list[str] = []
    seen: set[str] = set()
    for name in labels:
        value = alert.labels.get(name, "").strip()
        if not value or value in seen:
            continue
        seen.add(value)
        server = inventory.server_for(value)
        if server is not None:
            return server, ""
        tried.append(f"{name}={value}")
    if alert.host and alert.host not in seen:
        server = inventory.server_for(alert.host)
        if server is not None:
            return server, ""
        tried.append(f"host {alert.host}")
    what = f"{alert.source} alert {alert.name!r}"
    if not tried:
        return None, (f"{what} names no host (none of the labels {', '.join(labels)}): "
                      "recorded, nothing assessed")
    return None, f"{what}: no inventory server for {alert.host or 'its host'} (tried {', '.join(tried)})"
