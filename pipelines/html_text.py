"""Main-text extraction from HTML pages (files and WARC responses), with `html.extractor` choosing how.

trafilatura (favor_precision) is the default: it won our measurement against
resiliparse (benchmarks/html_extraction.py, results in benchmarks/RESULTS.md)
with higher word-level F1 on the independent article-extraction benchmark and
much less navigation and footer text left in. resiliparse's main-content
extraction is the fast choice, about 12x trafilatura's pages per CPU-second, for runs where
speed matters more than boilerplate.
"""

from __future__ import annotations

import logging
from typing import Literal

# trafilatura logs every page it cannot parse at ERROR; such a page becomes a
# `length:empty` rejection in the dataset, so the log line is only noise.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

Extractor = Literal["trafilatura", "resiliparse"]
EXTRACTORS: tuple[str, ...] = ("trafilatura", "resiliparse")


def _trafilatura(html: str, url: str | None) -> str:
    import trafilatura  # loads on the first page (0.4 s), not in every run and worker that reads no HTML

    return trafilatura.extract(html, url=url, include_comments=False, include_tables=True, favor_precision=True) or ""


def _resiliparse(html: str, url: str | None) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, preserve_formatting=True, main_content=True, alt_texts=False, comments=False).strip()


def extract_main_text(html: str, url: str | None = None, extractor: Extractor = "trafilatura") -> str:
    """The page's main text, or "" when none can be found; never raises on bad markup."""
    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown HTML extractor {extractor!r}; known: {', '.join(EXTRACTORS)}")
    if not isinstance(html, str) or not html.strip():
        return ""
    try:
        return (_trafilatura if extractor == "trafilatura" else _resiliparse)(html, url)
    except Exception:  # trafilatura/lxml and resiliparse raise many types on broken markup
        return ""
