"""Bias screen: a flagged-words signal per document, and who the corpus (and each filter) is about.

Flagged words: the English list shipped by the `better-profanity` package
(MIT, github.com/snguyenthanh/better_profanity, 916 entries including
multi-word ones). Like C4's LDNOOBW list it contains identity terms ("gay",
"lesbians", "queer", "homo", "transsexual"), so rejecting on it removes text
by and about those groups; the rejection is therefore off by default, and the
removal audit below measures exactly that effect.

Representation and audit: per document, which identity axes it mentions (term
lists in `data/identity_terms.json`, written for this project) and its he /
she / they pronoun counts. `doc_counts` turns one document into additive
counts; sums of those over the kept and the rejected documents (done by the
pipeline with combiners) are turned into the manifest's `bias` section by
`bias_section`.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

FLAGGED_WORDS_SOURCE = "better-profanity 0.7.0 profanity_wordlist.txt (MIT), English"
_WORD = re.compile(r"\w+(?:['’]\w+)*")


class BiasSettings(BaseModel):
    """The `bias` config section: what the bias judge and the audit need."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="run the stage")

    max_flagged_ratio: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="reject documents whose flagged-words ratio is above this; off (null) by default",
    )
    default_lang: str = Field(default="en", description="list used when a document has no `lang`")
    audit_ratio: float = Field(
        default=1.5, gt=1.0, description="a rule is flagged when it removes an axis at more than this times its base rate"
    )
    audit_min_rejected: int = Field(default=10, ge=1, description="rules that rejected fewer documents are not judged")


@lru_cache(maxsize=None)
def flagged_words(lang: str) -> tuple[frozenset[str], dict[str, tuple[tuple[str, ...], ...]]] | None:
    """(single words, {first word: multi-word entries as word tuples}) for `lang`, or None when there is no list."""
    if lang != "en":
        return None
    path = importlib.resources.files("better_profanity") / "profanity_wordlist.txt"
    entries = {line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    phrases: dict[str, list[tuple[str, ...]]] = {}
    for entry in sorted(e for e in entries if " " in e):
        words = tuple(entry.split())
        phrases.setdefault(words[0], []).append(words)
    return frozenset(e for e in entries if " " not in e), {k: tuple(v) for k, v in phrases.items()}


def flagged_words_ratio(text: str, lang: str | None) -> float | None:
    """Share of the words of `text` that are on the list for `lang` (alone or inside a listed
    phrase, each word counted once); None when there is no list for `lang`."""
    lists = flagged_words(lang or "")
    if lists is None:
        return None
    words, phrases = lists
    tokens = _WORD.findall(text.lower())
    if not tokens:
        return 0.0
    flagged = [token in words for token in tokens]
    for i, token in enumerate(tokens):
        for phrase in phrases.get(token, ()):
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                flagged[i : i + len(phrase)] = [True] * len(phrase)
    return sum(flagged) / len(tokens)


@lru_cache(maxsize=None)
def identity_lists() -> tuple[dict[str, re.Pattern], dict[str, re.Pattern]]:
    """({axis: pattern}, {pronoun group: pattern}) from data/identity_terms.json."""
    data = json.loads((importlib.resources.files("quality") / "data" / "identity_terms.json").read_text(encoding="utf-8"))

    def pattern(terms: list[str], plural: bool) -> re.Pattern:
        alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
        return re.compile(rf"\b(?:{alternatives}){'(?:s|es)?' if plural else ''}\b")

    axes = {axis: pattern(terms, True) for axis, terms in data.items() if not axis.startswith("_")}
    pronouns = {group: pattern(terms, False) for group, terms in data["_pronouns"].items()}
    return axes, pronouns


AXES = ("gender", "religion", "ethnicity_nationality", "sexual_orientation", "disability", "age")
PRONOUNS = ("he", "she", "they")


def doc_counts(text: str) -> dict[str, int]:
    """Additive counts for one document: docs, docs mentioning each axis/pronoun group, and mentions."""
    lowered = text.lower()
    axes, pronouns = identity_lists()
    counts = {"docs": 1}
    for axis, pat in axes.items():
        n = len(pat.findall(lowered))
        counts[f"axis_docs:{axis}"] = int(n > 0)
        counts[f"axis_mentions:{axis}"] = n
    for group, pat in pronouns.items():
        n = len(pat.findall(lowered))
        counts[f"pronoun_docs:{group}"] = int(n > 0)
        counts[f"pronoun_mentions:{group}"] = n
    return counts


def add_counts(totals: dict, counts: dict) -> dict:
    for key, n in counts.items():
        totals[key] = totals.get(key, 0) + n
    return totals


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def representation(totals: dict[str, int]) -> dict:
    """Who the documents summed in `totals` are about."""
    docs = totals.get("docs", 0)
    he, she = totals.get("pronoun_mentions:he", 0), totals.get("pronoun_mentions:she", 0)
    return {
        "docs": docs,
        "pronoun_doc_share": {g: _share(totals.get(f"pronoun_docs:{g}", 0), docs) for g in PRONOUNS},
        "pronoun_mentions": {g: totals.get(f"pronoun_mentions:{g}", 0) for g in PRONOUNS},
        "she_he_ratio": round(she / he, 6) if he else None,
        "identity_axes": {
            axis: {
                "docs": totals.get(f"axis_docs:{axis}", 0),
                "doc_share": _share(totals.get(f"axis_docs:{axis}", 0), docs),
                "mentions": totals.get(f"axis_mentions:{axis}", 0),
            }
            for axis in AXES
        },
    }


def removal_audit(kept: dict[str, int], rejected_by_reason: dict[str, dict[str, int]], settings: BiasSettings) -> dict:
    """Share of documents mentioning each axis among kept, all, and each rule's rejections; flags lopsided rules.

    The base rate of an axis is its share among all documents that reached any
    stage (kept plus every rejection). A rule with at least `audit_min_rejected`
    rejections is flagged for an axis when its rejections mention the axis more
    than `audit_ratio` times as often as the base rate.
    """
    everything = dict(kept)
    for counts in rejected_by_reason.values():
        add_counts(everything, counts)
    total = everything.get("docs", 0)
    base = {axis: _share(everything.get(f"axis_docs:{axis}", 0), total) for axis in AXES}
    rules, flagged = {}, []
    for reason, counts in sorted(rejected_by_reason.items()):
        n = counts.get("docs", 0)
        shares = {axis: _share(counts.get(f"axis_docs:{axis}", 0), n) for axis in AXES}
        ratios = {axis: (round(shares[axis] / base[axis], 4) if base[axis] and shares[axis] is not None else None) for axis in AXES}
        rules[reason] = {"docs": n, "axis_share": shares, "ratio_to_base": ratios}
        if n < settings.audit_min_rejected:
            continue
        for axis in AXES:
            if ratios[axis] is not None and ratios[axis] > settings.audit_ratio:
                flagged.append({"rule": reason, "axis": axis, "share": shares[axis], "base_rate": base[axis], "ratio": ratios[axis]})
    kept_docs = kept.get("docs", 0)
    return {
        "docs": total,
        "base_rate": base,
        "kept_share": {axis: _share(kept.get(f"axis_docs:{axis}", 0), kept_docs) for axis in AXES},
        "rules": rules,
        "flagged": flagged,
        "ratio_threshold": settings.audit_ratio,
        "min_rejected": settings.audit_min_rejected,
    }


def flagged_counts(ratio: float | None) -> dict[str, float]:
    """Additive flagged-words counts for one kept document (None: no list for its language)."""
    if ratio is None:
        return {"flagged_unscored": 1}
    return {"flagged_scored": 1, "flagged_nonzero": int(ratio > 0), "flagged_ratio_sum": ratio}


def bias_section(kept: dict[str, float], rejected_by_reason: dict[str, dict[str, int]], settings: BiasSettings) -> dict:
    """The manifest's `bias` section, from summed `doc_counts` (+ `flagged_counts` for kept documents)."""
    scored = kept.get("flagged_scored", 0)
    return {
        "flagged_words": {
            "source": FLAGGED_WORDS_SOURCE,
            "languages": ["en"],
            "max_flagged_ratio": settings.max_flagged_ratio,
            "kept_scored": scored,
            "kept_unscored": kept.get("flagged_unscored", 0),
            "kept_with_flagged": kept.get("flagged_nonzero", 0),
            "kept_mean_ratio": round(kept.get("flagged_ratio_sum", 0.0) / scored, 6) if scored else None,
        },
        "representation": representation(kept),
        "removal_audit": removal_audit(kept, rejected_by_reason, settings),
    }
