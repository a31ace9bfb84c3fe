"""The registered rule families, applied in order to one document, first failure wins.

`FAMILIES` is the order (datatrove's FineWeb recipe): gopher_repetition,
gopher_quality, c4, fineweb. Gopher signals are computed on the text as it
comes in; C4 then drops lines, and FineWeb's signals are computed on the text
C4 kept (the text the dataset stores). A document rejected by a family has no
signals from the later families (null columns); within a family every signal is
computed. Adding a family is its module (a `quality.rule_family.RuleFamily`)
plus one entry in `FAMILIES`.
"""

from __future__ import annotations

from quality import c4, fineweb, gopher_quality, gopher_repetition
from quality.rule_family import Rejection, RuleFamily, Thresholds
from quality.text_stats import split_words

FAMILIES: list[RuleFamily] = [gopher_repetition.FAMILY, gopher_quality.FAMILY, c4.FAMILY, fineweb.FAMILY]


def register(family: RuleFamily) -> RuleFamily:
    """Add `family` at the end of the chain at run time; its name and column prefix must be new.

    The chain, the Arrow schema and the report see it from then on; the `quality:`
    config model (`pipelines.config.QualityConfig`) is built from `FAMILIES` at
    import, so a family that belongs in the config is listed there instead.
    """
    for known in FAMILIES:
        if family.name == known.name or family.prefix == known.prefix:
            raise ValueError(f"rule family {family.name!r} (prefix {family.prefix!r}) clashes with {known.name!r}")
    FAMILIES.append(family)
    return family


def apply_rules(text: str, enabled: dict[str, Thresholds], lang: str | None = None) -> tuple[str, dict, Rejection]:
    """(text as the families leave it, signals, first rejection or None) for the families in `enabled`.

    `enabled` maps a family's name to its thresholds; `lang` (the language
    stage's verdict) picks Gopher's stop-word list.
    """
    unknown = set(enabled) - {family.name for family in FAMILIES}
    if unknown:
        raise ValueError(f"unknown rule families {sorted(unknown)}; known: {', '.join(f.name for f in FAMILIES)}")
    signals: dict = {}
    words = split_words(text)
    for family in FAMILIES:
        t = enabled.get(family.name)
        if t is None:
            continue
        kept, columns, rejection = family.apply(text, words, lang, t)
        signals.update(columns)
        if rejection is not None:
            return text, signals, rejection
        if kept != text:
            text, words = kept, split_words(kept)
    return text, signals, None
