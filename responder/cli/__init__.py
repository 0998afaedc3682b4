"""The `responder` command. Thin: parse arguments, call the stage, print.

Exit status: 0 fine, 1 the verdict is critical (check, replay), 2 bad usage or bad input (one
readable line on stderr). Each command group is a module of this package; this one only gathers them.
"""

from __future__ import annotations

import importlib
import sys

import click

from responder.cli.common import Fail, err
from responder.errors import ConfigError, ResponderError

# the module of each command, so one command imports only what it uses (`check` never loads the
# SSH client or RQ, `notify` never loads pydantic's inventory); a name missing here still works,
# found by importing every module
MODULES = ("run", "assess", "inventory", "incidents", "forward", "maintenance", "notifications", "planning", "user",
           "integrations")
WHERE = {"serve": "run", "worker": "run", "replay": "assess", "check": "assess", "inventory": "inventory",
         "incidents": "incidents", "incident": "incidents", "notify": "forward", "spool": "forward",
         "maintenance": "maintenance", "notifications": "notifications", "user": "user",
         "impact": "planning", "plan": "planning", "integrations": "integrations"}


class LazyGroup(click.Group):
    """Imports a command's module when the command is run (or every module for --help)."""

    def _load(self, modules: tuple[str, ...]) -> None:
        for name in modules:
            for command in importlib.import_module(f"responder.cli.{name}").COMMANDS:
                if command.name not in self.commands:
                    self.add_command(command)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._load((WHERE[cmd_name],) if cmd_name in WHERE else MODULES)
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load(MODULES)
        return sorted(self.commands)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responder-triage", prog_name="responder")
def cli() -> None:
    """Per-server alerts in, per-client verdicts out."""


# -- entry point ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every expected failure becomes one line on stderr and exit 2."""
    try:
        rv = cli.main(args=argv, prog_name="responder", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        err.print("responder: aborted")
        sys.exit(130)
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "responder"
        print(f"{cmd}: {exc.format_message()} (try --help)", file=sys.stderr)
        sys.exit(2)
    except click.ClickException as exc:
        print(f"responder: {exc.format_message()}", file=sys.stderr)
        sys.exit(2)
    except ConfigError as exc:
        for line in exc.lines():
            print(f"responder: {line}", file=sys.stderr)
        sys.exit(2)
    except (Fail, ResponderError) as exc:
        print(f"responder: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
