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

Near matches: one changed word splits a segment of L words into runs of at
most ceil((L-1)/2) intact words, so a segment shorter than 2 * ngram words can
lose every n-gram to a single edit. Such a segment (of at least
`near_match_min_words` words) also matches a document window that is one word
edit away from it (a word substituted, inserted or deleted). Its *seeds*, the
windows of floor(L/2) words, are indexed with their position in the segment:
one edit leaves at least one seed intact, a document n-gram equal to a seed
places the segment in the document, and the segment's own word hashes, kept in
the index, confirm the match. A confirmed segment counts as all of its n-grams.

The index is compact: each n-gram hashed to 64 bits (xxh3 of each word,
combined by a polynomial over the word hashes), a sorted `uint64` array with a
parallel `uint32` array of item numbers, 12 bytes per distinct (n-gram, item),
the seeds likewise (14 bytes each), the short segments' words (8 bytes a word),
and a bitmap over the top bits of the hashes and seeds (2-4 bytes per entry)
that turns away at least 15 of 16 absent n-grams before the binary search. Every part,
item ids included, is an array saved as a `.npy` file that workers memory-map,
so a worker's own memory does not grow with the eval sets.

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
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator

import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gristmill.errors import GristmillError

REASON_PREFIX = "decontamination:"
_PUNCT = re.compile(r"[^\w\s]|_")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd, so the polynomial hash mixes every word
_MULT_INV = np.uint64(pow(0x9E3779B97F4A7C15, -1, 2**64))  # odd numbers are invertible modulo 2**64
_BATCH_WORDS = 500_000  # eval-set words hashed per vectorised batch while building
_MERGE_ENTRIES = 2_000_000  # index entries sorted at once when the batches' runs are merged


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
    """The `decontamination:` section: eval-set n-gram decontamination. Off while `sets` is empty."""

    model_config = ConfigDict(extra="forbid")

    sets: list[EvalSet] = Field(default_factory=list, description="eval sets; none = stage off")
    ngram: int = Field(default=13, ge=1, le=64, description="words per n-gram")
    min_matches: int = Field(default=1, ge=1, description="n-grams of one item a document must share to be rejected")
    min_item_words: int = Field(
        default=8, ge=1, description="a text segment shorter than this many words is not indexed (GPT-3 used 8)"
    )
    near_match_min_words: int | None = Field(
        default=8, ge=6, description="segments of this many words up to 2 * ngram - 1 also match one word edit away; null = off"
    )

    @property
    def enabled(self) -> bool:
        return bool(self.sets)

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


def _informative(tokens: list[str]) -> np.ndarray:
    """Not digits nor one character: an n-gram of only such words is a page counter or a list of numbers, not an item."""
    count = len(tokens)
    longer = np.fromiter(map(len, tokens), dtype=np.int64, count=count) > 1
    return longer & ~np.fromiter(map(str.isdigit, tokens), dtype=bool, count=count)


def _hash_words(tokens: list[str]) -> np.ndarray:
    return np.fromiter(map(xxhash.xxh3_64_intdigest, map(str.encode, tokens)), dtype=np.uint64, count=len(tokens))


def word_hashes(text: str) -> np.ndarray:
    return _hash_words(words(text))


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


def windows_of_lengths(hashes: np.ndarray, lengths) -> dict[int, np.ndarray]:
    """{n: `gram_hashes(hashes, n)`} for each length present; shorter windows extend into longer ones (one pass)."""
    wanted = set(lengths)
    out = {}
    acc = hashes.copy()
    for k in range(1, max(wanted, default=0) + 1):
        if k > 1:
            acc = acc[:-1] * _MULT + hashes[k - 1 :]
        if not len(acc):
            break
        if k in wanted:
            out[k] = acc
    return out


def grams_of_lengths(hashes: np.ndarray, lengths: list[int]) -> np.ndarray:
    """`gram_hashes` for each length, concatenated."""
    found = list(windows_of_lengths(hashes, lengths).values())
    return np.concatenate(found) if found else np.empty(0, dtype=np.uint64)


def window_hashes(hashes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`gram_hashes` of the windows [start, end) of `hashes`, any lengths at once, by prefix sums.

    The polynomial hash of a window is sum(h[i] * M**(end-1-i)); with C the prefix sums
    of h[i] * M**-i (M is odd, so invertible modulo 2**64) it is (C[end] - C[start]) * M**(end-1).
    """
    count = len(hashes)
    if not count or not len(starts):
        return np.empty(0, dtype=np.uint64)
    pows = np.empty(count, dtype=np.uint64)
    inv = np.empty(count, dtype=np.uint64)
    pows[0] = inv[0] = 1
    pows[1:] = np.cumprod(np.full(count - 1, _MULT, dtype=np.uint64))
    inv[1:] = np.cumprod(np.full(count - 1, _MULT_INV, dtype=np.uint64))
    prefix = np.zeros(count + 1, dtype=np.uint64)
    np.cumsum(hashes * inv, out=prefix[1:])
    return (prefix[ends] - prefix[starts]) * pows[ends - 1]


def _bitmap_bits(entries: int) -> int:
    """log2 of the prefilter's size in bits: about 16 bits per entry, so 1 in 16 absent n-grams gets past it."""
    return int(min(32, max(16, np.ceil(np.log2(max(entries, 1) * 16)))))


def make_bitmap(hashes: np.ndarray, bits: int) -> np.ndarray:
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    _set_bits(bitmap, np.sort(hashes), bits)
    return bitmap


def _set_bits(bitmap: np.ndarray, sorted_hashes: np.ndarray, bits: int) -> None:
    """Set the prefilter bits of `sorted_hashes` in `bitmap`."""
    # np.bitwise_or.at is slow on millions of entries: sorted, each byte's bits are OR-ed in one reduceat.
    slots = (sorted_hashes >> np.uint64(64 - bits)).astype(np.int64)
    byte, bit = slots >> 3, (1 << (slots & 7)).astype(np.uint8)
    if len(slots):
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        bitmap[byte[starts]] |= np.bitwise_or.reduceat(bit, starts)


def _prefilter(bitmap: np.ndarray, grams: np.ndarray) -> np.ndarray:
    """Mask of the grams whose top bits are set in `bitmap` (every indexed one, 1 in 16 of the others)."""
    bits = int(np.log2(len(bitmap))) + 3
    slots = (grams >> np.uint64(64 - bits)).astype(np.int64)
    return (bitmap[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1 == 1


def _ranges(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def _one_edit_apart(window: list[int], segment: list[int]) -> bool:
    """At most one word substituted, inserted or deleted turns `window` into `segment`."""
    lw, ls = len(window), len(segment)
    if lw == ls:
        return sum(a != b for a, b in zip(window, segment)) <= 1
    if abs(lw - ls) != 1:
        return False
    short = min(lw, ls)
    prefix = next((i for i in range(short) if window[i] != segment[i]), short)
    suffix = next((i for i in range(short) if window[lw - 1 - i] != segment[ls - 1 - i]), short)
    return prefix + suffix >= short


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

_U64, _U32 = (np.empty(0, dtype=t) for t in (np.uint64, np.uint32))


@dataclass
class DecontaminationIndex:
    """Hashed n-grams of every indexed item, and the seeds and words of short segments; see the module docstring."""

    ngram: int
    min_matches: int
    near_match_min_words: int | None
    set_names: list[str]
    set_ngrams: list[int]  # each set's n-gram length
    lengths: list[int]  # n-gram lengths in the index: each set's ngram, and shorter whole segments
    seed_lengths: list[int]  # seed lengths of the near-match segments
    set_stats: dict[str, dict[str, int]]
    hashes: np.ndarray  # uint64, sorted
    items: np.ndarray  # uint32, the item of each hash (a hash shared by items appears once per item)
    bitmap: np.ndarray  # uint8, prefilter over the top bits of `hashes` and `seed_hashes`
    item_set: np.ndarray  # uint16, set number of each item
    item_ngrams: np.ndarray  # uint32, distinct n-grams of each item
    id_bytes: np.ndarray  # uint8, the item ids in UTF-8, one after another
    id_offsets: np.ndarray  # int64, where each item's id starts in `id_bytes` (one more entry: the end)
    seed_hashes: np.ndarray  # uint64, sorted
    seed_segments: np.ndarray  # uint32, the near-match segment of each seed
    seed_positions: np.ndarray  # uint16, the seed's first word in its segment
    segment_words: np.ndarray  # uint64, word hashes of the near-match segments, one after another
    segment_offsets: np.ndarray  # int64, where each segment starts in `segment_words` (one more entry: the end)
    segment_items: np.ndarray  # uint32, the item of each near-match segment

    _ARRAYS = ("hashes", "items", "bitmap", "item_set", "item_ngrams", "id_bytes", "id_offsets", "seed_hashes",
               "seed_segments", "seed_positions", "segment_words", "segment_offsets", "segment_items")

    def item_id(self, item: int) -> str:
        return bytes(self.id_bytes[self.id_offsets[item] : self.id_offsets[item + 1]]).decode("utf-8")

    @property
    def nbytes(self) -> int:
        """Bytes of every array, the prefilter bitmap included."""
        return sum(getattr(self, name).nbytes for name in self._ARRAYS)

    def _exact(self, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hash, item) of every index entry among `grams`."""
        grams = np.unique(grams)
        left = np.searchsorted(self.hashes, grams, side="left")
        count = np.searchsorted(self.hashes, grams, side="right") - left
        entries = np.repeat(left, count) + _ranges(count)
        return self.hashes[entries], self.items[entries]

    def _near_segments(self, text_hashes: np.ndarray, grams: np.ndarray, at: np.ndarray) -> list[int]:
        """Near-match segments one word edit away from some window of the text, in segment order.

        `grams` are the text's windows that passed the prefilter, `at` their first words.
        """
        left = np.searchsorted(self.seed_hashes, grams, side="left")
        count = np.searchsorted(self.seed_hashes, grams, side="right") - left
        if not count.any():
            return []
        entries = np.repeat(left, count) + _ranges(count)
        starts = np.repeat(at, count) - self.seed_positions[entries].astype(np.int64)
        candidates = np.unique(np.stack([self.seed_segments[entries].astype(np.int64), starts]), axis=1)
        text = text_hashes.tolist()
        confirmed = set()
        for segment, start in candidates.T.tolist():
            if segment in confirmed:
                continue
            words_ = self.segment_words[self.segment_offsets[segment] : self.segment_offsets[segment + 1]].tolist()
            size = len(words_)
            # The edit may lie before or after the seed, so an inserted or deleted word may shift the start by one.
            spans = [(start, size), (start, size - 1), (start + 1, size - 1), (start, size + 1), (start - 1, size + 1)]
            if any(lo >= 0 and lo + n <= len(text) and _one_edit_apart(text[lo : lo + n], words_) for lo, n in spans):
                confirmed.add(segment)
        return sorted(confirmed)

    def matched_items(self, text: str) -> dict[str, list[str]]:
        """{set name: ids of its items the text matches}, sets in config order, items in file order."""
        text_hashes = word_hashes(text)
        windows = windows_of_lengths(text_hashes, self.lengths + self.seed_lengths)
        if not windows or not (len(self.hashes) or len(self.seed_hashes)):
            return {}
        # One prefilter and one search over every window length (a match across lengths is a 64-bit collision).
        grams = np.concatenate(list(windows.values()))
        passed = np.flatnonzero(_prefilter(self.bitmap, grams))
        grams = grams[passed]
        hashes, items = self._exact(grams) if len(self.hashes) else (_U64, _U32)
        near = []
        if len(self.seed_hashes):
            block_starts = np.cumsum([0] + [len(w) for w in windows.values()])[:-1]
            at = passed - block_starts[np.searchsorted(block_starts, passed, side="right") - 1]
            near = self._near_segments(text_hashes, grams, at)
        if near:
            # A near-matched segment counts as all of its indexed n-grams: its windows' entries of its own item.
            wanted = set()
            for segment in near:
                item = int(self.segment_items[segment])
                seg_words = self.segment_words[self.segment_offsets[segment] : self.segment_offsets[segment + 1]]
                n = min(self.set_ngrams[self.item_set[item]], len(seg_words))
                wanted.update((h, item) for h in gram_hashes(np.asarray(seg_words), n).tolist())
            more_h, more_i = self._exact(np.fromiter((h for h, _ in wanted), dtype=np.uint64, count=len(wanted)))
            mine = np.fromiter(((h, i) in wanted for h, i in zip(more_h.tolist(), more_i.tolist())), dtype=bool,
                               count=len(more_h))
            pairs = np.unique(np.stack([np.concatenate([items, more_i[mine]]).astype(np.uint64),
                                        np.concatenate([hashes, more_h[mine]])]), axis=1)
            hashes, items = pairs[1], pairs[0].astype(np.uint32)
        if not len(items):
            return {}
        items, counts = np.unique(items, return_counts=True)
        needed = np.minimum(self.item_ngrams[items], self.min_matches)
        found: dict[str, list[str]] = {}
        for item in sorted(items[counts >= needed].tolist(), key=lambda i: (self.item_set[i], i)):
            found.setdefault(self.set_names[self.item_set[item]], []).append(self.item_id(item))
        return found

    def is_contaminated(self, text: str) -> bool:
        return bool(self.matched_items(text))

    def save(self, folder: str | Path) -> None:
        """Write the index as `.npy` files and `index.json`; an array still mapped from its file is copied as a file."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in self._ARRAYS:
            array, dest = getattr(self, name), folder / f"{name}.npy"
            source = _mapped_file(array)
            if source is None:
                np.save(dest, array)
            elif not dest.exists() or not source.samefile(dest):
                shutil.copyfile(source, dest)  # the pages of a built index are not read into this process
        meta = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self._ARRAYS}
        (folder / "index.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def _mapped_file(array: np.ndarray) -> Path | None:
    """The `.npy` file `array` is the whole of, as `load_index` maps it; None for any other array."""
    if not isinstance(array, np.memmap) or not array.filename or not array.flags.c_contiguous:
        return None
    path = Path(array.filename)
    mapped = path.suffix == ".npy" and path.is_file() and path.stat().st_size == array.offset + array.nbytes
    return path if mapped else None


def load_index(folder: str | Path) -> DecontaminationIndex:
    """An index written by `save`; the arrays are memory-mapped, so worker processes share their pages."""
    folder = Path(folder)
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in DecontaminationIndex._ARRAYS}
    return DecontaminationIndex(**meta, **arrays)


@dataclass
class _Batch:
    """Segments of some of a set's items, gathered until their words are hashed together."""

    first: int  # the set's item number of the batch's first item
    tokens: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)  # item number in the set, from 0
    ids: list[str] = field(default_factory=list)  # every item's id, from `first` on


def _batch_entries(batch: _Batch, n: int, near_min: int | None) -> dict[str, np.ndarray]:
    """The batch's informative n-grams (hash, item) and its near-match segments (words, item, seeds)."""
    hashes = _hash_words(batch.tokens)
    informative = np.zeros(len(hashes) + 1, dtype=np.int64)
    np.cumsum(_informative(batch.tokens), out=informative[1:])
    seg_start, seg_len, seg_item = (np.asarray(v, dtype=np.int64) for v in (batch.starts, batch.sizes, batch.items))

    def windows(starts, lengths, size):
        counts = lengths - size + 1
        lo = np.repeat(starts, counts) + _ranges(counts)
        hi = lo + np.repeat(size, counts)
        keep = informative[hi] > informative[lo]
        return lo, hi, keep, np.repeat(np.arange(len(starts)), counts)

    size = np.minimum(seg_len, n)
    lo, hi, keep, seg = windows(seg_start, seg_len, size)
    out = {"hashes": window_hashes(hashes, lo[keep], hi[keep]), "items": seg_item[seg[keep]]}
    near = (seg_len < 2 * n) & (seg_len >= (near_min or 2 * n)) & (informative[seg_start + seg_len] > informative[seg_start])
    s_start, s_len = seg_start[near], seg_len[near]
    lo, hi, keep, seg = windows(s_start, s_len, s_len // 2)
    out.update(seed_hashes=window_hashes(hashes, lo[keep], hi[keep]), seed_segments=seg[keep],
               seed_positions=(lo - s_start[seg])[keep], seed_lengths=np.unique(s_len // 2),
               segment_words=hashes[np.repeat(s_start, s_len) + _ranges(s_len)], segment_lengths=s_len,
               segment_items=seg_item[near])
    return out


def _iter_batches(eval_set: EvalSet, settings: DecontaminationSettings) -> Iterator[_Batch]:
    """Batches of the set's items (whole items, in file order); only segments of `min_item_words` words are kept."""
    batch = _Batch(first=0)
    for item_id, segments in read_items(eval_set):
        for segment in segments:
            tokens = words(segment)
            if len(tokens) >= settings.min_item_words:
                batch.starts.append(len(batch.tokens))
                batch.sizes.append(len(tokens))
                batch.items.append(batch.first + len(batch.ids))
                batch.tokens.extend(tokens)
        batch.ids.append(item_id)
        if len(batch.tokens) >= _BATCH_WORDS:
            yield batch
            batch = _Batch(first=batch.first + len(batch.ids))
    yield batch


class _Column:
    """A 1-D array of one dtype, appended to a raw file and written as a `.npy` file (as `np.save` does) when complete."""

    def __init__(self, path: Path, dtype):
        self.path, self.dtype, self.count = path, np.dtype(dtype), 0
        self._file = open(path, "wb")

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values).astype(self.dtype, copy=False)
        values.tofile(self._file)
        self.count += len(values)

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Entries [start, stop), into `out` when given (read straight from the file, never mapped)."""
        self._file.flush()
        out = np.empty(stop - start, dtype=self.dtype) if out is None else out
        with open(self.path, "rb") as raw:
            raw.seek(start * self.dtype.itemsize)
            raw.readinto(memoryview(out).cast("B"))
        return out

    def save(self, dest: Path) -> None:
        self._file.close()
        with open(dest, "wb") as out, open(self.path, "rb") as raw:
            header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (self.count,)}
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, 1 << 24)
        self.path.unlink()


class _Runs:
    """Entries sorted by their key columns (a uint64 hash first) on disk: each batch is written as a *run*
    grouped by the hash's top bits, and `merge` sorts one range of those buckets of every run at a time,
    so the whole array is never in memory. Hashes are uniform, so a bucket holds 1/4096 of the entries.
    """

    _BITS = 12

    def __init__(self, scratch: Path, name: str, dtypes: list):
        self.columns = [_Column(scratch / f"{name}.{k}.run", dtype) for k, dtype in enumerate(dtypes)]
        self.bounds = _Column(scratch / f"{name}.bounds", np.int64)  # per run: where each bucket starts, and the end
        self.runs = 0
        self.totals = np.zeros(1 << self._BITS, dtype=np.int64)  # entries per bucket, all runs

    @property
    def count(self) -> int:
        return self.columns[0].count

    def add(self, *keys: np.ndarray) -> None:
        bucket = (keys[0] >> np.uint64(64 - self._BITS)).astype(np.int64)
        order = np.argsort(bucket, kind="stable")
        counts = np.bincount(bucket, minlength=len(self.totals))
        self.bounds.append(self.count + np.r_[0, np.cumsum(counts)])
        self.totals += counts
        self.runs += 1
        for column, key in zip(self.columns, keys):
            column.append(key[order])

    def merge(self, outputs: list[_Column]) -> Iterator[np.ndarray]:
        """Append every entry, sorted by all keys, to `outputs`; yields the sorted hashes of each range merged."""
        buckets = len(self.totals)
        ends = np.cumsum(self.totals)
        edge = 0
        while edge < buckets:
            # The next range: the buckets that hold up to `_MERGE_ENTRIES` entries together (at least one bucket).
            done = ends[edge - 1] if edge else 0
            stop = min(buckets, max(edge + 1, int(np.searchsorted(ends, done + _MERGE_ENTRIES, side="right"))))
            width = buckets + 1
            spans = [(self.bounds.read(r * width + edge, r * width + edge + 1)[0],
                      self.bounds.read(r * width + stop, r * width + stop + 1)[0]) for r in range(self.runs)]
            at = np.cumsum([0] + [hi - lo for lo, hi in spans])
            keys = [np.empty(at[-1], dtype=column.dtype) for column in self.columns]
            for column, key in zip(self.columns, keys):
                for (lo, hi), start, end in zip(spans, at[:-1], at[1:]):
                    column.read(lo, hi, key[start:end])
            order = np.lexsort(keys[::-1])
            for out, key in zip(outputs[1:], keys[1:]):
                out.append(key[order])
            hashes = keys[0][order]
            outputs[0].append(hashes)
            yield hashes
            edge = stop


def build_index(settings: DecontaminationSettings, folder: str | Path | None = None) -> DecontaminationIndex:
    """Read every eval set and hash its items; raises `EvalSetError` on any unreadable row.

    The index is written to `folder` (as `save` does; when None, a temporary folder removed with the
    index) and returned memory-mapped: the builder holds one batch of items, or one range of the sort,
    at a time, so its memory does not grow with the eval sets.
    """
    if folder is None:
        folder = tempfile.mkdtemp(prefix="gristmill-decontamination-")
        try:
            index = build_index(settings, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        weakref.finalize(index, shutil.rmtree, folder, ignore_errors=True)
        return index
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=folder) as scratch:
        _build(settings, folder, Path(scratch))
    return load_index(folder)


def _build(settings: DecontaminationSettings, folder: Path, scratch: Path) -> None:
    dtypes = {"items": np.uint32, "item_set": np.uint16, "item_ngrams": np.uint32, "id_bytes": np.uint8,
              "id_offsets": np.int64, "seed_segments": np.uint32, "seed_positions": np.uint16,
              "segment_words": np.uint64, "segment_offsets": np.int64, "segment_items": np.uint32}
    out = {name: _Column(scratch / f"{name}.raw", dtypes.get(name, np.uint64))
           for name in DecontaminationIndex._ARRAYS if name != "bitmap"}
    grams = _Runs(scratch, "grams", [np.uint64, np.uint32])  # (hash, item)
    seeds = _Runs(scratch, "seeds", [np.uint64, np.uint32, np.uint16])  # (hash, segment, position)
    lengths: set[int] = set()
    seed_lengths: set[int] = set()
    stats: dict[str, dict[str, int]] = {}
    indexed = segments = id_end = word_end = 0  # items, near-match segments, id bytes and segment words so far
    out["id_offsets"].append([0])
    out["segment_offsets"].append([0])
    for set_no, eval_set in enumerate(settings.sets):
        n = eval_set.ngram or settings.ngram
        counts = stats[eval_set.name] = dict.fromkeys(("items_read", "items_indexed", "items_too_short", "ngrams",
                                                       "near_match_segments"), 0)
        for batch in _iter_batches(eval_set, settings):
            entries = _batch_entries(batch, n, settings.near_match_min_words)
            seed_lengths.update(entries["seed_lengths"].tolist())
            lengths.update(min(n, s) for s in batch.sizes)
            # Items lie wholly in one batch, so repeats of an n-gram in an item are found here: sorted by item, then hash.
            hashes, items = entries["hashes"], entries["items"] - batch.first
            order = np.lexsort((hashes, items))
            hashes, items = hashes[order], items[order]
            first = np.r_[True, (hashes[1:] != hashes[:-1]) | (items[1:] != items[:-1])][: len(order)]
            hashes, items = hashes[first], items[first]
            per_item = np.bincount(items, minlength=len(batch.ids))
            number = np.cumsum(per_item > 0) - 1 + indexed  # the indexed items, numbered across batches and sets
            kept = np.flatnonzero(per_item > 0)
            grams.add(hashes, number[items].astype(np.uint32))
            seeds.add(entries["seed_hashes"], (entries["seed_segments"] + segments).astype(np.uint32),
                      entries["seed_positions"].astype(np.uint16))
            out["item_set"].append(np.full(len(kept), set_no))
            out["item_ngrams"].append(per_item[kept])
            id_chunks = [batch.ids[i].encode("utf-8") for i in kept.tolist()]
            out["id_bytes"].append(np.frombuffer(b"".join(id_chunks), dtype=np.uint8))
            out["id_offsets"].append(id_end + np.cumsum([len(c) for c in id_chunks], dtype=np.int64))
            id_end += sum(map(len, id_chunks))
            out["segment_words"].append(entries["segment_words"])
            out["segment_offsets"].append(word_end + np.cumsum(entries["segment_lengths"]))
            word_end += int(entries["segment_lengths"].sum())
            out["segment_items"].append(number[entries["segment_items"] - batch.first])
            indexed += len(kept)
            segments += len(entries["segment_lengths"])
            counts["items_read"] += len(batch.ids)
            counts["items_indexed"] += len(kept)
            counts["items_too_short"] += len(batch.ids) - len(kept)
            counts["ngrams"] += len(hashes)
            counts["near_match_segments"] += len(entries["segment_lengths"])
    bits = _bitmap_bits(grams.count + seeds.count)
    bitmap = np.lib.format.open_memmap(folder / "bitmap.npy", mode="w+", dtype=np.uint8, shape=(1 << (bits - 3),))
    for sorted_hashes in grams.merge([out["hashes"], out["items"]]):
        _set_bits(bitmap, sorted_hashes, bits)
    for sorted_hashes in seeds.merge([out["seed_hashes"], out["seed_segments"], out["seed_positions"]]):
        _set_bits(bitmap, sorted_hashes, bits)
    bitmap.flush()
    del bitmap
    for name, column in out.items():
        column.save(folder / f"{name}.npy")
    meta = {
        "ngram": settings.ngram,
        "min_matches": settings.min_matches,
        "near_match_min_words": settings.near_match_min_words,
        "set_names": [s.name for s in settings.sets],
        "set_ngrams": [s.ngram or settings.ngram for s in settings.sets],
        "lengths": sorted(lengths, reverse=True),
        "seed_lengths": sorted(seed_lengths, reverse=True),
        "set_stats": stats,
    }
    (folder / "index.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


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

    Per set: items read, indexed and too short, n-grams, near-match segments, items found in the corpus
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
        "near_match_min_words": index.near_match_min_words,
        "index_bytes": index.nbytes,
        "sets": {
            name: {**index.set_stats[name], "items_found": len(found[name]), "docs_removed": removed[name]}
            for name in index.set_names
        },
    }
