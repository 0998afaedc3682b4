"""Notifications: who gets what (recipients), render an incident once (render), send it through small
channel modules (channels/), record each send in the ledger before it happens (ledger), the RQ job (job).

Every channel module exposes `NAME`, `recipients(config, client)` and `async send(ctx, message,
delivery)` (channels/base.py). Adding a channel touches channels/ only.
"""
