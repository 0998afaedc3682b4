"""Command groups that live in their own modules; cli.py registers each one here.

One module per group keeps cli.py short: notify/spool (the notify commands for Icinga2 and Zabbix),
maintenance, notifications.
"""

from __future__ import annotations

import importlib

import click

MODULES = ("notify", "maintenance", "notifications")


def register(cli: click.Group) -> None:
    for name in MODULES:
        module = importlib.import_module(f"responder.commands.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)
