"""Detectors for structured PII: each finds candidates with a regex, then validates them.

A detector is `find_x(text) -> list[Span]`. Candidates are cheap to find and
most are thrown away by the validation step (checksums from `python-stdnum`,
`ipaddress`, `phonenumbers`), which is what keeps precision up on text full of
numbers: order numbers that fail Luhn are not cards, version numbers and dotted
dates are not IPs, ISBNs and DOIs are not phones.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple



class Span(NamedTuple):
    start: int
    end: int
    entity: str


# --- EMAIL -----------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


def find_emails(text: str) -> list[Span]:
    return [Span(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text) if ".." not in m.group()]


# --- IP_ADDRESS --------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
# Hex groups with colons (at least two colons), optionally ending in a dotted IPv4; validated by `ipaddress`.
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])")
# Words that make a dotted quad a version, not an address ("version 1.2.3.4", "v10.0.0.1", "build 4.1.20.7").
_VERSION_BEFORE = re.compile(r"(?:\b(?:version|ver|release|build|rev|revision|firmware|v)\.?\s*|[vV])$", re.IGNORECASE)


def _ip_entity(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return "IP_ADDRESS" if address.is_global else "PRIVATE_IP"


def find_ips(text: str) -> list[Span]:
    spans = []
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        entity = _ip_entity(m.group())
        if entity:
            spans.append(Span(m.start(), m.end(), entity))
    for m in _IPV6.finditer(text):
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


def find_cards(text: str) -> list[Span]:
    from stdnum import luhn  # the PII libraries load when a detector first runs, not with the config

    spans = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 12 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn.is_valid(digits):
            spans.append(Span(m.start(), m.end(), "CREDIT_CARD"))
    return spans


# --- IBAN ------------------------------------------------------------------------

_IBAN = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{1,4}){3,8}(?![\w])")


def find_ibans(text: str) -> list[Span]:
    from stdnum import iban as stdnum_iban

    spans = []
    for m in _IBAN.finditer(text):
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
_SSN_UNHYPHENATED = re.compile(r"(?<![\w-])\d{3} ?\d{2} ?\d{4}(?![\w]|-\d)")
_SSN_KEYWORD = re.compile(r"\b(?:ssn|social security(?: number| no\.?| #)?)\W{0,3}$", re.IGNORECASE)


def find_ssns(text: str) -> list[Span]:
    """AAA-GG-SSSS anywhere; with spaces or none only right after an SSN keyword.

    `stdnum.us.ssn` rejects area 000, 666 and 9xx, group 00, serial 0000 and the
    numbers known to be advertising samples (078-05-1120 and the like).
    """
    from stdnum.us import ssn as stdnum_ssn

    spans = [Span(m.start(), m.end(), "US_SSN") for m in _SSN.finditer(text) if stdnum_ssn.is_valid(m.group())]
    for m in _SSN_UNHYPHENATED.finditer(text):
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


def find_phones(text: str, regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> list[Span]:
    from stdnum import isbn as stdnum_isbn

    spans = []
    for m in _PHONE.finditer(text):
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
