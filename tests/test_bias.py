"""Bias screen: flagged-words ratio, representation statistics, and the removal audit."""

import pytest

from quality.bias import (
    BiasSettings,
    add_counts,
    bias_section,
    doc_counts,
    flagged_words_ratio,
    removal_audit,
    representation,
)


def test_flagged_words_ratio_counts_words_and_phrases():
    assert flagged_words_ratio("What a lovely day in the park.", "en") == 0.0
    assert flagged_words_ratio("shit happens", "en") == pytest.approx(0.5)
    # a two-word entry counts as two flagged words out of four
    assert flagged_words_ratio("that is bull shit", "en") == pytest.approx(0.5)


def test_flagged_words_ratio_is_none_without_a_list():
    assert flagged_words_ratio("merde alors", "fr") is None


def test_the_shipped_list_flags_identity_terms_which_is_why_rejection_is_off():
    assert flagged_words_ratio("the gay and lesbian community centre", "en") > 0
    assert BiasSettings().max_flagged_ratio is None


def test_doc_counts_axes_and_pronouns():
    counts = doc_counts("She said her Muslim neighbours and the elderly man were kind; he agreed.")
    assert counts["axis_docs:religion"] == 1 and counts["axis_docs:age"] == 1 and counts["axis_docs:gender"] == 1
    assert counts["axis_docs:disability"] == 0 and counts["axis_docs:sexual_orientation"] == 0
    assert counts["pronoun_mentions:she"] == 2 and counts["pronoun_mentions:he"] == 1
    assert counts["pronoun_docs:they"] == 0
    # whole words only: "these", "hero", "manager", "shell" are not pronouns or gender terms
    quiet = doc_counts("These heroes manage the shell company.")
    assert quiet["pronoun_mentions:he"] == 0 and quiet["axis_docs:gender"] == 0


def test_representation_shares_and_she_he_ratio():
    totals = {}
    for text in ["He ran.", "She ran. She won.", "They ran.", "A deaf woman ran."]:
        add_counts(totals, doc_counts(text))
    rep = representation(totals)
    assert rep["docs"] == 4
    assert rep["pronoun_doc_share"] == {"he": 0.25, "she": 0.25, "they": 0.25}
    assert rep["she_he_ratio"] == 2.0
    assert rep["identity_axes"]["disability"] == {"docs": 1, "doc_share": 0.25, "mentions": 1}


def _totals(texts):
    totals = {}
    for text in texts:
        add_counts(totals, doc_counts(text))
    return totals


def test_audit_flags_a_rule_built_to_remove_one_group():
    """A rule that rejects every document mentioning religion is flagged for that axis, and only that rule."""
    neutral = [f"Document {i} about gardening and the weather." for i in range(60)]
    religious = [f"Notes {i} from the mosque and the church bazaar." for i in range(20)]
    short = [f"tiny {i}" for i in range(15)]
    corpus = neutral + religious + short
    targeted = [t for t in corpus if "mosque" in t]  # the biased rule
    too_short = [t for t in corpus if t.startswith("tiny")]  # a neutral rule
    kept = [t for t in corpus if t not in targeted and t not in too_short]
    audit = removal_audit(
        _totals(kept), {"test:religion": _totals(targeted), "length:too_short": _totals(too_short)}, BiasSettings()
    )
    assert audit["base_rate"]["religion"] == pytest.approx(20 / 95, abs=1e-6)
    assert audit["kept_share"]["religion"] == 0.0
    assert audit["rules"]["test:religion"]["axis_share"]["religion"] == 1.0
    assert [(f["rule"], f["axis"]) for f in audit["flagged"]] == [("test:religion", "religion")]
    assert audit["flagged"][0]["ratio"] == pytest.approx(95 / 20, rel=1e-3)


def test_audit_ignores_rules_with_too_few_rejections_and_proportional_rules():
    corpus = [f"The church {i} fair." if i % 4 == 0 else f"Plain text {i}." for i in range(200)]
    proportional = corpus[:40]  # a quarter mention religion, as in the whole corpus
    tiny = [t for t in corpus if "church" in t][:3]
    kept = corpus[40:]
    audit = removal_audit(
        _totals(kept), {"rule:proportional": _totals(proportional), "rule:tiny": _totals(tiny)}, BiasSettings()
    )
    assert audit["flagged"] == []
    assert audit["rules"]["rule:tiny"]["ratio_to_base"]["religion"] > 1.5  # reported, but not judged


def test_bias_section_shape():
    kept = _totals(["He is a nurse."])
    kept.update({"flagged_scored": 1, "flagged_nonzero": 0, "flagged_ratio_sum": 0.0})
    section = bias_section(kept, {}, BiasSettings())
    assert set(section) == {"flagged_words", "representation", "removal_audit"}
    assert section["flagged_words"]["kept_mean_ratio"] == 0.0
    assert "better-profanity" in section["flagged_words"]["source"]
