"""Secrets: credentials of well-known formats, and high-entropy values next to key words.

Known formats (prefixes documented by their issuers): AWS access key IDs,
GitHub tokens, Slack tokens and webhooks, Google API keys, PEM private key
blocks. Anything else is caught only when a key word (password, secret, token,
api key, ...) is followed by an assignment and a value whose character entropy
is high enough that it is not an ordinary word.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Iterator

from quality.pii_detectors import Span, Windows

_KNOWN_FORMATS = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}"  # AWS access key ID
    r"|gh[pousr]_[A-Za-z0-9]{36,255}"  # GitHub classic tokens
    r"|github_pat_[A-Za-z0-9_]{22,255}"  # GitHub fine-grained tokens
    r"|xox[abposr]-[A-Za-z0-9-]{10,250}"  # Slack tokens
    r"|https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"  # Slack webhook
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API key
    r")(?![A-Za-z0-9])"
)
# Every known-format match holds one of these, this many characters after its start (GitHub's: an underscore).
_KNOWN_FORMAT_MARKS = (("AKIA", 0), ("ASIA", 0), ("ABIA", 0), ("ACCA", 0), ("A3T", 0), ("_", 3), ("_", 6),
                       ("xox", 0), ("https://hooks.slack.com/services/T", 0), ("AIza", 0))
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY((?: BLOCK)?)-----.*?-----END \1PRIVATE KEY\2-----", re.DOTALL
)
_KEYWORD_VALUE = re.compile(
    r"(?i:\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key|client[_-]?secret|private[_-]?key)\w*)"
    r"[\"']?\s*(?:[:=]|=>|:=|\bis\b)\s*[\"']?"
    r"(?P<value>[A-Za-z0-9+/=_\-.!@#$%^&*~]{8,200})"
)
# How each key word of _KEYWORD_VALUE begins: a match starts where one of these does, ignoring case.
_KEYWORD_STARTS = ("pass", "pwd", "secret", "token", "api", "access", "auth", "client", "private")
# Characters that `(?i:...)` matches to an ASCII letter that str.lower() does not turn them into
# (long s, dotless i, dotted capital I); the tests check every code point against `re`.
_FOLDS_UNLIKE_LOWER = ("\u017f", "\u0131", "\u0130")
MIN_ENTROPY_BITS = 3.0  # per character; English words sit around 2.5-3, random keys above 3.5


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(value: str) -> bool:
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return classes >= 2 and shannon_entropy(value) >= MIN_ENTROPY_BITS


def _positions(text: str, needle: str) -> Iterator[int]:
    i = text.find(needle)
    while i >= 0:
        yield i
        i = text.find(needle, i + 1)


def _known_format_starts(text: str) -> list[int]:
    """Every position where a match of _KNOWN_FORMATS may start, sorted."""
    return sorted({i - offset for mark, offset in _KNOWN_FORMAT_MARKS for i in _positions(text, mark) if i >= offset})


def _keyword_starts(text: str) -> list[int] | None:
    """Every position where a key word of _KEYWORD_VALUE may start, sorted; None where lower() cannot tell."""
    if not text.isascii() and any(c in text for c in _FOLDS_UNLIKE_LOWER):
        return None
    lowered = text.lower()
    if len(lowered) != len(text):
        return None  # some character lowers to two: positions would shift
    return sorted({i for prefix in _KEYWORD_STARTS for i in _positions(lowered, prefix)})


def find_secrets(where: Windows) -> list[Span]:
    text = where.text
    known = where.at(_KNOWN_FORMATS, None if where.plain else _known_format_starts(text))
    spans = [Span(m.start(), m.end(), "SECRET") for m in known]
    spans += [Span(m.start(), m.end(), "SECRET") for m in _PRIVATE_KEY.finditer(text)]
    for m in where.at(_KEYWORD_VALUE, None if where.plain else _keyword_starts(text)):
        value = m.group("value").rstrip(".")
        if _looks_random(value):
            spans.append(Span(m.start("value"), m.start("value") + len(value), "SECRET"))
    return spans
