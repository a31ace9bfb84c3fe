"""Cross-document line (or paragraph) dedup, in per-document pieces a pipeline can distribute.

A unit is a line (split at `\\n`) or a paragraph (split at blank lines). Its
key is the xxh3 64-bit hash of its normalised form (lower case, whitespace
runs folded, trimmed); units shorter than `min_chars` after normalising are
never counted or removed. A unit whose hash occurs in more than `max_docs`
documents is removed from every document except the first `keep_first` of
them by document id. Documents are counted by distinct text: exact copies of
a page count once (otherwise every line of a page copied 5 times would be
"repeated"), and the documents that keep a unit are the smallest ids of the
`keep_first` distinct texts whose smallest id is smallest. With the defaults
(1 and 1) this is C4's rule, "discard all but one of any span occurring more
than once", and Dolma's paragraph dedup, made order-independent by keeping
the smallest id instead of the first one read.

The distributed version (`pipelines.line_dedup`) needs only hashes and ids to move:

1. per document, `unit_hashes(text, settings)`: its distinct unit hashes;
2. per hash, the number of distinct text keys (a sort over hash ranges), and
   the documents that keep it, folded with `add_keeper` / `merge_keepers`
   (a combiner holding at most `keep_first` entries);
3. per document, `remove_units(text, remove, settings)` with the hashes it loses.

`dedup_reference(docs, settings)` runs the same steps in memory; tests use it,
and it is the oracle for the Beam version.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Collection, Iterable, Literal, Mapping

import xxhash
from pydantic import BaseModel, ConfigDict, Field

_SPACE = re.compile(r"\s+")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
_BLANK_RUN = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")

HashStats = tuple[int, tuple[str, ...]]  # distinct texts holding the hash, the ids that keep it


class LineDedupSettings(BaseModel):
    """The `line_dedup:` section. Off by default: it rewrites documents, and pays on whole-page
    web text (menus, banners), not on main text."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    unit: Literal["line", "paragraph"] = Field(default="line", description="line: split at newlines; paragraph: at blank lines")
    min_chars: int = Field(default=1, ge=1, description="units shorter than this (normalised) are left alone")
    max_docs: int = Field(default=1, ge=1, description="a unit in more documents than this is a repeat")
    keep_first: int = Field(default=1, ge=0, description="documents (smallest ids) that keep a repeated unit")


def split_units(text: str, unit: str) -> list[tuple[str, str]]:
    """(unit, separator after it) pairs; joining them gives back `text` exactly."""
    pattern = _PARAGRAPH_BREAK if unit == "paragraph" else re.compile("\n")
    pieces, last = [], 0
    for match in pattern.finditer(text):
        pieces.append((text[last : match.start()], match.group()))
        last = match.end()
    pieces.append((text[last:], ""))
    return pieces


def normalize_unit(unit: str) -> str:
    return _SPACE.sub(" ", unit).strip().lower()


def _unit_hash(normalized: str) -> int:
    return xxhash.xxh3_64_intdigest(normalized.encode("utf-8"))


def _keyed_units(text: str, settings: LineDedupSettings) -> list[tuple[str, str, int | None]]:
    """(unit, separator, hash or None when too short) for every unit of `text`."""
    out = []
    for unit, sep in split_units(text, settings.unit):
        norm = normalize_unit(unit)
        out.append((unit, sep, _unit_hash(norm) if len(norm) >= settings.min_chars else None))
    return out


def unit_hashes(text: str, settings: LineDedupSettings) -> list[int]:
    """The distinct 64-bit hashes of the document's countable units, in order of first appearance."""
    return list(dict.fromkeys(h for _, _, h in _keyed_units(text, settings) if h is not None))


Keepers = dict[int, tuple]  # text key -> the smallest member (doc id first) with that text


def add_keeper(keepers: Keepers, text_key: int, member: tuple, keep: int) -> Keepers:
    """Fold one document holding a unit into `keepers`: the `keep` texts whose smallest member is smallest.

    A member is a tuple that starts with the document id (the pipeline adds unit and row).
    Dropping a text when over `keep` is safe: it can only come back with a smaller member, which re-adds it.
    """
    if keep <= 0:
        return keepers
    if text_key not in keepers or member < keepers[text_key]:
        keepers[text_key] = member
        if len(keepers) > keep:
            del keepers[max(keepers, key=keepers.__getitem__)]
    return keepers


def merge_keepers(a: Keepers, b: Keepers, keep: int) -> Keepers:
    for text_key, member in b.items():
        add_keeper(a, text_key, member, keep)
    return a


def keeper_members(keepers: Keepers) -> list[tuple]:
    return sorted(keepers.values())


def hashes_to_remove(
    doc_id: str, hashes: Iterable[int], stats: Mapping[int, HashStats], settings: LineDedupSettings
) -> set[int]:
    """The document's hashes that occur in more than `max_docs` documents and do not keep it among their first.

    `stats` may hold only the frequent hashes (count > max_docs): a hash it lacks is not removed.
    """
    remove = set()
    for h in hashes:
        count, keep = stats.get(h, (0, ()))
        if count > settings.max_docs and doc_id not in keep:
            remove.add(h)
    return remove


def remove_units(text: str, remove: Collection[int], settings: LineDedupSettings) -> tuple[str, int, int]:
    """(text without the units whose hash is in `remove`, units removed, UTF-8 bytes removed).

    A removed unit goes with its separator. Where anything was removed, the blank lines left
    behind are squeezed (a run of blank lines becomes one, none at the start or end); a
    document with nothing removed comes back unchanged.
    """
    if not remove:
        return text, 0, 0
    kept, removed = [], 0
    for unit, sep, h in _keyed_units(text, settings):
        if h is not None and h in remove:
            removed += 1
        else:
            kept.append(unit + sep)
    if not removed:
        return text, 0, 0
    new_text = _BLANK_RUN.sub("\n\n", "".join(kept)).strip("\n")
    return new_text, removed, len(text.encode("utf-8")) - len(new_text.encode("utf-8"))


def redacted_unit(unit: str, max_chars: int = 200) -> str:
    """A unit as shown in a manifest or report: PII replaced by placeholders, cut to `max_chars`."""
    from quality.pii import redact, scan

    text = redact(unit, scan(unit))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def unit_texts(text: str, wanted: Collection[int], settings: LineDedupSettings) -> dict[int, str]:
    """{hash: the unit's text as written here} for the units of `text` whose hash is wanted (for the report)."""
    return {h: unit for unit, _, h in _keyed_units(text, settings) if h is not None and h in wanted}


@dataclass
class DedupResult:
    docs: list[tuple[dict, tuple[str, str] | None]]  # (document with new text, rejection or None), input order
    units_removed: int = 0
    bytes_removed: int = 0
    bytes_in: int = 0
    top_units: list[tuple[str, int]] = field(default_factory=list)  # (redacted unit text, documents holding it)


def dedup_reference(
    docs: list[dict], settings: LineDedupSettings, min_doc_chars: int = 1, top: int = 20
) -> DedupResult:
    """The whole algorithm in memory over `docs` ({"id", "text"}): the oracle for the distributed version.

    A document left with fewer than `min_doc_chars` characters (`length.min_chars`) is rejected as `line_dedup:empty`.
    """
    per_doc = [unit_hashes(doc["text"], settings) for doc in docs]
    texts: dict[int, set[int]] = {}
    keepers: dict[int, Keepers] = {}
    for doc, hashes in zip(docs, per_doc):
        text_key = xxhash.xxh3_64_intdigest(doc["text"].encode("utf-8"))
        for h in hashes:
            texts.setdefault(h, set()).add(text_key)
            add_keeper(keepers.setdefault(h, {}), text_key, (doc["id"],), settings.keep_first)
    stats: dict[int, HashStats] = {
        h: (len(keys), tuple(m[0] for m in keeper_members(keepers[h]))) for h, keys in texts.items()
    }
    result = DedupResult(docs=[])
    frequent = Counter({h: s[0] for h, s in stats.items() if s[0] > settings.max_docs})
    wanted = {h for h, _ in frequent.most_common(top)}
    examples: dict[int, str] = {}
    for doc, hashes in zip(docs, per_doc):
        result.bytes_in += len(doc["text"].encode("utf-8"))
        for h, text in unit_texts(doc["text"], wanted - examples.keys(), settings).items():
            examples[h] = text
        remove = hashes_to_remove(doc["id"], hashes, stats, settings)
        text, n_units, n_bytes = remove_units(doc["text"], remove, settings)
        result.units_removed += n_units
        result.bytes_removed += n_bytes
        rejection = ("line_dedup:empty", str(len(text))) if n_units and len(text.strip()) < min_doc_chars else None
        result.docs.append(({**doc, "text": text}, rejection))
    result.top_units = [(redacted_unit(examples[h]), count) for h, count in frequent.most_common(top)]
    return result
