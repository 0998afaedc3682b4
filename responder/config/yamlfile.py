"""Reading YAML files (with `${VAR}` substitution), and a cache of the inventory's parse under state_dir.

libyaml's parser is still the larger part of loading a 10,000-server inventory (about a second on
this kind of machine, more when it is busy), and every process reads the same file: `serve`, each
worker, each `check`. The parse of an unchanged file is kept, keyed by the file's bytes and PyYAML's
version, so a later process pays a hash and an unpickle instead. The cache holds the parse itself,
not validated models: validation, `${VAR}` substitution and every problem message stay as they
were, and a stale or damaged cache file is only a miss.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import hashlib
import io
import os
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from responder.errors import ConfigError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: 6x faster on a large inventory
# the only classes a safe YAML parse yields besides builtins: a cache file can name nothing else
_ALLOWED = {("datetime", n): getattr(datetime, n) for n in ("date", "datetime", "timedelta", "timezone")}
_FORMAT = b"responder-yaml-cache-1"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection while a large inventory is built: its 100,000s of new objects would
    trigger full collections that rescan everything so far and find nothing (half the parse time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(["file not found"], str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read: {exc}"], str(path)) from None


def parse_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.load(text, Loader=_LOADER)  # a safe loader: libyaml's when built
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}not valid YAML ({problem})"], str(path)) from None


def read_yaml(path: Path) -> Any:
    return parse_yaml(read_text(path), path)


def substitute_env(node: Any, path: str = "", problems: list[str] | None = None) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in every string; a missing variable is a problem."""
    problems = problems if problems is not None else []
    if isinstance(node, dict):
        return {k: substitute_env(v, f"{path}.{k}" if path else str(k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute_env(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            value = os.environ.get(name)
            if value is None:
                if default is not None:
                    return default
                problems.append(f"{path}: environment variable {name} is not set")
                return ""
            return value

        return _ENV_REF.sub(repl, node)
    return node


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a YAML cache")
        return found


def _cache_file(cache_dir: Path, path: Path) -> Path:
    where = hashlib.blake2b(str(path.resolve()).encode(), digest_size=8).hexdigest()
    return cache_dir / f"yaml-{where}.pickle"


def _key(text: str) -> bytes:
    return hashlib.blake2b(_FORMAT + yaml.__version__.encode() + _LOADER.__name__.encode() + b"\0"
                           + text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def read_yaml_cached(path: Path, cache_dir: Path | None) -> tuple[Any, str, bool]:
    """The parsed file, its text, and whether the parse came from the cache. Only a parse that the
    caller then accepted should be stored (`store_cached`), so a broken file is never cached."""
    text = read_text(path)
    if cache_dir is not None:
        key = _key(text)
        try:
            raw = _cache_file(cache_dir, path).read_bytes()
        except OSError:
            raw = b""
        if raw[:16] == key:
            with contextlib.suppress(Exception):  # damaged or foreign: parse as if there were none
                return _SafeUnpickler(io.BytesIO(raw[16:])).load(), text, True
    return compacted(parse_yaml(text, path)), text, False


def compacted(data: Any) -> Any:
    """The same data, rebuilt from a pickle after the parse's scratch is freed.

    A YAML parse leaves its temporaries scattered between the objects it returns, and CPython gives
    an arena back only once all of it is free: `serve`, the first to read a new inventory, carried
    ~15 MB more than a worker that unpickled the same data from the cache (10,000 servers). Rebuilt
    the way the cache rebuilds it, the first reader costs what every later one does (~30 ms)."""
    blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    del data
    gc.collect()
    return pickle.loads(blob)


def store_cached(path: Path, cache_dir: Path, text: str, data: Any) -> None:
    """Keep the parse for the next process; best effort (a read-only state_dir only costs speed)."""
    target = _cache_file(cache_dir, path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(_key(text) + pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, target)
    except (OSError, pickle.PicklingError, RecursionError):
        with contextlib.suppress(OSError):
            tmp.unlink()
