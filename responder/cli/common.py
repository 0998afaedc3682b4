"""What every command shares: the consoles, the config option, exit 2 with one line, the store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import click
from rich.console import Console

from responder import config as config_module
from responder.config import Config
from responder.redact import strip_userinfo

if TYPE_CHECKING:
    from responder.store import Store

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Fail(Exception):
    """Bad usage or input: one line on stderr and exit 2."""


def fail(message: str) -> NoReturn:
    raise Fail(message)


def load_config(path: str | None) -> Config:
    cfg = config_module.load(path)
    config_module.set_current(cfg)
    return cfg


config_option = click.option("--config", "config_path", metavar="FILE",
                             help="responder.yaml (default: $RESPONDER_CONFIG, then ./responder.yaml)")



@contextlib.contextmanager
def open_store(cfg: Config) -> Iterator[Store]:
    """The store, starting the embedded Redis for the duration if none is running."""
    from responder.runtime.embedded import redis_for  # only commands that read the store need Redis
    from responder.store import Store, connect

    with redis_for(cfg) as url:
        store = Store(connect(url))
        if not store.ping():
            fail(f"cannot reach Redis at {strip_userinfo(url)}")
        yield store
