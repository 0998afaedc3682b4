"""Notifications: render a verdict once (render.py), send it through small channel modules.

Every channel module exposes `async send(ctx, message, to)`; adding a channel touches this folder only.
"""
