"""Detectors for structured PII: each finds candidates with a regex, then validates them.

A detector is `find_x(where: Windows) -> list[Span]`: `Windows` runs each
pattern only where in the text it can match. Candidates are cheap to find and
most are thrown away by the validation step (checksums from `python-stdnum`,
`ipaddress`, `phonenumbers`), which is what keeps precision up on text full of
numbers: order numbers that fail Luhn are not cards, version numbers and dotted
dates are not IPs, ISBNs and DOIs are not phones.
"""

from __future__ import annotations

import ipaddress
import re
import string
from typing import Callable, Iterator, NamedTuple


class Span(NamedTuple):
    start: int
    end: int
    entity: str


# --- where each pattern runs -------------------------------------------------------

# The longest closing lookahead of the windowed patterns, `(?![\w]|[.-]\d)`: two characters.
_LOOKAHEAD = 2
# Windows closer than this are scanned as one (fewer calls), and a text whose windows cover more
# than _WHOLE_TEXT_SHARE of it is scanned whole: both exact, only cheaper.
_MERGE_GAP = 64
_WHOLE_TEXT_SHARE = 0.5


_DIGIT_RUN = re.compile(r"\d+")
_NUMPY_FROM = 500  # characters: on longer texts numpy finds the digits 3x faster than `re`, on shorter ones slower


def _digit_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of `\\d` characters, in order."""
    if len(text) < _NUMPY_FROM:
        return [m.span() for m in _DIGIT_RUN.finditer(text)]
    import numpy as np

    from quality.char_classes import char_class_table

    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    where = np.flatnonzero(char_class_table(r"\d")[codes])
    if not len(where):
        return []
    breaks = np.flatnonzero(np.diff(where) != 1)
    starts = np.concatenate((where[:1], where[breaks + 1]))
    ends = np.concatenate((where[breaks] + 1, where[-1:] + 1))
    return list(zip(starts.tolist(), ends.tolist()))


def _colon_runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of colons, in order."""
    runs = []
    start = text.find(":")
    while start >= 0:
        end = start + 1
        while text.startswith(":", end):
            end += 1
        runs.append((start, end))
        start = text.find(":", end)
    return runs


class Reach(NamedTuple):
    """Where a pattern's trigger characters sit in each of its matches: the first at most `lead`
    characters after its start, at most `gap` others between two, the last at most `tail` before its end."""

    lead: int
    gap: int
    tail: int


# The runs of a pattern's trigger characters in a text: `_digit_runs` or `_colon_runs`.
Trigger = Callable[[str], list[tuple[int, int]]]


class Windows:
    """The parts of one text where each pattern can match, found once per text and shared by the detectors.

    Most text has no PII, and the lookbehind-led patterns cost about as much per character scanned
    as the rest of curate's rules. So a pattern runs only where a match can be:

    - `around(pattern, trigger, reach)`: every match holds a `trigger` character (a digit, a colon),
      placed as `reach` says. Trigger runs at most `reach.gap` apart form one cluster, and a match
      lies in the window from `reach.lead` before a cluster to `reach.tail` after it. The pattern runs on
      each window with `finditer(text, start, end)`: lookbehind sees the text before `start`; `end`
      is _LOOKAHEAD past the window so the closing lookaheads see what they see in the whole text
      (no attempt from inside a window can consume past it: what it consumed would be a match of
      another cluster's window); a match starting past the window is the next window's.
    - `after(pattern, first, reach)`: every match holds a character at `first` or later, at most
      `reach` characters after its start: the scan starts `reach` before `first` (-1: no match).
    - `at(pattern, starts)`: matches can start only at `starts` (sorted): `pattern.match` there, in
      `finditer`'s order (a start inside the last match is skipped).

    Each yields exactly the matches of `pattern.finditer(text)`, in its order; with `plain=True` it
    runs that instead: the reference the tests hold the windowed scan to.
    """

    def __init__(self, text: str, plain: bool = False):
        self.text = text
        self.plain = plain
        self._runs: dict[Trigger, list[tuple[int, int]]] = {}
        self._windows: dict[tuple[Trigger, Reach], list[tuple[int, int]] | None] = {}

    def around(self, pattern: re.Pattern, trigger: Trigger, reach: Reach) -> Iterator[re.Match]:
        text = self.text
        windows = None if self.plain else self._windows_of(trigger, reach)
        if windows is None:
            yield from pattern.finditer(text)
            return
        for start, end in windows:
            for m in pattern.finditer(text, start, end + _LOOKAHEAD):
                if m.start() >= end:
                    break
                yield m

    def _windows_of(self, trigger: Trigger, reach: Reach) -> list[tuple[int, int]] | None:
        """The merged windows, or None where they would cover most of the text."""
        key = (trigger, reach)
        if key not in self._windows:
            runs = self._runs.get(trigger)
            if runs is None:
                runs = self._runs[trigger] = trigger(self.text)
            windows = _windows(runs, reach, len(self.text))
            covered = sum(end - start for start, end in windows)
            self._windows[key] = None if covered > _WHOLE_TEXT_SHARE * len(self.text) else windows
        return self._windows[key]

    def after(self, pattern: re.Pattern, first: int, reach: int) -> Iterator[re.Match]:
        if self.plain:
            return pattern.finditer(self.text)
        return pattern.finditer(self.text, max(0, first - reach)) if first >= 0 else iter(())

    def at(self, pattern: re.Pattern, starts: list[int] | None) -> Iterator[re.Match]:
        """`starts` None: not known, the whole text is scanned."""
        if self.plain or starts is None:
            yield from pattern.finditer(self.text)
            return
        last_end = 0
        for start in starts:
            if start >= last_end and (m := pattern.match(self.text, start)):
                yield m
                last_end = m.end()


def _windows(runs: list[tuple[int, int]], reach: Reach, size: int) -> list[tuple[int, int]]:
    """Runs at most `reach.gap` apart joined, widened by `reach.lead` and `reach.tail`, clipped, merged."""
    windows: list[tuple[int, int]] = []
    lead, tail = reach.lead, reach.tail
    join = max(reach.gap, lead + tail + _MERGE_GAP)
    cluster_start = cluster_end = -1
    for start, end in runs:
        if cluster_end >= 0 and start - cluster_end <= join:
            cluster_end = end
            continue
        if cluster_end >= 0:
            windows.append((max(0, cluster_start - lead), min(size, cluster_end + tail)))
        cluster_start, cluster_end = start, end
    if cluster_end >= 0:
        windows.append((max(0, cluster_start - lead), min(size, cluster_end + tail)))
    return windows


# --- EMAIL -----------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


_EMAIL_LOCAL_MAX = 64  # the "@" is at most this far from the start of a match
_EMAIL_LOCAL_CHAR = frozenset(string.ascii_letters + string.digits + "._%+-")


def _first_email_at(text: str) -> int:
    """The first "@" that can be an email's: a local-part character before it, a letter or digit
    after it (WikiText's " @-@ " is not); -1 if none."""
    at = text.find("@")
    while at >= 0:
        after = text[at + 1 : at + 2]
        if at > 0 and text[at - 1] in _EMAIL_LOCAL_CHAR and after.isascii() and after.isalnum():
            return at
        at = text.find("@", at + 1)
    return -1


def find_emails(where: Windows) -> list[Span]:
    matches = where.after(_EMAIL, _first_email_at(where.text), _EMAIL_LOCAL_MAX)
    return [Span(m.start(), m.end(), "EMAIL") for m in matches if ".." not in m.group()]


# --- IP_ADDRESS --------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV4_REACH = Reach(lead=0, gap=1, tail=0)  # 1.2.3.4
# Hex groups with colons (at least two colons), optionally ending in a dotted IPv4; validated by `ipaddress`.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
_IPV6_REACH = Reach(lead=4, gap=4, tail=15)  # colons: hex groups of 4 around them, a dotted IPv4 at the end
# Words that make a dotted quad a version, not an address ("version 1.2.3.4", "v10.0.0.1", "build 4.1.20.7").
_VERSION_BEFORE = re.compile(r"(?:\b(?:version|ver|release|build|rev|revision|firmware|v)\.?\s*|[vV])$", re.IGNORECASE)


def _ip_entity(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return "IP_ADDRESS" if address.is_global else "PRIVATE_IP"


def find_ips(where: Windows) -> list[Span]:
    text = where.text
    spans = []
    for m in where.around(_IPV4, _digit_runs, _IPV4_REACH):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        entity = _ip_entity(m.group())
        if entity:
            spans.append(Span(m.start(), m.end(), entity))
    for m in where.around(_IPV6, _colon_runs, _IPV6_REACH):
        value = m.group()
        if len(re.findall(r"[0-9A-Fa-f]{1,4}", value)) < 2:
            continue  # "::" alone, or a C++ scope operator
        entity = _ip_entity(value)  # rejects times such as 12:30:45: too few groups and no "::"
        if entity:
            spans.append(Span(m.start(), m.end(), entity))
    return spans


# --- CREDIT_CARD ---------------------------------------------------------------

# 12-19 digits in one run, or in the printed groups (4-4-4-4[-1..3], 4-6-4/5) split by one
# consistent space or hyphen; issuers start with 1-6.
_CARD = re.compile(
    r"(?<![\w.+-])(?:[1-6]\d{11,18}|[1-6]\d{3}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|3\d{3}([ -])\d{6}\2\d{4,5})"
    r"(?![\w]|[.-]\d)"
)
_CARD_REACH = Reach(lead=0, gap=1, tail=0)  # one separator between groups


def find_cards(where: Windows) -> list[Span]:
    from stdnum import luhn  # the PII libraries load when a detector first runs, not with the config

    spans = []
    for m in where.around(_CARD, _digit_runs, _CARD_REACH):
        digits = re.sub(r"\D", "", m.group())
        if 12 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn.is_valid(digits):
            spans.append(Span(m.start(), m.end(), "CREDIT_CARD"))
    return spans


# --- IBAN ------------------------------------------------------------------------

_IBAN = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{1,4}){3,8}(?![\w])")
_IBAN_REACH = Reach(lead=2, gap=40, tail=40)  # the country letters, then up to 8 letter groups ' ABCD'


def find_ibans(where: Windows) -> list[Span]:
    from stdnum import iban as stdnum_iban

    spans = []
    for m in where.around(_IBAN, _digit_runs, _IBAN_REACH):
        value = m.group()
        # Grouped IBANs may be followed by an unrelated word; shrink from the right until it validates.
        parts = value.split(" ")
        while parts:
            candidate = " ".join(parts)
            if stdnum_iban.is_valid(candidate.upper()):
                spans.append(Span(m.start(), m.start() + len(candidate), "IBAN"))
                break
            parts.pop()
    return spans


# --- US_SSN ------------------------------------------------------------------------

_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w]|-\d)")
_SSN_REACH = Reach(lead=0, gap=1, tail=0)
_SSN_UNHYPHENATED = re.compile(r"(?<![\w-])\d{3} ?\d{2} ?\d{4}(?![\w]|-\d)")
_SSN_UNHYPHENATED_REACH = Reach(lead=0, gap=1, tail=0)
_SSN_KEYWORD = re.compile(r"\b(?:ssn|social security(?: number| no\.?| #)?)\W{0,3}$", re.IGNORECASE)


def find_ssns(where: Windows) -> list[Span]:
    """AAA-GG-SSSS anywhere; with spaces or none only right after an SSN keyword.

    `stdnum.us.ssn` rejects area 000, 666 and 9xx, group 00, serial 0000 and the
    numbers known to be advertising samples (078-05-1120 and the like).
    """
    from stdnum.us import ssn as stdnum_ssn

    text = where.text
    found = where.around(_SSN, _digit_runs, _SSN_REACH)
    spans = [Span(m.start(), m.end(), "US_SSN") for m in found if stdnum_ssn.is_valid(m.group())]
    for m in where.around(_SSN_UNHYPHENATED, _digit_runs, _SSN_UNHYPHENATED_REACH):
        if _SSN_KEYWORD.search(text[max(0, m.start() - 30) : m.start()]) and stdnum_ssn.is_valid(m.group().replace(" ", "")):
            spans.append(Span(m.start(), m.end(), "US_SSN"))
    return spans


# --- PHONE -------------------------------------------------------------------------

DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "DK", "NO", "FI",
                         "PT", "IE", "PL", "CZ", "HU", "AU", "CA", "BR", "IN", "IL")

_PHONE = re.compile(
    r"(?<![\w+/.-])"
    r"(?:(?:\+|00|011)[ .-]?\d{1,3}[ .-]?)?"  # international prefix and country code
    r"(?:\(0\)[ ]?)?"  # the "+44 (0)20" trunk zero
    r"(?:\(\d{1,5}\)[ .-]?)?"  # area code in brackets
    r"\d{1,15}(?:[ .-]\d{1,12}){0,5}"  # digit groups
    r"(?:[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6})?"  # extension
    r"(?![\w]|[.-]\d)"
)
_PHONE_REACH = Reach(lead=2, gap=11, tail=0)  # '+ 4', ' extension ', ends on a digit
_ISBN_OR_DOI_BEFORE = re.compile(r"(?:\bISBN(?:-1[03])?:?\s*|\bdoi:?\s*10\.\d{4,9}/\S*|\b10\.\d{4,9}/)$", re.IGNORECASE)
_EXTENSION = re.compile(r"[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6}$")


_PHONE_CONTEXT = re.compile(
    r"\b(?:phone|tel|telephone|call|called|calling|mobile|cell|fax|office|desk|contact|reach|dial|ring"
    r"|sms|text|whatsapp|answering|message|messages|registered)\b",
    re.IGNORECASE,
)
# Identifiers that are written like phone numbers; a number right after one of these words is not a phone.
_NOT_PHONE_BEFORE = re.compile(
    r"\b(?:licen[cs]e|passport|account|acct|order|invoice|ticket|tracking|id|ssn|social security|zip|postal|postcode"
    r"|apt|apartment|suite|unit|box|isbn|card|serial|ref|reference|po|vat|tax)\b[^\n\d]{0,15}$",
    re.IGNORECASE,
)
_SSN_SHAPE = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_DATE_INSIDE = re.compile(r"(?<!\d)(?:\d{4}([./-])\d{1,2}\1\d{1,2}|\d{1,2}([./-])\d{1,2}\2\d{4})(?!\d)")
_FRENCH = re.compile(r"0\d(?:[ .]\d{2}){4}")


def _is_international(value: str) -> bool:
    return value.startswith(("+", "00"))


def _strong_shape(value: str, digits: str) -> bool:
    """Shapes street numbers, zip codes and counts rarely take: a bracketed area code,
    three or more digit groups, or ten or more digits."""
    return "(" in value or len(re.findall(r"\d+", value)) >= 3 or len(digits) >= 10


def _phone_strength(value: str, digits: str, regions: tuple[str, ...]) -> str | None:
    """"strong", "weak" (kept only next to a phone word) or None, as judged by phonenumbers.

    Written with an international prefix: a possible number of the country it names is strong.
    National format: a valid number of one of `regions` in a strong shape is strong; a valid
    one in a weak shape, or one of possible length only, is weak.
    """
    import phonenumbers

    number_part = _EXTENSION.sub("", value)
    if _is_international(number_part):
        try:
            number = phonenumbers.parse(re.sub(r"^(?:00|011)", "+", number_part).replace("(0)", ""), None)
        except phonenumbers.NumberParseException:
            return None
        return "strong" if phonenumbers.is_possible_number(number) else None
    strength = None
    for region in regions:
        try:
            number = phonenumbers.parse(number_part, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return "strong" if _strong_shape(value, digits) else "weak"
        if phonenumbers.is_possible_number(number):
            strength = "weak"
    return strength


def _near_phone_word(text: str, start: int, end: int) -> bool:
    return bool(_PHONE_CONTEXT.search(text[max(0, start - 40) : start]) or _PHONE_CONTEXT.search(text[end : end + 12]))


def find_phones(where: Windows, regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> list[Span]:
    from stdnum import isbn as stdnum_isbn

    text = where.text
    spans = []
    for m in where.around(_PHONE, _digit_runs, _PHONE_REACH):
        value = m.group()
        digits = re.sub(r"\D", "", _EXTENSION.sub("", value))
        if not 7 <= len(digits) <= 15:
            continue
        if _DATE_INSIDE.search(value) or _SSN_SHAPE.search(value):
            continue
        if re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){2,}", value) and not _FRENCH.fullmatch(value):
            continue  # a version number
        before = text[max(0, m.start() - 40) : m.start()]
        if _ISBN_OR_DOI_BEFORE.search(before) or (_NOT_PHONE_BEFORE.search(before) and not _is_international(value)):
            continue
        if len(digits) in (10, 13) and value.count("-") >= 3 and stdnum_isbn.is_valid(value):
            continue  # a hyphenated ISBN without its label
        strength = _phone_strength(value, digits, regions)
        if strength == "strong" or (strength == "weak" and _near_phone_word(text, m.start(), m.end())):
            spans.append(Span(m.start(), m.end(), "PHONE"))
    return spans
