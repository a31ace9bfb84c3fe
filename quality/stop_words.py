"""Stop words for Gopher's "at least two stop words" rule, per language.

English keeps Gopher's own eight words (the paper's rule, and datatrove's).
Other languages use the lists of the `stop-words` package; a language it does
not cover gets None, and the rule is not applied to its documents.
"""

from __future__ import annotations

import functools

import stop_words

GOPHER_ENGLISH = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})


@functools.cache
def stop_words_for(lang: str | None) -> frozenset[str] | None:
    """The stop words of an ISO 639-1 language; English when the language is unknown (None)."""
    if lang is None or lang == "en":
        return GOPHER_ENGLISH
    name = stop_words.LANGUAGE_MAPPING.get(lang)
    return frozenset(stop_words.get_stop_words(name)) if name else None
