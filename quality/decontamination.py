"""Decontamination: reject documents that share word n-grams with evaluation items.

Text is normalised as lm-eval-harness's janitor does (lower case, punctuation
and symbols deleted, any run of whitespace one separator) and split into words;
an n-gram is `ngram` consecutive words (13 by default, as GPT-3 and lm-eval).

An eval set is a local JSONL or Parquet file; each row is an item, and each of
the set's `fields` holds text (a list-valued field contributes each element).
Every field value is a *segment*: its n-grams are indexed, and a segment
shorter than `ngram` words is indexed whole, as one shorter n-gram, if it has
at least `min_item_words` words (a three-word answer such as "the French
Revolution" would otherwise match half the web; GPT-3 used 8). An item with no
segment that long is counted as `items_too_short`, never dropped silently.
N-grams made only of numbers and one-character words are not indexed: HumanEval's
"1, 2, 3, ..., 11" would otherwise match every page with pagination links.

The index is compact: each n-gram hashed to 64 bits (xxh3 of each word,
combined by a polynomial over the word hashes), a sorted `uint64` array with a
parallel `uint32` array of item numbers, 12 bytes per distinct (n-gram, item),
plus a bitmap over the hashes' top bits (2-4 bytes per entry, built on first use)
that turns away at least 15 of 16 absent n-grams before the binary search.
It can be saved to a folder of `.npy` files that workers memory-map.

A document is rejected when some item has at least `min_matches` of its
distinct n-grams in the document (or all of them, if it has fewer). The
rejection is `decontamination:<set>` (the first set in config order with such
an item); its detail is JSON `{set: [item ids]}` of every matched item of
every set, so the manifest counters are exact (`decontamination_section`).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gristmill.errors import GristmillError

REASON_PREFIX = "decontamination:"
_PUNCT = re.compile(r"[^\w\s]|_")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd, so the polynomial hash mixes every word


class EvalSetError(GristmillError):
    """An eval set that cannot be read completely: the run must stop before any work."""


class EvalSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", description="set name, used in the rejection reason")
    path: str = Field(description="local .jsonl, .jsonl.gz or .parquet file, one item per row")
    fields: list[str] = Field(default_factory=lambda: ["text"], min_length=1, description="fields holding the item's text")
    id_field: str | None = Field(default=None, description="field holding the item id; default: the row number from 0")
    ngram: int | None = Field(default=None, ge=1, le=64, description="words per n-gram for this set; default: decontamination.ngram")


class DecontaminationSettings(BaseModel):
    """What the decontamination judge needs; `pipelines.config.DecontaminationConfig` extends it."""

    model_config = ConfigDict(extra="forbid")

    sets: list[EvalSet] = Field(default_factory=list, description="eval sets; none = stage off")
    ngram: int = Field(default=13, ge=1, le=64, description="words per n-gram")
    min_matches: int = Field(default=1, ge=1, description="n-grams of one item a document must share to be rejected")
    min_item_words: int = Field(
        default=8, ge=1, description="a text segment shorter than this many words is not indexed (GPT-3 used 8)"
    )

    @model_validator(mode="after")
    def _unique_names(self):
        names = [s.name for s in self.sets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"decontamination.sets: names must be unique, repeated: {dupes}")
        return self


def words(text: str) -> list[str]:
    """The normalised words of `text`."""
    return _PUNCT.sub("", text.lower()).split()


def _uninformative(word: str) -> bool:
    """Digits or one character: an n-gram of only such words is a page counter or a list of numbers, not an item."""
    return len(word) == 1 or word.isdigit()


def word_hashes(text: str) -> np.ndarray:
    tokens = words(text)
    return np.fromiter(map(xxhash.xxh3_64_intdigest, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))


def gram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of every window of `n` consecutive words (none when there are fewer words)."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    acc = hashes[:count].copy()
    for k in range(1, n):
        acc *= _MULT
        acc += hashes[k : k + count]
    return acc


def grams_of_lengths(hashes: np.ndarray, lengths: list[int]) -> np.ndarray:
    """`gram_hashes` for each length, concatenated; shorter grams extend into longer ones (one pass)."""
    out = []
    acc = hashes.copy()
    for k in range(1, max(lengths) + 1):
        if k > 1:
            acc = acc[:-1] * _MULT + hashes[k - 1 :]
        if not len(acc):
            break
        if k in lengths:
            out.append(acc)
    return np.concatenate(out) if out else np.empty(0, dtype=np.uint64)


def _bitmap_bits(entries: int) -> int:
    """log2 of the prefilter's size in bits: about 16 bits per entry, so 1 in 16 absent n-grams gets past it."""
    return int(min(32, max(16, np.ceil(np.log2(max(entries, 1) * 16)))))


def make_bitmap(hashes: np.ndarray, bits: int) -> np.ndarray:
    slots = (hashes >> np.uint64(64 - bits)).astype(np.int64)
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    np.bitwise_or.at(bitmap, slots >> 3, (1 << (slots & 7)).astype(np.uint8))
    return bitmap


# --- reading eval sets -------------------------------------------------------


def _rows(path: Path) -> Iterator[tuple[str, object]]:
    """(location for errors, row) for each row of a JSONL or Parquet file."""
    name = path.name
    if name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as err:
                    raise EvalSetError(f"{path}:{lineno}: not valid JSON ({err.msg}); fix the eval set or remove it") from None
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for row, record in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path}: row {row}", record
    else:
        raise EvalSetError(f"{path}: unsupported eval set format; give .jsonl, .jsonl.gz or .parquet")


def read_items(eval_set: EvalSet) -> Iterator[tuple[str, list[str]]]:
    """(item id, text segments) per row; any malformed row stops with its file and line."""
    path = Path(eval_set.path)
    if not path.is_file():
        raise EvalSetError(f"decontamination set {eval_set.name!r}: file not found: {path}")
    for row, (where, record) in enumerate(_rows(path)):
        if not isinstance(record, dict):
            raise EvalSetError(f"{where}: expected a JSON object, got {type(record).__name__}")
        segments: list[str] = []
        for name in eval_set.fields:
            if name not in record:
                raise EvalSetError(f"{where}: no field {name!r} (set {eval_set.name!r} reads {eval_set.fields})")
            value = record[name]
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in values):
                raise EvalSetError(f"{where}: field {name!r} must be a string or a list of strings")
            segments.extend(values)
        if eval_set.id_field is None:
            item_id = str(row)
        elif record.get(eval_set.id_field) is None:
            raise EvalSetError(f"{where}: no id field {eval_set.id_field!r}")
        else:
            item_id = str(record[eval_set.id_field])
        yield item_id, segments


# --- the index ---------------------------------------------------------------


@dataclass
class DecontaminationIndex:
    """Hashed n-grams of every indexed item; see the module docstring."""

    ngram: int
    min_matches: int
    set_names: list[str]
    hashes: np.ndarray  # uint64, sorted
    items: np.ndarray  # uint32, the item of each hash (a hash shared by items appears once per item)
    item_ids: list[str]
    item_set: np.ndarray  # uint16, set number of each item
    item_ngrams: np.ndarray  # uint32, distinct n-grams of each item
    lengths: list[int]  # n-gram lengths in the index: each set's ngram, and shorter whole segments
    set_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    bitmap: np.ndarray | None = None  # prefilter over the top bits of the hashes, built on first use

    def _candidates(self, grams: np.ndarray) -> np.ndarray:
        if self.bitmap is None:
            self.bitmap = make_bitmap(self.hashes, _bitmap_bits(len(self.hashes)))
        bits = int(np.log2(len(self.bitmap))) + 3
        slots = (grams >> np.uint64(64 - bits)).astype(np.int64)
        return grams[(self.bitmap[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1 == 1]

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays and item ids (the prefilter bitmap adds 2-4 bytes per entry)."""
        arrays = self.hashes.nbytes + self.items.nbytes + self.item_set.nbytes + self.item_ngrams.nbytes
        return arrays + sum(len(i) for i in self.item_ids)

    def matched_items(self, text: str) -> dict[str, list[str]]:
        """{set name: ids of its items the text matches}, sets in config order, items in file order."""
        if not len(self.hashes):
            return {}
        grams = self._candidates(grams_of_lengths(word_hashes(text), self.lengths))
        if not len(grams):
            return {}
        grams = np.unique(grams)
        left = np.searchsorted(self.hashes, grams, side="left")
        hit = left < len(self.hashes)
        hit[hit] = self.hashes[left[hit]] == grams[hit]
        if not hit.any():
            return {}
        right = np.searchsorted(self.hashes, grams[hit], side="right")
        entries = np.concatenate([np.arange(lo, hi) for lo, hi in zip(left[hit], right)])
        items, counts = np.unique(self.items[entries], return_counts=True)
        needed = np.minimum(self.item_ngrams[items], self.min_matches)
        found: dict[str, list[str]] = {}
        for item in sorted(items[counts >= needed], key=lambda i: (self.item_set[i], i)):
            found.setdefault(self.set_names[self.item_set[item]], []).append(self.item_ids[item])
        return found

    def is_contaminated(self, text: str) -> bool:
        return bool(self.matched_items(text))

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("hashes", "items", "item_set", "item_ngrams"):
            np.save(folder / f"{name}.npy", getattr(self, name))
        meta = {k: getattr(self, k) for k in ("ngram", "min_matches", "set_names", "item_ids", "lengths", "set_stats")}
        (folder / "index.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def load_index(folder: str | Path) -> DecontaminationIndex:
    """An index written by `save`; the arrays are memory-mapped, so worker processes share their pages."""
    folder = Path(folder)
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in ("hashes", "items", "item_set", "item_ngrams")}
    return DecontaminationIndex(**meta, **arrays)


def build_index(settings: DecontaminationSettings) -> DecontaminationIndex:
    """Read every eval set and hash its items; raises `EvalSetError` on any unreadable row."""
    chunks_h: list[np.ndarray] = []
    chunks_i: list[np.ndarray] = []
    item_ids: list[str] = []
    item_set: list[int] = []
    item_ngrams: list[int] = []
    lengths: set[int] = set()
    stats: dict[str, dict[str, int]] = {}
    for set_no, eval_set in enumerate(settings.sets):
        n = eval_set.ngram or settings.ngram
        counts = {"items_read": 0, "items_indexed": 0, "items_too_short": 0, "ngrams": 0}
        for item_id, segments in read_items(eval_set):
            counts["items_read"] += 1
            grams = []
            for segment in segments:
                tokens = words(segment)
                if len(tokens) < settings.min_item_words:
                    continue
                size = min(n, len(tokens))
                informative = np.fromiter((not _uninformative(t) for t in tokens), dtype=np.int64, count=len(tokens))
                window = np.convolve(informative, np.ones(size, dtype=np.int64), mode="valid")
                kept = gram_hashes(word_hashes(segment), size)[window > 0]
                if len(kept):
                    lengths.add(size)
                    grams.append(kept)
            if not grams:
                counts["items_too_short"] += 1
                continue
            unique = np.unique(np.concatenate(grams))
            item = len(item_ids)
            item_ids.append(item_id)
            item_set.append(set_no)
            item_ngrams.append(len(unique))
            chunks_h.append(unique)
            chunks_i.append(np.full(len(unique), item, dtype=np.uint32))
            counts["items_indexed"] += 1
            counts["ngrams"] += len(unique)
        stats[eval_set.name] = counts
    hashes = np.concatenate(chunks_h) if chunks_h else np.empty(0, dtype=np.uint64)
    items = np.concatenate(chunks_i) if chunks_i else np.empty(0, dtype=np.uint32)
    order = np.lexsort((items, hashes))
    return DecontaminationIndex(
        ngram=settings.ngram,
        min_matches=settings.min_matches,
        set_names=[s.name for s in settings.sets],
        hashes=hashes[order],
        items=items[order],
        item_ids=item_ids,
        item_set=np.asarray(item_set, dtype=np.uint16),
        item_ngrams=np.asarray(item_ngrams, dtype=np.uint32),
        lengths=sorted(lengths, reverse=True),
        set_stats=stats,
    )


# --- the judge and the counters ----------------------------------------------


def decontamination_verdict(index: DecontaminationIndex, text: str) -> tuple[str, str] | None:
    found = index.matched_items(text)
    if not found:
        return None
    first = next(iter(found))
    return f"{REASON_PREFIX}{first}", json.dumps(found, ensure_ascii=False, separators=(",", ":"))


def make_decontamination_judge(settings: DecontaminationSettings, index_path: str | None = None):
    """`judge(doc) -> (doc, rejection)`; the index is loaded from `index_path` (see `save`) or built from the sets."""
    index = load_index(index_path) if index_path else build_index(settings)

    def judge(doc: dict):
        return doc, decontamination_verdict(index, doc["text"])

    return judge


def rejection_counts(reason: str, detail: str) -> dict | None:
    """Additive counts of one rejected row for the manifest section; None for other reasons."""
    if not reason.startswith(REASON_PREFIX):
        return None
    return {"docs": 1, "items": {name: dict.fromkeys(ids, 1) for name, ids in json.loads(detail).items()}}


def decontamination_section(index: DecontaminationIndex, rejected_by_reason: dict[str, dict]) -> dict:
    """The manifest section from the summed `rejection_counts` of every rejected row, per reason.

    Per set: items read, indexed and too short, n-grams, items found in the corpus
    (distinct items matched by any rejected document) and documents removed
    (documents whose reason names the set).
    """
    found: dict[str, set[str]] = {name: set() for name in index.set_names}
    removed = dict.fromkeys(index.set_names, 0)
    for reason, counts in rejected_by_reason.items():
        if not reason.startswith(REASON_PREFIX):
            continue
        removed[reason[len(REASON_PREFIX):]] += counts.get("docs", 0)
        for name, items in counts.get("items", {}).items():
            found[name].update(items)
    return {
        "ngram": index.ngram,
        "min_matches": index.min_matches,
        "index_bytes": index.nbytes,
        "sets": {
            name: {**index.set_stats[name], "items_found": len(found[name]), "docs_removed": removed[name]}
            for name in index.set_names
        },
    }
