"""`responder user hash [NAME]`: a bcrypt hash for `auth.users`, like `htpasswd -nbB NAME PASS` prints.

The password is read from a prompt on a terminal (twice), or as one line on stdin otherwise, and
never from the command line, where other users and the shell history would see it.
"""

from __future__ import annotations

import sys

import bcrypt
import click

from responder.cli.common import fail

ROUNDS = 12  # about a quarter of a second per check here: logins are remembered briefly, so pages stay fast


def read_password() -> str:
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt="Again", err=True)
        return value
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def make_hash(password: str, rounds: int = ROUNDS) -> str:
    encoded = password.encode("utf-8")
    if not encoded:
        fail("the password cannot be empty")
    if len(encoded) > 72:
        fail("bcrypt reads at most 72 bytes of a password; choose a shorter one")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds)).decode()


@click.group("user")
def group() -> None:
    """Logins for the web pages and the API (auth.users)."""


@group.command("hash")
@click.argument("name", required=False)
@click.option("--rounds", type=click.IntRange(4, 16), default=ROUNDS, show_default=True,
              help="bcrypt cost: each step doubles the work of a check")
def hash_command(name: str | None, rounds: int) -> None:
    """Print a bcrypt hash of a password read from the prompt (or stdin), for auth.users.

    With NAME, print the line to paste under `auth: users:`."""
    if name is not None and (not name or ":" in name):
        fail("a user name cannot be empty or contain ':'")
    hashed = make_hash(read_password(), rounds)
    click.echo(f'{name}: "{hashed}"' if name else hashed)


COMMANDS: list[click.Command] = [group]
