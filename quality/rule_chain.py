"""The rule families applied in order to one document, first failure wins.

Order (datatrove's FineWeb recipe): gopher_repetition, gopher_quality, c4,
fineweb. Gopher signals are computed on the text as it comes in; C4 then drops
lines, and FineWeb's signals are computed on the text C4 kept (the text the
dataset stores). A document rejected by a family has no signals from the later
families (null columns); within a family every signal is computed.
"""

from __future__ import annotations

from quality import c4, fineweb, gopher_quality, gopher_repetition
from quality.rule_family import Rejection, Thresholds
from quality.text_stats import split_words

ORDER = ("gopher_repetition", "gopher_quality", "c4", "fineweb")


def apply_rules(text: str, enabled: dict[str, Thresholds], lang: str | None = None) -> tuple[str, dict, Rejection]:
    """(text after C4 cleaning, signals, first rejection or None) for the families in `enabled`.

    `lang` (the language stage's verdict) picks Gopher's stop-word list.
    """
    unknown = set(enabled) - set(ORDER)
    if unknown:
        raise ValueError(f"unknown rule families {sorted(unknown)}; known: {', '.join(ORDER)}")
    signals: dict = {}
    words = split_words(text)
    for family in ORDER:
        t = enabled.get(family)
        if t is None:
            continue
        if family == "gopher_repetition":
            signals.update(gopher_repetition.signals(text, words))
            rejection = gopher_repetition.judge(signals, t)
        elif family == "gopher_quality":
            signals.update(gopher_quality.signals(text, words, lang))
            rejection = gopher_quality.judge(signals, t)
        elif family == "c4":
            cleaned, c4_signals, rejection = c4.clean(text, t)
            signals.update(c4_signals)
            if cleaned != text:
                text, words = cleaned, split_words(cleaned)
        else:
            signals.update(fineweb.signals(text, t, words))
            rejection = fineweb.judge(signals, t)
        if rejection is not None:
            return text, signals, rejection
    return text, signals, None
