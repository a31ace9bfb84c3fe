"""Tables of a regex character class over every code point, for numpy lookups over a text's code points."""

from __future__ import annotations

import functools
import re
import sys

import numpy as np


@functools.cache
def char_class_table(char_class: str) -> np.ndarray:
    """A bool per code point: does `char_class` (such as `\\w` or `\\d`) match it? Built from `re`
    itself, so a lookup agrees with the pattern exactly (lone surrogates included: they match neither);
    about 0.1 s, once per process and class."""
    every_code_point = "".join(map(chr, range(sys.maxunicode + 1)))
    table = np.zeros(sys.maxunicode + 1, dtype=bool)
    for match in re.finditer(f"(?:{char_class})+", every_code_point):
        table[match.start() : match.end()] = True
    return table
