"""URL filtering: domain and URL blocklists, and banned words in the URL.

Lists are local files, one entry per line (`#` comments and blank lines
skipped, `.gz` read as gzip), or folders in the UT1 blacklist layout
(`<root>/<category>/domains` and `<category>/urls`, as shipped by the
Université Toulouse Capitole and read by datatrove's URLFilter; a folder that
holds `domains`/`urls` itself is one list, which also covers datatrove's
bundled flat layout).

Hosts are normalised the same way on both sides: lower case, no trailing dot,
no leading `www.`, internationalised names in their IDNA (punycode) form. A
blocked domain blocks its subdomains (`ads.example.com` under `example.com`)
but not a look-alike (`notexample.com`). A URL entry blocks that page and the
pages below it (`example.com/dir` blocks `example.com/dir/page`), as
squidGuard reads UT1 `urls` files. Banned words are matched against the URL's
words (split at every character that is not a letter or digit), as datatrove
does.

Entries are kept as sorted 64-bit hashes with a 2-byte list number (10 bytes
each): the 4.56 M domains of the UT1-derived list datatrove ships take 46 MB
(benchmarks/url_filter.py), where a Python set of the strings takes several
hundred.
Rejections: `url_filter:domain`, `url_filter:url` (detail `<list>:<entry>`)
and `url_filter:banned_word` (detail: the word). Documents without a URL pass.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import idna
import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field

from gristmill.errors import GristmillError

_URL_WORDS = re.compile(r"[^0-9a-z]+")
_LIST_FILES = ("domains", "urls")


class UrlListError(GristmillError):
    """A blocklist that cannot be read."""


class UrlFilterSettings(BaseModel):
    """The `url_filter:` section: domain / URL blocklists and banned URL words. Off while no list is given."""

    model_config = ConfigDict(extra="forbid")

    domain_lists: list[str] = Field(default_factory=list, description="files of blocked domains, one per line")
    url_lists: list[str] = Field(default_factory=list, description="files of blocked URLs, one per line")
    ut1_lists: list[str] = Field(default_factory=list, description="UT1 blacklist folders (<category>/domains, <category>/urls)")
    ut1_categories: list[str] = Field(default_factory=list, description="UT1 categories to use; empty = all")
    banned_words: list[str] = Field(default_factory=list, description="a URL containing one of these words is rejected")

    @property
    def enabled(self) -> bool:
        return bool(self.domain_lists or self.url_lists or self.ut1_lists or self.banned_words)


def normalize_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            pass  # not a valid IDN: compared as written
    return host


def _split(url: str) -> tuple[str, str]:
    """(normalised host, path) of a URL with or without scheme; ('', '') when it cannot be parsed."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "", ""
    return normalize_host(host), parts.path


def _hash(key: str) -> int:
    return xxhash.xxh3_64_intdigest(key.encode("utf-8"))


def url_key(url: str) -> str:
    """`host/path` without scheme, query, fragment or trailing slash: the form URL entries are compared in."""
    host, path = _split(url)
    return (host + path).rstrip("/")


def _entries(path: Path) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                line = line.strip()
                if line and not line.startswith("#"):
                    yield line
    except OSError as err:
        raise UrlListError(f"{path}: cannot read blocklist ({err})") from None


def _list_file(folder: Path, kind: str) -> Path | None:
    for name in (kind, f"{kind}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def ut1_categories(root: str | Path, wanted: list[str]) -> list[tuple[str, Path]]:
    """(category, folder) of a UT1 tree, or of one category folder."""
    root = Path(root)
    if not root.is_dir():
        raise UrlListError(f"UT1 blacklist folder not found: {root}")
    if (root / "blacklists").is_dir():
        root = root / "blacklists"
    if any(_list_file(root, kind) for kind in _LIST_FILES):
        return [(root.name, root)]
    found = {d.name: d for d in sorted(root.iterdir()) if d.is_dir() and any(_list_file(d, k) for k in _LIST_FILES)}
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise UrlListError(f"{root}: no UT1 categories {missing} (found {len(found)}: {sorted(found)[:10]}...)")
    return [(name, found[name]) for name in (wanted or sorted(found))]


class _HashSet:
    """Sorted 64-bit hashes of strings, each with the number of the list it came from (the first, if several)."""

    def __init__(self, hashes: list[np.ndarray], sources: list[np.ndarray]):
        hashes_all = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
        sources_all = np.concatenate(sources) if sources else np.empty(0, dtype=np.uint16)
        self.hashes, first = np.unique(hashes_all, return_index=True)
        self.sources = sources_all[first]

    def find(self, key: str) -> int | None:
        h = np.uint64(_hash(key))
        i = int(np.searchsorted(self.hashes, h))
        if i < len(self.hashes) and self.hashes[i] == h:
            return int(self.sources[i])
        return None


class UrlBlocklist:
    """The loaded lists; `verdict(url)` is None to keep or (reason, detail)."""

    def __init__(self, settings: UrlFilterSettings):
        self.list_names: list[str] = []
        found: dict[str, tuple[list, list]] = {"domains": ([], []), "urls": ([], [])}

        def add(name: str, path: Path | None, kind: str) -> None:
            if path is None:
                return
            key = normalize_host if kind == "domains" else url_key
            hashes = np.fromiter((_hash(k) for k in map(key, _entries(path)) if k), dtype=np.uint64)
            found[kind][0].append(hashes)
            found[kind][1].append(np.full(len(hashes), len(self.list_names), dtype=np.uint16))
            self.list_names.append(name)

        for file in settings.domain_lists:
            add(Path(file).name, self._existing(file), "domains")
        for file in settings.url_lists:
            add(Path(file).name, self._existing(file), "urls")
        for folder in settings.ut1_lists:
            for category, path in ut1_categories(folder, settings.ut1_categories):
                add(category, _list_file(path, "domains"), "domains")
                add(category, _list_file(path, "urls"), "urls")
        self.domains = _HashSet(*found["domains"])
        self.urls = _HashSet(*found["urls"])
        self.banned_words = {w for w in (_URL_WORDS.sub("", w.lower()) for w in settings.banned_words) if w}

    @staticmethod
    def _existing(file: str) -> Path:
        path = Path(file)
        if not path.is_file():
            raise UrlListError(f"blocklist file not found: {path}")
        return path

    def __len__(self) -> int:
        return len(self.domains.hashes) + len(self.urls.hashes)

    def verdict(self, url: str | None) -> tuple[str, str] | None:
        if not url:
            return None
        host, path = _split(url)
        if host:
            labels = host.split(".")
            for i in range(len(labels)):
                suffix = ".".join(labels[i:])
                source = self.domains.find(suffix)
                if source is not None:
                    return "url_filter:domain", f"{self.list_names[source]}:{suffix}"
            segments = path.rstrip("/").split("/")
            for i in range(len(segments), 0, -1):
                key = host + "/".join(segments[:i])
                source = self.urls.find(key)
                if source is not None:
                    return "url_filter:url", f"{self.list_names[source]}:{key}"
        if self.banned_words:
            for word in _URL_WORDS.split(url.lower()):
                if word in self.banned_words:
                    return "url_filter:banned_word", word
        return None


def make_url_filter_judge(settings: UrlFilterSettings):
    """`judge(doc) -> (doc, rejection)` on `doc["url"]`; the lists are read once, here."""
    blocklist = UrlBlocklist(settings)

    def judge(doc: dict):
        return doc, blocklist.verdict(doc.get("url"))

    return judge
