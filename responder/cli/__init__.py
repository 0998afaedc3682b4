"""The `responder` command. Thin: parse arguments, call the stage, print.

Exit status: 0 fine, 1 the verdict is critical (check, replay), 2 bad usage or bad input (one
readable line on stderr). Each command group is a module of this package; this one only gathers them.
"""

from __future__ import annotations

import sys

import click

from responder.cli import assess, forward, incidents, inventory, maintenance, notifications, planning, run, user
from responder.cli.common import Fail, err
from responder.errors import ConfigError, ResponderError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="responder", prog_name="responder")
def cli() -> None:
    """Per-server alerts in, per-client verdicts out."""


for _module in (run, assess, inventory, incidents, forward, maintenance, notifications, planning, user):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


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
