"""Main-text extraction from HTML pages (files and WARC responses).

trafilatura with favor_precision won our measurement against resiliparse
(benchmarks/html_extraction.py, results in benchmarks/RESULTS.md): higher
word-level F1 on the independent article-extraction benchmark and much less
navigation and footer text left in, at about a tenth of resiliparse's speed.
"""

from __future__ import annotations

import logging

import trafilatura

# trafilatura logs every page it cannot parse at ERROR; such a page becomes a
# `length:empty` rejection in the dataset, so the log line is only noise.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


def extract_main_text(html: str, url: str | None = None) -> str:
    """The page's main text, or "" when none can be found; never raises on bad markup."""
    if not isinstance(html, str) or not html.strip():
        return ""
    try:
        text = trafilatura.extract(
            html, url=url, include_comments=False, include_tables=True, favor_precision=True
        )
    except Exception:  # trafilatura/lxml raise many types on broken markup
        return ""
    return text or ""
