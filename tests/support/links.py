"""What a recipient reads, for tests that check a message never names something: without the signed
links' expiry and signature, which are random base64 (one held "s1", another "s3")."""

from __future__ import annotations

import re

_SIGNED = re.compile(r"[?&](?:amp;)?(?:exp|sig)=[^\s\"'&<>\\]*")


def unsigned(text: str) -> str:
    """`text` less every `exp=` and `sig=` query parameter (plain, or `&amp;` in HTML)."""
    return _SIGNED.sub("", text)
