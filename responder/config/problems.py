"""Config errors worded for a person: a typo names the key it probably meant, and a required key that
was only misspelt is reported as the typo, not as missing."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from responder.errors import key_path, pydantic_problems


def _model_at(model: type[BaseModel] | None, loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model that holds the key at `loc` (mappings and lists are stepped through)."""
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            continue  # a mapping key (a client's name) or a union tag
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def config_problems(exc: ValidationError, model: type[BaseModel]) -> list[str]:
    """pydantic's errors as lines a person acts on: a typo names itself and the key it probably meant
    ("unknown key 'group_wiat' (did you mean 'group_wait'?)"), and a required key that was only
    misspelt is reported as the typo, not as missing."""
    errors = exc.errors()
    extra = {tuple(e["loc"]) for e in errors if e.get("type") == "extra_forbidden"}
    lines: list[str] = []
    meant: set[tuple[Any, ...]] = set()
    rest = []
    for loc in sorted(extra, key=str):
        parent, key = loc[:-1], str(loc[-1])
        holder = _model_at(model, parent)
        names = [n for n, f in holder.model_fields.items()] if holder else []
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        where = key_path(parent)
        text = f"unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else "")
        lines.append(f"{where}: {text}" if where else text)
        if close:
            meant.add((*parent, close[0]))
    for e in errors:
        loc = tuple(e["loc"])
        if e.get("type") == "extra_forbidden" or (e.get("type") == "missing" and loc in meant):
            continue
        rest.append(e)
    return lines + pydantic_problems(_Errors(rest))


class _Errors:
    """The errors left to word as pydantic_problems does (it only calls `.errors()`)."""

    def __init__(self, errors: list[Any]) -> None:
        self._errors = errors

    def errors(self) -> list[Any]:
        return self._errors
