"""Conservative PII patterns for checking a redacted dataset and for showing sample documents.

They look for what a redactor should have replaced (an email address, a phone
number written with separators, an IPv4 address); placeholders such as
`<EMAIL>` never match them. They err towards missing odd formats rather than
flagging ordinary numbers, because a hit fails the gate.
"""

from __future__ import annotations

import re

PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\w.])",
    "ip": r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])",
}
# Names other stages may use for the same entity types.
ALIASES = {"email_address": "email", "phone_number": "phone", "ip_address": "ip", "ipv4": "ip"}

_COMPILED = {name: re.compile(pattern) for name, pattern in PATTERNS.items()}


def canonical(entity: str) -> str:
    entity = entity.lower()
    return ALIASES.get(entity, entity)


def redacted_types(config: dict) -> list[str]:
    """The entity types the run's `pii` config section says it redacts (empty when PII redaction is off)."""
    section = config.get("pii")
    if not isinstance(section, dict) or section.get("enabled") is False or section.get("redact") is False:
        return []
    for key in ("types", "entities", "redact"):
        listed = section.get(key)
        if isinstance(listed, list):
            return sorted({canonical(str(e)) for e in listed})
    return sorted(PATTERNS)


def mask(text: str) -> str:
    """`text` with every pattern replaced by a placeholder, for showing sample documents."""
    for name, pattern in _COMPILED.items():
        text = pattern.sub(f"<{name.upper()}>", text)
    return text
