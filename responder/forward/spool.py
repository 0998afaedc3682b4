"""The notify commands' disk spool: an alert is on disk before anyone is told it was taken.

Layout under `state_dir/spool/`: one JSON file per delivery, named so that names sort oldest first;
`tmp/` for files being written (each is fsynced, then renamed into place, so a reader never sees half
a file); `rejected/` for what the receiver refused with a 4xx (kept, with the answer, to look at and
resend); `.lock` is flocked by whoever is sending, so two notify processes never send at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from responder.model.alert import utcnow

Outcome = Literal["sent", "rejected", "retry"]


class Envelope(BaseModel):
    """One spooled delivery: what to post where, and what happened so far."""

    source: str
    body: str  # the JSON the hook receives (or, for input that never became one, what was given)
    spooled_at: datetime
    attempts: int = 0
    last_error: str | None = None
    status: int | None = None  # the receiver's answer, for rejected ones


@dataclass(frozen=True)
class Posted:
    """What became of posting one spooled alert to the receiver."""

    outcome: Outcome
    detail: str = ""  # the receiver's error, or why it could not be reached
    status: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass
class FlushReport:
    sent: list[str] = field(default_factory=list)  # file names
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, why)
    left: int = 0  # still spooled: the receiver could not take them now
    error: str | None = None  # why sending stopped
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)


Sender = Callable[[Envelope], Awaitable[Posted]]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.rejected_dir = self.root / "rejected"

    def _ensure(self) -> None:
        for d in (self.root, self.tmp, self.rejected_dir):
            d.mkdir(parents=True, exist_ok=True)

    # -- writing ------------------------------------------------------------------------------------

    def _write(self, directory: Path, name: str, envelope: Envelope) -> Path:
        """Write whole or not at all: tmp file, fsync, rename, fsync the directory."""
        self._ensure()
        data = envelope.model_dump_json().encode("utf-8")
        fd, tmp = _mkstemp(self.tmp, name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            final = directory / name
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)
        return final

    def put(self, source: str, body: str) -> Path:
        """Spool one delivery; its name sorts after everything spooled before it."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.{source}.json"
        return self._write(self.root, name, Envelope(source=source, body=body, spooled_at=utcnow()))

    def reject(self, name: str, envelope: Envelope, why: str, status: int | None = None) -> Path:
        """Keep a refused delivery in rejected/ with the reason, out of the sending queue."""
        kept = envelope.model_copy(update={"last_error": why, "status": status})
        path = self._write(self.rejected_dir, name, kept)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.root / name)
        return path

    def keep_rejected(self, source: str, body: str, why: str, status: int | None = None) -> Path:
        """Input that never made it to the sending queue (the receiver or the parser refused it)."""
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.{source}.json"
        return self._write(self.rejected_dir, name,
                           Envelope(source=source, body=body, spooled_at=utcnow(), last_error=why, status=status))

    # -- reading ------------------------------------------------------------------------------------

    def pending(self) -> list[str]:
        """Names of spooled deliveries, oldest first."""
        return _names(self.root)

    def rejected(self) -> list[str]:
        return _names(self.rejected_dir)

    def read(self, name: str, rejected: bool = False) -> Envelope:
        path = (self.rejected_dir if rejected else self.root) / name
        return Envelope.model_validate_json(path.read_bytes())

    def requeue_rejected(self) -> int:
        """Move everything in rejected/ back into the queue (after the cause was fixed), oldest first."""
        moved = 0
        for name in self.rejected():
            os.replace(self.rejected_dir / name, self.root / name)
            moved += 1
        if moved:
            _fsync_dir(self.root)
        return moved

    # -- sending ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Only one sender at a time; a second one waits for the first (which also sends its files)."""
        self._ensure()
        with open(self.root / ".lock", "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    async def flush(self, send: Sender) -> FlushReport:
        """Send oldest first; stop at the first delivery the receiver cannot take now. Hold `lock()`.

        Files spooled meanwhile by other processes are picked up too: the queue is read again until
        it is empty or the receiver is down.
        """
        report = FlushReport()
        self._sweep_tmp()
        done: set[str] = set()
        while True:
            names = [n for n in self.pending() if n not in done]
            if not names:
                return report
            for i, name in enumerate(names):
                done.add(name)
                try:
                    envelope = self.read(name)
                except FileNotFoundError:
                    continue
                except (OSError, ValidationError, UnicodeDecodeError) as exc:
                    self._quarantine(name, f"unreadable spool file: {exc}")
                    report.rejected.append((name, "unreadable spool file"))
                    continue
                result = await send(envelope)
                if result.outcome == "sent":
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.root / name)
                    report.sent.append(name)
                    report.answers[name] = result.answer
                elif result.outcome == "rejected":
                    self.reject(name, envelope, result.detail, result.status)
                    report.rejected.append((name, result.detail))
                else:
                    updated = envelope.model_copy(update={"attempts": envelope.attempts + 1,
                                                          "last_error": result.detail})
                    with contextlib.suppress(OSError):
                        self._write(self.root, name, updated)
                    report.error = result.detail
                    report.left = len(names) - i
                    return report

    def _sweep_tmp(self, older_than: float = 3600.0) -> None:
        """Drop files a crashed writer left half-written in tmp/: never renamed into place, so never
        acknowledged to Icinga or Zabbix. An hour is far longer than any write takes."""
        cutoff = time.time() - older_than
        for leftover in self.tmp.glob("*.tmp"):
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def _quarantine(self, name: str, why: str) -> None:
        """A file we cannot read goes to rejected/ as it is, with the reason beside it."""
        self._ensure()
        os.replace(self.root / name, self.rejected_dir / name)
        (self.rejected_dir / f"{name}.error").write_text(why + "\n", encoding="utf-8")


def _names(directory: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(directory) if e.is_file() and e.name.endswith(".json")
                      and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def _mkstemp(directory: Path, name: str) -> tuple[int, str]:
    return tempfile.mkstemp(dir=directory, prefix=f"{name}.", suffix=".tmp")


def dumps(data: Any) -> str:
    """JSON for a spooled body: ASCII only, so any text survives any locale."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"))
