"""`responder notify icinga|zabbix` and `responder spool flush|list`.

Icinga and Zabbix run a notification command once and do not try again, so the alert goes to the disk
spool first and is sent from there: whatever happens to the receiver or to this process, an alert that
this command answered 0 for is on disk until the receiver has taken it.

The notify commands read their command line themselves (getopt, like the stock scripts): alert text is
untrusted and must never be taken for an option of ours (`-o --help`, `-c --config=/tmp/x`).
"""

from __future__ import annotations

import contextlib
import getopt
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import click

from responder.errors import PayloadError, ResponderError
from responder.forward.post import Receiver, flush, receiver_from
from responder.forward.spool import dumps
from responder.intake.sources import icinga, zabbix


def _say(message: str) -> None:
    print(f"responder: {message}", file=sys.stderr)


def forward_alert(receiver: Receiver, source: str, fields: dict[str, str]) -> None:
    """Spool, then send the spool (this alert after the older ones). Returns when this alert is either
    taken by the receiver or safely spooled; raises ResponderError when the receiver refused it."""
    spool = receiver.spool
    name = spool.put(source, dumps({**fields, "source": source})).name
    report = flush(receiver)
    for other, why in report.rejected:
        if other != name:
            _say(f"an older spooled alert was refused and moved to {spool.rejected_dir / other}: {why}")
    if name in report.sent:
        answer = report.answers.get(name, {})
        incidents = ", ".join(str(i) for i in answer.get("incidents", [])) or "none"
        click.echo(f"responder: sent to {receiver.url} (incidents: {incidents})")
        return
    rejected = spool.rejected_dir / name
    if rejected.exists():
        try:
            why = spool.read(name, rejected=True).last_error or "refused"
        except (OSError, ValueError):
            why = "refused"
        raise ResponderError(f"the receiver refused the alert: {why}; it is kept in {rejected}")
    if name in spool.pending():
        _say(f"{report.error or 'the receiver did not take it'}; the alert is spooled in {spool.root / name} "
             "and goes out with the next notify or `responder spool flush`")
        return
    click.echo(f"responder: sent to {receiver.url} by a concurrent notify")


def _clean(text: str) -> str:
    """argv and environment bytes that are not UTF-8 (a Latin-1 plugin output) become U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _keep_bad_input(receiver: Receiver, source: str, given: dict[str, Any], exc: PayloadError) -> NoReturn:
    with _disk_errors(receiver):
        path = receiver.spool.keep_rejected(source, dumps(given), str(exc))
    raise ResponderError(f"{exc}; the alert is kept in {path}")


@contextlib.contextmanager
def _disk_errors(receiver: Receiver) -> Iterator[None]:
    """A spool that cannot be written (permissions, a full disk) is one line, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise ResponderError(f"cannot use the spool in {receiver.spool.root}: {exc.strerror or exc} "
                             "(state_dir must be writable by the user this runs as)") from None


# -- the commands -----------------------------------------------------------------------------------


class RawArgs(click.Command):
    """A command that receives its arguments untouched, as `argv`, for its own parser."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.params["argv"] = tuple(args)
        return []


def _icinga_help() -> str:
    lines = ["Usage: responder notify icinga [--config FILE] [FLAGS]", "",
             "  A drop-in for Icinga's mail-host-notification.sh / mail-service-notification.sh: swap the",
             "  script path of a NotificationCommand for this command. Posts the notification to the",
             "  receiver in the config; spools it to disk when the receiver cannot take it (exit 0).", "",
             "Flags (the stock scripts' letters, and long names):"]
    for short, long, field in icinga.FLAGS:
        flag = f"-{short}, --{long}" if short else f"    --{long}"
        lines.append(f"  {flag:<28} {field or '(accepted, not used)'}")
    lines += ["", "Environment (env-style NotificationCommands; read when NOTIFICATIONTYPE is set, for what no",
              "flag gave): " + ", ".join(icinga.ENV), "",
              "Exit: 0 sent or spooled; 2 bad input or refused by the receiver (kept in the spool's rejected/)."]
    return "\n".join(lines)


ZABBIX_HELP = """Usage: responder notify zabbix [--config FILE] [--] SENDTO SUBJECT MESSAGE [EXTRA...]

  For a Zabbix script media type with the parameters {ALERT.SENDTO} {ALERT.SUBJECT} {ALERT.MESSAGE}.
  The message carries the other macros as `MACRO: value` lines: use the message templates of
  samples/integrations/zabbix/media_responder_script.yaml. Posts the alert to the receiver in the
  config; spools it to disk when the receiver cannot take it (exit 0).

Exit: 0 sent or spooled; 2 bad input or refused by the receiver (kept in the spool's rejected/)."""


@click.group()
def notify() -> None:
    """Post an alert from Icinga2 or a Zabbix script media type; spool it when the receiver is away."""


@notify.command("icinga", cls=RawArgs, add_help_option=False)
def notify_icinga(argv: tuple[str, ...]) -> None:
    """Icinga2 NotificationCommand: the stock mail scripts' flags, or their environment variables."""
    args = [_clean(a) for a in argv]
    if args in (["--help"], ["-h"]):
        click.echo(_icinga_help())
        return
    env = {k: _clean(v) for k, v in os.environ.items() if k in icinga.ENV}
    try:
        fields, options = icinga.read_argv(args)
    except PayloadError as exc:
        receiver = receiver_from(_config_in(args))
        _keep_bad_input(receiver, "icinga", {"argv": args, "env": env}, exc)
    receiver = receiver_from(options.get("config"))
    for k, v in icinga.fields_from_env(env).items():
        if not fields.get(k):
            fields[k] = v
    try:
        icinga.parse_data(dict(fields))
    except PayloadError as exc:
        _keep_bad_input(receiver, "icinga", {"argv": args, "env": env}, exc)
    with _disk_errors(receiver):
        forward_alert(receiver, "icinga", fields)


def _config_in(args: Sequence[str]) -> str | None:
    """--config from a command line that did not parse as a whole."""
    for i, a in enumerate(args):
        if a == "--config" and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--config="):
            return a.split("=", 1)[1]
    return None


@notify.command("zabbix", cls=RawArgs, add_help_option=False)
def notify_zabbix(argv: tuple[str, ...]) -> None:
    """Zabbix script media type: {ALERT.SENDTO} {ALERT.SUBJECT} {ALERT.MESSAGE}."""
    args = [_clean(a) for a in argv]
    if args in (["--help"], ["-h"]):
        click.echo(ZABBIX_HELP)
        return
    try:
        opts, rest = getopt.getopt(args, "", ["config=", "help"])
    except getopt.GetoptError as exc:
        receiver = receiver_from(_config_in(args))
        _keep_bad_input(receiver, "zabbix", {"argv": args},
                        PayloadError(f"{exc.msg}; put `--` before SENDTO when it starts with '-'", field="argv"))
    options = dict(opts)
    receiver = receiver_from(options.get("--config"))
    if len(rest) < 3:
        _keep_bad_input(receiver, "zabbix", {"argv": rest}, PayloadError(
            f"expected SENDTO SUBJECT MESSAGE ({{ALERT.SENDTO}} {{ALERT.SUBJECT}} {{ALERT.MESSAGE}}), "
            f"got {len(rest)} argument(s)", field="argv"))
    fields = zabbix.fields_from_script(rest[0], rest[1], rest[2], rest[3:])
    try:
        zabbix.parse_data(dict(fields))
    except PayloadError as exc:
        _keep_bad_input(receiver, "zabbix", {"argv": rest}, exc)
    with _disk_errors(receiver):
        forward_alert(receiver, "zabbix", fields)


@click.group()
def spool() -> None:
    """The notify commands' disk spool: send it, or see what is in it."""


config_option = click.option("--config", "config_path", metavar="FILE",
                             help="responder.yaml (default: $RESPONDER_CONFIG, then ./responder.yaml)")


@spool.command("flush")
@click.option("--rejected", "requeue", is_flag=True,
              help="also resend what the receiver refused before (after fixing the cause)")
@config_option
def spool_flush(requeue: bool, config_path: str | None) -> None:
    """Send what is spooled, oldest first. Exit 0 all sent, 1 some left (receiver away), 2 some refused."""
    receiver = receiver_from(config_path)
    with _disk_errors(receiver):
        if requeue:
            with receiver.spool.lock():
                moved = receiver.spool.requeue_rejected()
            if moved:
                click.echo(f"{moved} refused alert(s) queued again")
        report = flush(receiver)
    click.echo(f"sent {len(report.sent)}, refused {len(report.rejected)}, left {report.left}")
    for name, why in report.rejected:
        _say(f"refused, kept in {receiver.spool.rejected_dir / name}: {why}")
    if report.rejected:
        sys.exit(2)
    if report.left:
        _say(f"{report.left} alert(s) left in {receiver.spool.root}: {report.error}")
        sys.exit(1)


@spool.command("list")
@config_option
def spool_list(config_path: str | None) -> None:
    """What is spooled (oldest first) and what was refused."""
    receiver = receiver_from(config_path)
    sp = receiver.spool
    for title, names, rejected in (("spooled", sp.pending(), False), ("refused", sp.rejected(), True)):
        click.echo(f"{title}: {len(names)}")
        for name in names:
            try:
                env = sp.read(name, rejected=rejected)
                why = f"  ({env.last_error})" if env.last_error else ""
                click.echo(f"  {name}  {env.source}  attempts={env.attempts}{why}")
            except (OSError, ValueError):
                click.echo(f"  {name}  (unreadable)")


COMMANDS: list[click.Command] = [notify, spool]
