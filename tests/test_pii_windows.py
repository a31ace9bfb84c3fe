"""The windowed PII scan finds exactly what the plain scan (every pattern over the whole text) finds.

`quality.pii_detectors.Windows` runs each pattern only near its trigger characters, from facts
stated next to each pattern (its `Reach`, the closing lookahead's length, the key-word starts):
checked here against `re` itself, then the two scans compared on real corpora texts and on random
strings made of what the patterns look at (digits of several scripts, separators, '@', dots,
brackets, key words), with matches put right at window edges.
"""

import gzip
import json
import re
import re._constants as sre_constants
import re._parser as sre_parse
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quality import pii
from quality import pii_detectors as d
from quality import secrets as s
from quality.pii import PiiSettings, apply_policies, scan

WINDOWED = [
    (d._IPV4, d._digit_runs, d._IPV4_REACH),
    (d._IPV6, d._colon_runs, d._IPV6_REACH),
    (d._CARD, d._digit_runs, d._CARD_REACH),
    (d._IBAN, d._digit_runs, d._IBAN_REACH),
    (d._SSN, d._digit_runs, d._SSN_REACH),
    (d._SSN_UNHYPHENATED, d._digit_runs, d._SSN_UNHYPHENATED_REACH),
    (d._PHONE, d._digit_runs, d._PHONE_REACH),
]
TRIGGER_CHAR = {d._digit_runs: re.compile(r"\d"), d._colon_runs: re.compile(":")}
IDS = ["ipv4", "ipv6", "card", "iban", "ssn", "ssn_unhyphenated", "phone"]


@pytest.fixture
def always_windowed(monkeypatch):
    """Windows even where they cover most of the text (the scan would otherwise go whole there)."""
    monkeypatch.setattr(d, "_WHOLE_TEXT_SHARE", float("inf"))


# ---------------------------------------------------------------- the facts the windows rest on


def _nodes(parsed):
    for op, av in parsed:
        yield op, av
        for sub in av if isinstance(av, (list, tuple)) else [av]:
            if isinstance(sub, sre_parse.SubPattern):
                yield from _nodes(sub)
            elif isinstance(sub, (list, tuple)):
                for item in sub:
                    if isinstance(item, sre_parse.SubPattern):
                        yield from _nodes(item)


@pytest.mark.parametrize("pattern, trigger, reach", WINDOWED, ids=IDS)
def test_only_a_closing_lookahead_looks_past_a_match(pattern, trigger, reach):
    """A window's end is put _LOOKAHEAD past it: the closing lookahead may need no more, and nothing
    else in the pattern may look ahead or test a boundary."""
    parsed = sre_parse.parse(pattern.pattern, pattern.flags)
    *body, (last_op, last_av) = list(parsed)
    assert last_op == sre_constants.ASSERT_NOT and last_av[0] == 1
    assert last_av[1].getwidth()[1] <= d._LOOKAHEAD
    for op, av in _nodes(sre_parse.SubPattern(parsed.state, body)):
        assert op != sre_constants.AT, "a boundary test would see the window's end as the text's"
        if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            assert av[0] == -1, "only lookbehind (which sees before the window) may lead"


def _trigger_positions(trigger, sample):
    return [m.start() for m in TRIGGER_CHAR[trigger].finditer(sample)]


@pytest.mark.parametrize("pattern, trigger, reach", WINDOWED, ids=IDS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_match_sits_within_its_reach(pattern, trigger, reach, data):
    sample = data.draw(st.from_regex(pattern, fullmatch=True))
    positions = _trigger_positions(trigger, sample)
    assert positions, f"{sample!r} has no trigger character"
    assert positions[0] <= reach.lead
    assert len(sample) - 1 - positions[-1] <= reach.tail
    assert all(b - a - 1 <= reach.gap for a, b in zip(positions, positions[1:]))


@pytest.mark.parametrize(
    "pattern, trigger, sample",
    [
        (d._PHONE, d._digit_runs, "+ 1 (0) (12345) 1-2 extension 123456"),
        (d._PHONE, d._digit_runs, "+44 (0)20 7946 0958 ext. 12"),
        (d._IBAN, d._digit_runs, "GB82 WEST ABCD EFGH IJKL MNOP QRST UVWX"),
        (d._IPV6, d._colon_runs, "abcd:ef01::1.2.3.4"),
        (d._IPV6, d._colon_runs, "abcd::"),
    ],
)
def test_reach_holds_at_the_extremes(pattern, trigger, sample):
    reach = next(r for p, t, r in WINDOWED if p is pattern)
    assert pattern.fullmatch(sample)
    positions = _trigger_positions(trigger, sample)
    assert positions[0] <= reach.lead and len(sample) - 1 - positions[-1] <= reach.tail
    assert all(b - a - 1 <= reach.gap for a, b in zip(positions, positions[1:]))


@pytest.mark.parametrize("copies", [1, 40])  # short texts go to `re`, long ones to numpy
def test_digit_runs_are_re_digit_runs(copies):
    text = "a1 ٣٤x０7\U0001d7ce.¹²³ 12:30 𝟘𝟙 \ud800 " * copies
    assert d._digit_runs(text) == [m.span() for m in re.finditer(r"\d+", text)]
    assert d._colon_runs("a::b:c:::") == [(1, 3), (4, 5), (6, 9)]


def test_lowercase_finds_every_key_word_start_or_the_scan_goes_whole():
    """Where (?i:...) matches a character to a key-word letter, str.lower() gives that letter,
    or the character is one that sends the key-word scan back to the whole text."""
    letters = sorted(set("".join(s._KEYWORD_STARTS)))
    every_char = "".join(map(chr, range(sys.maxunicode + 1)))
    for letter in letters:
        for m in re.finditer(f"(?i:{letter})", every_char):
            char = m.group()
            assert char.lower() == letter or char in s._FOLDS_UNLIKE_LOWER, (letter, hex(ord(char)))
    words = re.search(r"\(\?:(password[^)]*)\)", s._KEYWORD_VALUE.pattern).group(1).split("|")
    assert len(words) == 10 and all(word.startswith(s._KEYWORD_STARTS) for word in words), words


# ---------------------------------------------------------------- equal on real text


def _corpora_texts(corpora):
    texts = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            book = json.loads(line)["text"]
            texts += [book[i : i + 3000] for i in range(0, len(book), 60_000)]
    with open(corpora / "wiki" / "wikitext2_raw_test.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f][::4]
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    for path in sorted((corpora / "web" / "html").rglob("*.html.gz"))[::40]:
        texts.append(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))  # markup, scripts, digits
    for path in sorted((corpora / "multilingual").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            texts.append(" ".join(json.loads(line)["text"] for line in list(f)[:60]))
    for path in sorted((corpora / "pii").glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f][::5]
    with open(corpora / "code" / "humaneval.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f][::8]
    return texts


@pytest.mark.parametrize("windowed_everywhere", [False, True], ids=["as_run", "always_windowed"])
def test_windowed_scan_equals_plain_scan_on_corpora(corpora, monkeypatch, windowed_everywhere):
    if windowed_everywhere:
        monkeypatch.setattr(d, "_WHOLE_TEXT_SHARE", float("inf"))
    texts = _corpora_texts(corpora)
    found = 0
    for text in texts:
        plain = scan(text, plain=True)
        assert scan(text) == plain
        found += len(plain)
    assert len(texts) > 500 and found > 300  # real PII was there to be found
    policies = PiiSettings(phone="keep", email={"action": "reject", "reject_above": 0})
    fast = [apply_policies(text, policies) for text in texts[::3]]
    monkeypatch.setattr(pii, "scan", lambda text, regions: scan(text, regions, plain=True))
    assert fast == [apply_policies(text, policies) for text in texts[::3]]


# ---------------------------------------------------------------- equal on adversarial strings

TOKENS = [
    "0", "1", "7", "42", "555", "2024", "٣", "０", "७", "𝟘", "¹", " ", "  ", ".", "-", ":", "::", "/", "+", "(", ")",
    "@", "_", "=", "\n", "x", "ext.", "extension", "a", "Z", "ab", "GB", "fe", "v", "version ", "ISBN ", "doi:",
    "phone ", "tel: ", "ssn ", "order ", "password=", "API-KEY: ", "Token is ", "ghp_", "github_pat_", "AKIA",
    "xoxb-", "AIza", "https://hooks.slack.com/services/T", "ſ", "ı", "İ", "K", "é", "mail.example.com",
]
MATCHES = st.one_of(*(st.from_regex(p, fullmatch=True) for p, _, _ in WINDOWED),
                    st.from_regex(d._EMAIL, fullmatch=True), st.from_regex(s._KNOWN_FORMATS, fullmatch=True),
                    st.from_regex(s._KEYWORD_VALUE, fullmatch=True))
NOISE = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(st.sampled_from("0123456789 .-:@()+ab_"), max_size=4)),
                 max_size=40).map("".join)
TEXTS = st.one_of(NOISE, st.tuples(NOISE, MATCHES, NOISE, MATCHES, NOISE).map("".join))


@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # it only sets a constant
@given(text=TEXTS)
def test_windowed_patterns_equal_finditer_on_random_strings(always_windowed, text):
    assert_same_matches(text)


def assert_same_matches(text):
    """Every pattern's matches, windowed and plain, and the scan's entities, both ways."""
    where = d.Windows(text)
    for pattern, trigger, reach in WINDOWED:
        assert [m.span() for m in where.around(pattern, trigger, reach)] == [m.span() for m in pattern.finditer(text)]
    emails = where.after(d._EMAIL, d._first_email_at(text), d._EMAIL_LOCAL_MAX)
    assert [m.span() for m in emails] == [m.span() for m in d._EMAIL.finditer(text)]
    known = where.at(s._KNOWN_FORMATS, s._known_format_starts(text))
    assert [m.span() for m in known] == [m.span() for m in s._KNOWN_FORMATS.finditer(text)]
    keyword = where.at(s._KEYWORD_VALUE, s._keyword_starts(text))
    assert [m.span() for m in keyword] == [m.span() for m in s._KEYWORD_VALUE.finditer(text)]
    assert scan(text) == scan(text, plain=True)


@pytest.mark.parametrize(
    "text",
    [
        # a match cut by a window's end would change: a digit or a word right after it
        "call 555 123 4567x",
        "call 555 123 4567.8",
        "8.8.8.8.9 and 8.8.8.8",
        "4111 1111 1111 1111-2 " * 3,
        # lookbehind at a window's start: the character before the window decides
        "x555-123-4567 /555-123-4567 .8.8.8.8 fe80::1:2 a:fe80::1:2",
        # a long run of text between two numbers, each near a window edge
        "tel 020 7946 0958" + " word" * 40 + " 020 7946 0958 ext. 12",
        # key words, folded characters that lower() would not find
        "PASSWORD=Xk9#mP2$vL8qR paſſword=Xk9#mP2$vL8qR İ token: Zq8#kP3$wM9rT",
        "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8 github_pat_" + "A1b2C3d4E5f6G7h8I9j0K1",
        # an email whose local part has the longest length allowed
        "b" * 64 + "@example.com " + "a" * 70 + "@example.com",
        # "@" that no email can hold, before one that can
        "a @-@ b @ c @@ d@ @e x@-y é@b " + "c" * 64 + "@example.com",
        # a key word inside the value of the match before: finditer goes on after that match
        "password=token=Xk9#mP2$vL8qR and secret: api_key=Zq8#kP3$wM9rT",
    ],
)
def test_windowed_scan_equals_plain_scan_at_window_edges(always_windowed, text):
    assert_same_matches(text)
