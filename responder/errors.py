"""The errors Responder raises on bad input: each one carries text a person can act on.

The CLI turns these into one line on stderr and exit 2; the web layer into a 4xx with a JSON body.
Anything else escaping is a bug, not an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class ResponderError(Exception):
    """Base of every error we expect and explain."""


class ConfigError(ResponderError):
    """The config or inventory file is wrong; one entry per problem, each led by its key path."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))

    def lines(self) -> list[str]:
        where = f"{self.source}: " if self.source else ""
        return [where + p for p in self.problems]


class PayloadError(ResponderError):
    """An alert payload we cannot accept; `field` names the part that is wrong."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)

    def as_json(self) -> dict[str, Any]:
        return {"error": str(self), "field": self.field}


class StoreUnavailable(ResponderError):
    """Redis cannot be reached; callers answer 503 (hooks) or spool (notify commands)."""


def key_path(loc: Iterable[Any]) -> str:
    """Render a pydantic error location as `clients.acme.servers[1]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def pydantic_problems(exc: Any, prefix: str = "") -> list[str]:
    """One readable line per pydantic error, each led by its key path."""
    problems = []
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if not _is_union_tag(p)]
        path = key_path([*([prefix] if prefix else []), *loc])
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{path}: {msg}" if path else msg)
    return problems


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the branch of a union (e.g. 'str', 'function-after[...]') to the location
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "dict", "list"})
