"""Notifications: render an incident once (render.py), send it through small channel modules.

Every channel module (email, teams, slack, telegram) exposes `NAME`, `recipients(config, client)` and
`async send(ctx, message, delivery)` (channel.py); dispatch.py plans who gets what and runs the RQ job.
Adding a channel touches this folder only.
"""
