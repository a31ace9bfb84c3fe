"""Each quality rule on crafted texts that just pass and just fail its threshold, and the rules stage."""

from __future__ import annotations

import pytest

from pipelines.config import QualityConfig
from pipelines.quality_rules import QualityRulesStage
from stage_support import run_stage
from quality import c4, fineweb, gopher_quality, gopher_repetition
from quality.rule_chain import apply_rules
from quality.text_stats import count_sentences, split_words

GQ = gopher_quality.GopherQualityThresholds()
GR = gopher_repetition.GopherRepetitionThresholds()
FW = fineweb.FineWebThresholds()
SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "pel", "dun", "sir", "gha"]


def words(n: int, start: int = 0) -> list[str]:
    """n distinct made-up words of 7 to 10 letters (distinct for indices below 1000)."""
    return [SYLLABLES[i % 10] + SYLLABLES[i // 10 % 10] + SYLLABLES[i // 100 % 10] + "n" for i in range(start, start + n)]


def prose(n: int, start: int = 0) -> str:
    """n words that repeat nothing, two of them Gopher stop words."""
    return " ".join(["the", "of", *words(n - 2, start)])


def gq_rule(text):
    r = gopher_quality.FAMILY.judge(gopher_quality.FAMILY.signals(text, None, None, GQ), GQ)
    return r and r[0]


def test_split_words():
    assert split_words("Mr. Smith doesn't like U.S. state-run 3.14% @-@ rates... really!") == [
        "Mr.", "Smith", "does", "n't", "like", "U.S.", "state", "-", "run", "3.14", "%", "@-@", "rates", "...", "really", "!",
    ]
    assert count_sentences("He left. Mr. Smith stayed! Did he?") == 3
    assert count_sentences('"Go." She went.') == 2  # the closing quote stays with its sentence


def test_gopher_word_count():
    assert gq_rule(prose(50)) is None
    s = gopher_quality.FAMILY.signals(prose(49), None, None, GQ)
    assert gopher_quality.FAMILY.judge(s, GQ) == ("gopher_quality:word_count", "49")
    assert gq_rule(prose(50) + " ." * 10) is None  # punctuation is not a word


def test_gopher_mean_word_length():
    assert gq_rule(" ".join(["the", "of", "and", "cats"] * 15)) is None  # mean 3.0
    assert gq_rule(" ".join(["the", "of", "and", "cat"] * 15)) == "gopher_quality:mean_word_length"  # 2.75
    assert gq_rule(" ".join(["the", "of"] + ["x" * 12] * 60)) == "gopher_quality:mean_word_length"


def test_gopher_hash_and_ellipsis_ratio():
    base = prose(100)  # 100 tokens
    assert gq_rule(base + " #" * 11 + " end") is None  # 11 / 112 = 0.098
    assert gq_rule(base + " #" * 12 + " end") == "gopher_quality:hash_ratio"  # 12 / 113 = 0.106
    assert gq_rule(base + " …" * 11 + " end") is None
    assert gq_rule(base + " …" * 12 + " end") == "gopher_quality:ellipsis_ratio"


def test_gopher_bullet_and_ellipsis_lines():
    bullets = [f"- {prose(8, 10 * i)}" for i in range(9)]
    assert gq_rule("\n".join(bullets + [prose(8, 100)])) is None  # 9 of 10 = 0.9
    assert gq_rule("\n".join(bullets + [f"• {prose(8, 100)}"])) == "gopher_quality:bullet_lines_ratio"
    body = [prose(10, 10 * i) for i in range(10)]
    assert gq_rule("\n".join(body[:7] + [b + "…" for b in body[7:]])) is None  # 3 of 10 = 0.3
    assert gq_rule("\n".join(body[:6] + [b + "..." for b in body[6:]])) == "gopher_quality:ellipsis_lines_ratio"


def test_gopher_alpha_words_and_stop_words():
    base = prose(80)
    assert gq_rule(base + " 1" * 20) is None  # 80 of 100 tokens have a letter
    assert gq_rule(base + " 1" * 21) == "gopher_quality:alpha_words_ratio"
    assert gq_rule(" ".join(["of", *words(60)])) == "gopher_quality:stop_words"
    assert gq_rule(" ".join(["The", "Of", *words(60)])) == "gopher_quality:stop_words"  # case-sensitive, as datatrove


def gr_rule(text):
    r = gopher_repetition.FAMILY.judge(gopher_repetition.FAMILY.signals(text, None, None, GR), GR)
    return r and r[0]


def test_gopher_repetition_lines_and_paragraphs():
    paras = [prose(30, 30 * i) for i in range(10)]
    assert gr_rule("\n\n".join(paras)) is None
    s = gopher_repetition.FAMILY.signals("\n\n".join(paras[:7] + [paras[0]] * 3), None, None, GR)
    assert s["gr_dup_para_frac"] == pytest.approx(0.3)
    s = gopher_repetition.FAMILY.signals("\n\n".join(paras[:6] + [paras[0]] * 4), None, None, GR)
    assert s["gr_dup_para_frac"] == pytest.approx(0.4)
    assert gopher_repetition.FAMILY.judge(s, GR)[0] == "gopher_repetition:dup_para_frac"
    lines = [prose(30, 30 * i) for i in range(10)]
    s = gopher_repetition.FAMILY.signals("\n".join(lines[:7] + [lines[0]] * 3), None, None, GR)
    assert s["gr_dup_line_frac"] == pytest.approx(0.3) and s["gr_dup_para_frac"] == 0
    assert gopher_repetition.FAMILY.judge(s, GR) == ("gopher_repetition:dup_line_char_frac", "0.2857")
    loose = gopher_repetition.GopherRepetitionThresholds(max_dup_line_char_frac=0.3, max_top_2gram_char_frac=1,
                                                         max_top_3gram_char_frac=1, max_top_4gram_char_frac=1,
                                                         **{f"max_dup_{n}gram_char_frac": 1 for n in range(5, 11)})
    assert gopher_repetition.FAMILY.judge(s, loose) is None


def test_gopher_repetition_ngrams():
    text = prose(300)
    assert gr_rule(text) is None
    w = text.split()
    light = " ".join(w[:20] + w)  # 20 words twice: about 6% of characters repeat
    s = gopher_repetition.FAMILY.signals(light, None, None, GR)
    assert 0 < s["gr_dup_10gram_char_frac"] < 0.10 and gr_rule(light) is None
    heavy = " ".join(w[:70] + w)  # 70 words twice: about 17%
    assert gr_rule(heavy) == "gopher_repetition:dup_5gram_char_frac"
    assert gopher_repetition.FAMILY.judge(gopher_repetition.FAMILY.signals("spam eggs " * 40, None, None, GR), GR)[0] == (
        "gopher_repetition:top_2gram_char_frac"
    )


def test_c4_line_rules_and_lines_removed():
    good = [f"This is sentence number {i} of the page." for i in range(5)]
    text = "\n".join(["Menu", "Home | About", *good, "Please enable JavaScript in your browser.", "Short one."])
    cleaned, s, rejection = c4.FAMILY.apply(text, None, None, c4.C4Thresholds())
    assert rejection is None and cleaned == "\n".join(good)
    assert s == {"c4_lines_removed": 4, "c4_sentences": 5}
    _, s, rejection = c4.FAMILY.apply("\n".join(good[:4]), None, None, c4.C4Thresholds())
    assert rejection == ("c4:too_few_sentences", "4")


def test_c4_page_rules_and_variants():
    good = "\n".join(f"This is sentence number {i} of the page." for i in range(5))
    assert c4.FAMILY.apply(good + "\nLorem ipsum dolor sit amet.", None, None, c4.C4Thresholds())[2][0] == "c4:lorem_ipsum"
    assert c4.FAMILY.apply(good + "\nfunction f() { return 1; }.", None, None, c4.C4Thresholds())[2][0] == "c4:curly_bracket"
    policy = good + "\nRead our privacy policy before you go."
    assert c4.FAMILY.apply(policy, None, None, c4.C4Thresholds())[1]["c4_lines_removed"] == 0  # paper: no policy rule
    tfds = c4.C4Thresholds(variant="tfds")
    assert (tfds.min_words_per_line, tfds.min_sentences, tfds.drop_policy_lines) == (5, 3, True)
    assert c4.FAMILY.apply(policy, None, None, tfds)[1]["c4_lines_removed"] == 1
    cited = good + "\nThe river rose in spring again.[1]"
    assert c4.FAMILY.apply(cited, None, None, tfds)[0].endswith("again.")  # TFDS deletes the marker, then the line ends in a mark
    assert c4.FAMILY.apply(cited, None, None, c4.C4Thresholds())[1]["c4_lines_removed"] == 1
    assert c4.C4Thresholds(variant="tfds", min_sentences=7).min_sentences == 7  # explicit keys win


def fw_rule(text):
    r = fineweb.FAMILY.judge(fineweb.FAMILY.signals(text, None, None, FW), FW)
    return r and r[0]


def test_fineweb_rules():
    ended = [f"{prose(8)} number {i}." for i in range(25)]
    assert fw_rule("\n".join(ended)) is None
    # 3 of 25 lines end in a terminal mark = 0.12 passes, 2 of 25 fails
    unended = [f"{prose(8)} number {i}" for i in range(25)]
    assert fw_rule("\n".join(ended[:3] + unended[3:])) is None
    assert fw_rule("\n".join(ended[:2] + unended[2:])) == "fineweb:line_punct_ratio"
    shorts = [f"Item {i}." for i in range(7)]
    assert fw_rule("\n".join(shorts[:6] + [f"{prose(30)} x{i}." for i in range(3)])) is None  # 6 of 9 = 0.667
    assert fw_rule("\n".join(shorts + [f"{prose(30)} x{i}." for i in range(3)])) == "fineweb:short_line_ratio"
    assert fw_rule("\n".join(ended + [ended[0]])) == "fineweb:dup_line_char_ratio"


def test_chain_order_and_c4_text():
    text = "\n".join(f"{prose(12, 12 * i)} sentence {i}." for i in range(6)) + "\nNavigation bar"
    enabled = {"gopher_quality": GQ, "c4": c4.C4Thresholds(), "fineweb": FW}
    cleaned, signals, rejection = apply_rules(text, enabled)
    assert rejection is None and "Navigation" not in cleaned and signals["c4_lines_removed"] == 1
    _, signals, rejection = apply_rules("too short.", enabled)
    assert rejection[0] == "gopher_quality:word_count" and "c4_sentences" not in signals


def test_stage_routes_and_records_signals():
    good = {"id": "g", "text": "\n".join(f"{prose(12, 12 * i)} sentence {i}." for i in range(6)) + "\nMenu", "n_chars": 1}
    short = {"id": "s", "text": "Too short to keep.", "n_chars": 18}
    config = QualityConfig.model_validate({"c4": {"enabled": True}})
    kept, rejected = run_stage(QualityRulesStage(config), [good, short])
    # Gopher counts before C4 drops "Menu"
    assert [(d["id"], d["gq_word_count"], d["n_chars"] == len(d["text"])) for d in kept] == [("g", 85, True)]
    # repetition runs first; in a 4-word text one 2-gram is half the characters (datatrove counts it too)
    assert [(d["id"], d["reason"], d["detail"]) for d in rejected] == [("s", "gopher_repetition:top_2gram_char_frac", "0.5")]


FRENCH = (
    "Le moulin se trouvait au bord de la rivière depuis trois siècles. Les paysans y apportaient leur grain "
    "dans des charrettes, et le meunier le transformait en farine pour toute la vallée pendant les longs hivers. "
    "Aujourd'hui le bâtiment abrite un petit musée où les enfants découvrent comment on fabriquait le pain "
    "autrefois, avec des meules de pierre et une roue que l'eau faisait tourner jour et nuit."
)


def test_stop_words_follow_the_document_language():
    from quality import gopher_quality

    french = gopher_quality.FAMILY.signals(FRENCH, None, "fr", GQ)
    assert french["gq_stop_words"] >= 2
    assert gopher_quality.FAMILY.judge(french, GQ) is None
    as_english = gopher_quality.FAMILY.signals(FRENCH, None, "en", GQ)
    assert gopher_quality.FAMILY.judge(as_english, GQ) == ("gopher_quality:stop_words", "0")
    no_list = gopher_quality.FAMILY.signals(FRENCH, None, "xx", GQ)
    assert no_list["gq_stop_words"] is None and gopher_quality.FAMILY.judge(no_list, GQ) is None


def test_unsegmented_languages_skip_the_word_rules():
    from pipelines.config import QualityConfig
    from pipelines.quality_rules import QualityRulesStage, make_quality_judge

    stage = QualityRulesStage(QualityConfig())
    enabled = {family: getattr(QualityConfig(), family) for family in stage.families}
    judge = make_quality_judge(enabled, frozenset(QualityConfig().unsegmented_languages))
    japanese = {"id": "j", "text": "水車小屋は三百年のあいだ川のそばに立っていた。", "lang": "ja"}
    doc, rejection = judge(japanese)
    assert rejection is None and "gq_word_count" not in doc
    doc, rejection = judge({**japanese, "lang": "en"})
    assert rejection is not None and rejection[0].startswith("gopher_")
