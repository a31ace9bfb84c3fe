"""The URL-filter stage: domain and URL blocklists, and banned words in the URL (`quality.url_filter`).

Runs right after exact dedup, before language ID; rejects `url_filter:<rule>`.
"""

from __future__ import annotations

import functools

from pipelines.stage import Stage
from quality.url_filter import UrlFilterSettings, make_url_filter_judge


class UrlFilterStage(Stage):
    name = "url_filter"

    def __init__(self, settings: UrlFilterSettings):
        super().__init__(functools.partial(make_url_filter_judge, settings))
