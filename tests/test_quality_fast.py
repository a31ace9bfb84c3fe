"""The fast rule signals (chunk-cached tokens, word ids, numpy n-grams) equal a plain reference.

The references below are the straightforward definitions, one string per
n-gram and one Python call per token, as the rules were first written. They
are compared on random texts and word lists (hypothesis, with small alphabets
and vocabularies so that repeats, overlapping repeats and word sequences that
join to the same string are common) and on the real documents of the parity
test.
"""

from __future__ import annotations

import sys
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from quality import c4, fineweb, gopher_quality, gopher_repetition, kernels, ngrams, text_stats, vocabulary
from quality.ngrams import repetition_chars
from quality.rule_chain import apply_rules

sys.path.insert(0, str(Path(__file__).parent))
from quality_docs import load_documents  # noqa: E402


def ref_words(text):
    return text_stats._TOKEN.findall(text)


def ref_top_chars(words, n):
    if len(words) < n:
        return 0
    counts = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = max(counts.items(), key=lambda item: item[1])
    return len(gram) * count


def ref_dup_chars(words, n):
    seen, chars, i = set(), 0, 0
    while i <= len(words) - n:
        gram = "".join(words[i : i + n])
        if gram in seen:
            chars += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def ref_duplicates(items):
    seen, count, chars = set(), 0, 0
    for item in items:
        if item in seen:
            count, chars = count + 1, chars + len(item)
        else:
            seen.add(item)
    return count, chars


def ref_sentences(text):
    sentences, seen_terminal = 1, False
    for token in ref_words(text):
        if token in text_stats.TERMINAL_PUNCTUATION:
            seen_terminal = True
        elif seen_terminal and not all(unicodedata.category(ch)[0] == "P" for ch in token):
            sentences, seen_terminal = sentences + 1, False
    return sentences


def ref_repetition_ngrams(words):
    return {**{n: ref_top_chars(words, n) for n in (2, 3, 4)}, **{-n: ref_dup_chars(words, n) for n in range(5, 11)}}


def fast_repetition_ngrams(words):
    top, dup = repetition_chars(words, (2, 3, 4), range(5, 11))
    return {**top, **{-n: chars for n, chars in dup.items()}}


def ref_quality(text, words):
    real = [w for w in words if not text_stats.is_symbol_word(w)]
    return {
        "gq_word_count": len(real),
        "gq_mean_word_length": text_stats.ratio(sum(map(len, real)), len(real)),
        "gq_alpha_words_ratio": text_stats.ratio(sum(any(c.isalpha() for c in w) for w in words), len(words)),
        "gq_stop_words": len({"the", "be", "to", "of", "and", "that", "have", "with"}.intersection(words)),
    }


TRICKY = (
    list("abcXYZ019 ._-'’,;:!?\"()[]{}@=+/\\|<>^&*#…—é\u0301中")
    + ["\n", "\n\n", "\t", "\xa0", "\u2028", "\x1c", "\x1f", "\r\n"]
    + ["http://x.org/a.", "www.ex.com", "Mr.", "e.g.", "U.S.", "J.", "n't", "'s", "don't", "3.14", "1,000",
       "@-@", "...", "--", "O'Brien", "snake_case", "the", "of", "and", "that"]
)
texts = st.lists(st.sampled_from(TRICKY), max_size=80).map("".join)
# Tiny vocabularies: repeats everywhere, and sequences such as ("a", "bc") / ("ab", "c") that join alike.
word_lists = st.one_of(
    st.lists(st.sampled_from(["a", "b", "ab"]), max_size=150),
    st.lists(st.sampled_from(["a", "b", "ab", "ba", "c", "bc", "abc", "."]), max_size=150),
)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_split_words_is_the_pattern_on_the_whole_text(text):
    assert text_stats.split_words(text) == ref_words(text)
    assert text_stats.split_words(text) == ref_words(text)  # again, from the chunk cache
    assert text_stats.count_sentences(text) == ref_sentences(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, max_size=6))
def test_sentences_of_lines_are_the_sum_over_each_line(lines):
    assert text_stats.count_sentences_in_lines(lines) == sum(map(ref_sentences, lines))


@settings(max_examples=400, deadline=None)
@given(word_lists)
@example(["a", "bc", "d", "e", "f", "ab", "c", "d", "e", "f"])  # two 5-grams that both join to "abcdef"
def test_ngram_counts_equal_the_string_definitions(words):
    assert fast_repetition_ngrams(words) == ref_repetition_ngrams(words)


def test_long_documents_compute_their_own_powers():
    """Past the cached powers of the hash base (2^16 characters of words) the kernel computes its own."""
    rng = np.random.default_rng(0)
    words = [str(w) for w in rng.choice(["alpha", "beta", "gamma", "delta", "al", "phabeta"], 16000)]
    assert sum(map(len, words)) > len(ngrams._POWERS)
    assert fast_repetition_ngrams(words) == ref_repetition_ngrams(words)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a b", "a", "b", "ab"]), max_size=40))
def test_words_with_spaces_fall_back_to_strings(words):
    """Words with a space (another splitter's) can join with spaces alike while differing: strings decide."""
    assert fast_repetition_ngrams(words) == ref_repetition_ngrams(words)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TRICKY), max_size=60).map("".join))
def test_family_signals_equal_the_reference(text):
    words = ref_words(text)
    s = gopher_repetition.FAMILY.signals(text, None, None, gopher_repetition.GopherRepetitionThresholds())
    assert [s[f"gr_top_{n}gram_char_frac"] for n in (2, 3, 4)] == [
        text_stats.ratio(ref_top_chars(words, n), len(text)) for n in (2, 3, 4)]
    assert [s[f"gr_dup_{n}gram_char_frac"] for n in range(5, 11)] == [
        text_stats.ratio(ref_dup_chars(words, n), len(text)) for n in range(5, 11)]
    q = gopher_quality.FAMILY.signals(text, None, None, gopher_quality.GopherQualityThresholds())
    assert {k: q[k] for k in ref_quality(text, words)} == ref_quality(text, words)
    items = text.split("\n")
    assert text_stats.find_duplicates(items) == ref_duplicates(items)


def test_vocabulary_reset_keeps_ids_consistent(monkeypatch):
    monkeypatch.setattr(vocabulary, "MAX_WORDS", 8)
    for i in range(20):
        words = text_stats.split_words(" ".join(f"w{i}_{j % 5}" for j in range(12)))
        assert fast_repetition_ngrams(words) == ref_repetition_ngrams(list(words))
        assert len(vocabulary._VOCAB) <= 8 + len(words)


def _fnv1a(text):
    h = 0xCBF29CE484222325
    for ch in text:
        h = ((h ^ ord(ch)) * 0x100000001B3) % (1 << 64)
    return h


def test_chunk_table_splits_as_str_split_and_matches_characters_not_hashes():
    assert np.flatnonzero(text_stats._IS_SPACE).tolist() == [c for c in range(0x110000) if chr(c).isspace()]
    text = "cd ab\u3000cd"
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    table, chunk_points = np.zeros((16, 4), np.uint64), np.zeros(1, np.uint32)
    rows, starts, ends, new_starts, new_ends, table, chunk_points, used = kernels.find_chunks(
        points, text_stats._IS_SPACE, table, chunk_points, 0, 0)
    assert [text[a:b] for a, b in zip(starts, ends)] == text.split() and rows.tolist() == [0, 1, 0]
    assert [text[a:b] for a, b in zip(new_starts, new_ends)] == ["cd", "ab"] and used == 4
    assert kernels.find_chunks(points, text_stats._IS_SPACE, table, chunk_points, used, 2)[0].tolist() == [0, 1, 0]
    # "ab" stored under the hash of "cd": a lookup of "cd" finds the slot but not its characters.
    forged, mask = np.zeros((16, 4), np.uint64), 15
    forged[kernels._slot(np.uint64(_fnv1a("cd")), mask)] = (_fnv1a("cd"), 1, 0, 2)
    found = kernels.find_chunks(points, text_stats._IS_SPACE, forged, np.array([ord("a"), ord("b")], np.uint32), 2, 1)
    assert found[0].tolist() == [1, 2, 1] and found[-1] == 6


def test_chunk_table_grows_past_half_full():
    text = " ".join(f"w{i}" for i in range(100)) + " w7 w99"
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    rows, *_, table, chunk_points, used = kernels.find_chunks(
        points, text_stats._IS_SPACE, np.zeros((4, 4), np.uint64), np.zeros(1, np.uint32), 0, 0)
    assert rows.tolist() == list(range(100)) + [7, 99] and len(table) == 256 and np.count_nonzero(table[:, 1]) == 100
    again = kernels.find_chunks(points, text_stats._IS_SPACE, table, chunk_points, used, 100)
    assert again[0].tolist() == rows.tolist() and len(again[3]) == 0


def test_a_character_question_registered_later_is_asked_of_every_word(monkeypatch):
    for name in ("_CHAR_PROPS", "_CHAR_FLAGS"):
        monkeypatch.setattr(vocabulary, name, getattr(vocabulary, name).copy())
    monkeypatch.setattr(vocabulary, "_VOCAB", vocabulary._Vocabulary())
    words = text_stats.split_words("ab, cd! \u00e9f " + " ".join(f"w{i}" for i in range(3000)))
    ids = vocabulary.ids(words)
    letters = vocabulary.table(gopher_quality.has_letter, bool)[ids].tolist()
    has_c, all_c = vocabulary.AnyChar("c".__eq__), vocabulary.AllChars("c".__eq__)
    assert vocabulary.table(has_c, bool)[ids].tolist() == ["c" in w for w in words]
    assert vocabulary.table(all_c, bool)[ids].tolist() == [set(w) == {"c"} for w in words]
    assert vocabulary.table(gopher_quality.has_letter, bool)[ids].tolist() == letters == [
        any(ch.isalpha() for ch in w) for w in words]
    assert vocabulary.hashes()[ids].tolist() == [
        sum(ord(ch) * pow(int(vocabulary.HASH_BASE), q, 1 << 64) for q, ch in enumerate(w)) % (1 << 64) for w in words]


def test_words_read_after_the_vocabulary_started_afresh(monkeypatch):
    monkeypatch.setattr(vocabulary, "MAX_WORDS", 8)
    words = text_stats.split_words("alpha beta, gamma.")
    text_stats.split_words(" ".join(f"other{j}" for j in range(12)))  # a fresh vocabulary
    assert words == ["alpha", "beta", ",", "gamma", "."] and len(words) == 5 and words[1:3] == ["beta", ","]


def test_chunk_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(text_stats, "_MAX_CACHED_CHUNKS", 10)
    for i in range(30):
        text = " ".join(f"x{i}y{j}, z{j}." for j in range(6))
        assert text_stats.split_words(text) == ref_words(text)
        assert text_stats._CHUNKS.rows <= 10 + 12


@pytest.fixture(scope="module")
def documents(corpora):
    return load_documents(corpora, html_pages=45)


def test_real_documents(documents):
    """Every signal of every family, and the chain's verdicts and cleaned text, on a few hundred real documents."""
    gq_t, gr_t, fw_t = (gopher_quality.GopherQualityThresholds(), gopher_repetition.GopherRepetitionThresholds(),
                        fineweb.FineWebThresholds())
    enabled = {"gopher_repetition": gr_t, "gopher_quality": gq_t, "c4": c4.C4Thresholds(), "fineweb": fw_t}
    for doc_id, text in documents:
        words = ref_words(text)
        assert text_stats.split_words(text) == words, doc_id
        assert fast_repetition_ngrams(text_stats.split_words(text)) == ref_repetition_ngrams(words), doc_id
        q = gopher_quality.FAMILY.signals(text, None, None, gq_t)
        assert {k: q[k] for k in ref_quality(text, words)} == ref_quality(text, words), doc_id
        for line in text.splitlines():
            assert text_stats.count_sentences(line) == ref_sentences(line), doc_id
        cleaned, signals, rejection = apply_rules(text, enabled)
        assert signals["gr_dup_line_char_frac"] == text_stats.ratio(
            ref_duplicates(gopher_repetition._LINE_BREAK.split(text))[1], len(text)), doc_id
        if "fw_newline_word_ratio" in signals:
            assert signals["fw_newline_word_ratio"] == text_stats.ratio(cleaned.count("\n"), len(ref_words(cleaned)))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", " ", "\n", "\n\n", "\n\n\n", "\r", "\t"]), max_size=40).map("".join))
def test_paragraph_and_line_splits_equal_the_patterns(text):
    assert gopher_repetition.split_paragraphs(text) == gopher_repetition._PARAGRAPH_BREAK.split(text.strip())
    assert gopher_repetition.split_lines(text) == gopher_repetition._LINE_BREAK.split(text)
