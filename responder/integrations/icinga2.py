"""The Icinga 2 objects for Responder (NotificationCommands, a user, apply rules), with this machine's
`responder` and config paths filled in: paste into conf.d/ and run `icinga2 daemon -C`."""

from __future__ import annotations

from pathlib import Path

from responder.integrations import packaged

SAMPLE_BIN = "/usr/local/bin/responder"
SAMPLE_CONFIG = "/etc/responder/responder.yaml"
COMMAND = 'command = [ "$responder_bin$", "notify", "icinga" ]'


def quoted(value: str) -> str:
    """An Icinga 2 DSL string: backslash and quote escaped, and `$` doubled: the values land in custom
    variables, and Icinga resolves the macros inside a custom variable's value too."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'


def render(command: list[str], config_path: Path) -> str:
    """The objects of samples/integrations/icinga2/responder.conf with `command` (the responder binary,
    or a Python and `-m responder`) and `config_path` in place of the sample's paths."""
    text = packaged("icinga2-objects.conf")
    text = text.replace(f"vars.responder_bin = {quoted(SAMPLE_BIN)}", f"vars.responder_bin = {quoted(command[0])}")
    text = text.replace(f"vars.responder_config = {quoted(SAMPLE_CONFIG)}",
                        f"vars.responder_config = {quoted(str(config_path))}")
    if len(command) > 1:
        extra = "".join(f", {quoted(a)}" for a in command[1:])
        text = text.replace(COMMAND, f'command = [ "$responder_bin$"{extra}, "notify", "icinga" ]')
    head = (
        "/*\n"
        " * Responder for Icinga 2, printed by `responder integrations icinga2` for this machine.\n"
        " * Save as /etc/icinga2/conf.d/responder.conf (or a zones.d directory of your master), check it\n"
        " * with `icinga2 daemon -C` and reload Icinga. The config file needs `receiver: {url, token}` and\n"
        " * a `state_dir` (the spool) the icinga user (nagios on Debian) may read and write.\n"
        " * A host with `vars.responder = false` is left out.\n"
        " */\n\n"
    )
    return head + text
