"""`responder integrations zabbix|icinga2|alertmanager`: install (Zabbix, through its API) or print
(Icinga 2, Alertmanager) the integration with this machine's paths and the receiver's URL filled in."""

from __future__ import annotations

import click

from responder import config as config_module
from responder.cli.common import config_option, fail, load_config


@click.group()
def integrations() -> None:
    """Wire a monitoring system to Responder."""


def _note(url: str) -> None:
    from responder.integrations import is_loopback

    if is_loopback(url):
        click.echo(f"note: {url} is a loopback address; pass --url (or set public_url) if the monitoring "
                   "system runs on another machine", err=True)


@integrations.command()
@config_option
@click.option("--api", "api_url", required=True, metavar="URL", help="the frontend's api_jsonrpc.php")
@click.option("--token", required=True, envvar="ZABBIX_API_TOKEN", metavar="T",
              help="a Zabbix API token (or $ZABBIX_API_TOKEN, which keeps it out of the process list)")
@click.option("--sendto", default="responder", show_default=True, help="the user media's send-to")
@click.option("--media", type=click.Choice(["webhook", "script"]), default="webhook", show_default=True,
              help="webhook: Zabbix posts to /hooks/zabbix; script: it runs responder-notify (put it in "
                   "AlertScriptsPath yourself)")
@click.option("--url", metavar="URL", help="Responder's address as Zabbix reaches it (default: public_url, "
                                           "receiver.url, listen)")
def zabbix(config_path: str | None, api_url: str, token: str, sendto: str, media: str, url: str | None) -> None:
    """Create or update the media type, a user and an action in Zabbix (run again: updates)."""
    from responder.integrations import hook_token, receiver_url
    from responder.integrations import zabbix as zbx

    cfg = load_config(config_path)
    base = receiver_url(cfg, url)
    if media == "webhook":
        _note(base)
    try:
        api = zbx.Api(api_url, token)
        lines = zbx.install(api, zbx.Plan(media=media, hook_url=f"{base}/hooks/zabbix", token=hook_token(cfg),
                                          sendto=sendto))
    except zbx.ZabbixError as exc:
        fail(str(exc))
    for line in lines:
        click.echo(line)


@integrations.command()
@click.option("--config", "config_path", metavar="FILE",
              help="the responder.yaml the notify command reads (default: $RESPONDER_CONFIG, then ./responder.yaml)")
def icinga2(config_path: str | None) -> None:
    """Print the NotificationCommands, user and Notifications with this machine's paths."""
    from responder.integrations import icinga2 as icinga
    from responder.integrations import responder_command

    path = config_module.config_path(config_path).resolve()
    if not path.is_file():
        click.echo(f"note: {path} does not exist yet; the notify command reads it", err=True)
    click.echo(icinga.render(responder_command(), path), nl=False)


@integrations.command()
@config_option
@click.option("--url", metavar="URL", help="Responder's address as Alertmanager reaches it (default: "
                                           "public_url, receiver.url, listen)")
@click.option("--credentials-file", default="/etc/alertmanager/responder.token", show_default=True,
              help="where Alertmanager reads the bearer token from")
@click.option("--show-token", is_flag=True, help="put the token itself in the snippet instead of a file")
def alertmanager(config_path: str | None, url: str | None, credentials_file: str, show_token: bool) -> None:
    """Print the receiver (and a route to it) for alertmanager.yml."""
    from responder.integrations import alertmanager as am
    from responder.integrations import hook_token, receiver_url

    cfg = load_config(config_path)
    base = receiver_url(cfg, url)
    _note(base)
    click.echo(am.render(base, hook_token(cfg), show_token=show_token, credentials_file=credentials_file), nl=False)


COMMANDS: list[click.Command] = [integrations]
