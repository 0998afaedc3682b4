"""Responder as an Alertmanager receiver: a config that `amtool check-config` accepts as it is, whose
receiver and first child route are what to copy into an existing alertmanager.yml.

The token is never printed unless asked for: the snippet points at a credentials file that holds it
(readable by the alertmanager user only), so the output can be pasted into a ticket or a repository.
"""

from __future__ import annotations

import json

CREDENTIALS_FILE = "/etc/alertmanager/responder.token"


def render(url: str, token: str | None, *, show_token: bool = False,
           credentials_file: str = CREDENTIALS_FILE) -> str:
    """The alertmanager.yml text: a route to the `responder` receiver and the receiver itself."""
    hook = json.dumps(f"{url}/hooks/alertmanager")  # a JSON string is a YAML string
    lines = [
        "# Responder as an Alertmanager receiver, printed by `responder integrations alertmanager`.",
        "# Standalone it sends every alert to Responder; to add Responder to an existing alertmanager.yml,",
        "# copy the `responder` receiver and put the child route at the top of your route's `routes:`",
        "# (`continue: true` lets your other receivers get the alerts as before).",
    ]
    if token and not show_token:
        lines.append(f"# Put the token (receiver.token or the first of auth.tokens) in {credentials_file},")
        lines.append("# readable by the alertmanager user only; --show-token prints it here instead.")
    elif not token:
        lines.append("# Responder has no auth.tokens: its hooks are open, so no authorization is sent.")
    lines += [
        "route:",
        "  receiver: responder",
        "  group_by: ['alertname']",
        "  group_wait: 10s        # Responder groups a storm into one incident by itself as well",
        "  group_interval: 1m",
        "  repeat_interval: 4h    # repeats are recognised and make no second incident or message",
        "  routes:",
        "    - receiver: responder",
        "      continue: true",
        "",
        "receivers:",
        "  - name: responder",
        "    webhook_configs:",
        f"      - url: {hook}",
        "        send_resolved: true   # a resolve makes Responder check the clients again and close the incident",
        "        max_alerts: 0         # every alert of a group; Responder accepts up to limits.max_body",
    ]
    if token:
        secret = (f"credentials: {json.dumps(token)}" if show_token
                  else f"credentials_file: {json.dumps(credentials_file)}")
        lines += ["        http_config:", "          authorization:", "            type: Bearer",
                  f"            {secret}"]
    return "\n".join(lines) + "\n"
