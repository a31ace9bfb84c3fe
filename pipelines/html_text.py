"""Main-text extraction from HTML pages (files and WARC responses)."""

from __future__ import annotations

import trafilatura


def extract_main_text(html: str, url: str | None = None) -> str:
    """The page's main text, or "" when none can be found; never raises on bad markup."""
    if not html or not html.strip():
        return ""
    try:
        text = trafilatura.extract(html, url=url, include_comments=False, include_tables=True)
    except Exception:  # trafilatura/lxml raise many types on broken markup
        return ""
    return text or ""
