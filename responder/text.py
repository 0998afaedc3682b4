"""Alert text is untrusted: the one rule for its control characters, wherever it is shown.

C0 and C1 controls, DEL and the bidirectional overrides could retitle or clear a terminal, forge a
log line or reorder what a person reads. Terminals and logs get them written out (`\\x1b`); the
plain-text mail part drops them (keeping tab and newline, which its layout uses).
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MAIL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str | None, keep_newlines: bool = False) -> str:
    """Every control character written out (`\\x1b`, `\\u202e`), never sent."""
    if not text:
        return text or ""

    def spell(m: re.Match[str]) -> str:
        c = m.group()
        if keep_newlines and c == "\n":
            return c
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    return _CONTROL.sub(spell, text)


def strip_controls(text: str) -> str:
    """The text without control characters but tab and newline (the plain-text mail part)."""
    return _MAIL_CONTROL.sub("", text)
