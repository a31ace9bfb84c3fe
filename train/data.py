"""Streaming, exactly resumable loader over memory-mapped token shards.

The whole order is a pure function of the seed, so resume needs one number:

* A shard's token stream (each document followed by its end-of-text token) is cut into windows of
  `seq_len + 1` tokens, window k = tokens[k * seq_len : (k + 1) * seq_len + 1]; consecutive windows
  share one token, so every token but a shard's first is a target exactly once. The tail shorter
  than a window is not used.
* Epoch e of a dataset visits its windows in shard order shuffled by (seed, dataset, e), then
  shuffled within blocks of `shuffle_buffer` windows: a permutation, so no window repeats or is
  skipped within an epoch, and reads stay within a bounded region of the data at a time.
* Several datasets are mixed by weights: the global stream is cut into chunks of `MIX_CHUNK`
  positions, each holding every dataset's share (largest-remainder rounding) in a seeded order.
* Rank r of `world` takes global positions start + s * world + r; its batch i is samples
  [i * batch_size, (i + 1) * batch_size); DataLoader worker w of W makes batches i = w, w + W, ...,
  which is the order the DataLoader hands them out. The state is the count of global positions
  consumed, so a resume (even with another world size, batch size or worker count) continues
  exactly where the run stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from pipelines.errors import GristmillError
from tokenizer.shards import TokenShards

MIX_CHUNK = 4096


class TokenSplit:
    """One split ("train" or "val") of a token directory, opened with `tokenizer.shards.TokenShards`.

    The memory maps are reopened lazily in each process (DataLoader workers included) instead of
    being pickled, which would copy whole shards.
    """

    def __init__(self, root: str | Path, split: str):
        self.root = Path(root)
        self.split = split
        opened = TokenShards.open(self.root)
        info = opened.manifest["splits"].get(split)
        if info is None:
            raise GristmillError(f"{self.root / 'manifest.json'}: no split {split!r} (has {sorted(opened.manifest['splits'])})")
        self.vocab_size = opened.vocab_size
        self.eot_id = opened.eot_id
        self.tokenizer_sha256 = opened.manifest.get("tokenizer_sha256")
        self.tokens, self.docs, self.bytes = int(info["tokens"]), int(info["docs"]), int(info["bytes"])
        self.shard_tokens = [int(s["tokens"]) for s in info["shards"]]
        self._opened: TokenShards | None = opened
        self._arrays: list[np.ndarray] | None = None

    def __getstate__(self):
        return {**self.__dict__, "_opened": None, "_arrays": None}

    def arrays(self) -> list[np.ndarray]:
        """Each shard's tokens: plain ndarray views of the memory maps (slicing a np.memmap is ~10x slower)."""
        if self._arrays is None:
            if self._opened is None:
                self._opened = TokenShards.open(self.root)
            self._arrays = [np.asarray(s.tokens) for s in self._opened.splits[self.split]]
        return self._arrays

    def tokens_of(self, shard: int) -> np.ndarray:
        return self.arrays()[shard]

    def windows_per_shard(self, seq_len: int) -> np.ndarray:
        return np.array([max(0, (n - 1) // seq_len) for n in self.shard_tokens], dtype=np.int64)

    def __repr__(self):
        return f"TokenSplit({str(self.root)!r}, {self.split!r})"


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in keys])


class WindowOrder:
    """Maps a dataset's stream position j (over all epochs) to (shard, window), shuffled per epoch."""

    def __init__(self, windows: np.ndarray, seed: int, dataset: int, shuffle_buffer: int, shuffle: bool):
        self.windows = windows
        self.total = int(windows.sum())
        self.seed, self.dataset, self.buffer, self.shuffle = seed, dataset, shuffle_buffer, shuffle
        self._epochs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._blocks: dict[tuple[int, int], np.ndarray] = {}

    def _epoch(self, e: int):
        got = self._epochs.get(e)
        if got is None:
            n = len(self.windows)
            order = _rng(self.seed, self.dataset, e, 0).permutation(n) if self.shuffle else np.arange(n)
            starts = np.concatenate(([0], np.cumsum(self.windows[order])[:-1]))
            got = (order, starts)
            if len(self._epochs) > 4:
                self._epochs.clear()
            self._epochs[e] = got
        return got

    def _block(self, e: int, b: int) -> np.ndarray:
        got = self._blocks.get((e, b))
        if got is None:
            size = min(self.buffer, self.total - b * self.buffer)
            got = _rng(self.seed, self.dataset, e, 1, b).permutation(size) if self.shuffle else np.arange(size)
            if len(self._blocks) > 16:
                self._blocks.clear()
            self._blocks[(e, b)] = got
        return got

    def locate(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard, window) of increasing stream positions j, handled in runs of one epoch and block."""
        first, last = divmod(int(j[0]), self.total), divmod(int(j[-1]), self.total)
        if first[0] == last[0] and first[1] // self.buffer == last[1] // self.buffer:
            return self._run(first[0], first[1] // self.buffer, j - (first[0] * self.total + first[1] // self.buffer * self.buffer))
        epoch, pos = np.divmod(j, self.total)
        block, within = np.divmod(pos, self.buffer)
        shard = np.empty_like(pos)
        window = np.empty_like(pos)
        cuts = np.flatnonzero((np.diff(epoch) != 0) | (np.diff(block) != 0)) + 1
        for run in np.split(np.arange(len(j)), cuts):
            shard[run], window[run] = self._run(int(epoch[run][0]), int(block[run][0]), within[run])
        return shard, window

    def _run(self, e: int, b: int, within: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ordered = self._block(e, b)[within]
        ordered += b * self.buffer
        order, starts = self._epoch(e)
        # Shards with no windows share a start with the next one; searchsorted "right" skips them.
        k = np.searchsorted(starts, ordered, side="right") - 1
        return order[k], ordered - starts[k]


class Mixture:
    """Maps global stream positions to (dataset, position within that dataset's stream) by weights."""

    def __init__(self, weights: list[float], seed: int):
        w = np.asarray(weights, dtype=np.float64)
        if len(w) == 0 or (w <= 0).any():
            raise GristmillError(f"dataset weights must be positive, got {list(weights)}")
        share = w / w.sum() * MIX_CHUNK
        counts = np.floor(share).astype(np.int64)
        for i in np.argsort(-(share - counts), kind="stable")[: MIX_CHUNK - counts.sum()]:
            counts[i] += 1
        if (counts == 0).any():
            raise GristmillError(f"dataset weights {list(weights)}: a weight below 1/{MIX_CHUNK} of the total is too small")
        self.counts, self.seed = counts, seed
        self._chunks: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _chunk(self, c: int):
        got = self._chunks.get(c)
        if got is None:
            pattern = _rng(self.seed, 0x6D6978, c).permutation(np.repeat(np.arange(len(self.counts)), self.counts))
            rank = np.empty(MIX_CHUNK, dtype=np.int64)
            for d in range(len(self.counts)):
                rank[pattern == d] = np.arange(self.counts[d])
            if len(self._chunks) > 8:
                self._chunks.clear()
            got = self._chunks[c] = (pattern, rank)
        return got

    def locate(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.counts) == 1:
            return np.zeros_like(q), q
        chunk, offset = np.divmod(q, MIX_CHUNK)
        dataset = np.empty_like(q)
        index = np.empty_like(q)
        for c in np.unique(chunk):
            sel = chunk == c
            pattern, rank = self._chunk(int(c))
            d = pattern[offset[sel]]
            dataset[sel] = d
            index[sel] = c * self.counts[d] + rank[offset[sel]]
        return dataset, index


class PackedStream(IterableDataset):
    """Endless batches of packed sequences for one DDP rank; see the module docstring for the order.

    Each batch is a dict: "input" and "target" (batch_size, seq_len) int64, and "doc_ids" when
    `doc_mask` is on (the index of the document each input token belongs to, for attention masking).
    """

    def __init__(
        self,
        splits: list[TokenSplit],
        weights: list[float],
        seq_len: int,
        batch_size: int,
        seed: int = 0,
        shuffle_buffer: int = 8192,
        rank: int = 0,
        world: int = 1,
        doc_mask: bool = False,
        shuffle: bool = True,
    ):
        if len(splits) != len(weights):
            raise GristmillError(f"{len(splits)} token datasets but {len(weights)} weights")
        for s in splits[1:]:
            if (s.eot_id, s.tokenizer_sha256) != (splits[0].eot_id, splits[0].tokenizer_sha256):
                raise GristmillError(f"{s.root} was tokenized differently from {splits[0].root} (eot id or tokenizer hash)")
        self.splits, self.seq_len, self.batch_size = splits, seq_len, batch_size
        self.rank, self.world, self.doc_mask = rank, world, doc_mask
        self.eot_id = splits[0].eot_id
        self.orders = []
        for d, split in enumerate(splits):
            windows = split.windows_per_shard(seq_len)
            if windows.sum() == 0:
                raise GristmillError(f"{split.root} ({split.split}): no shard holds seq_len + 1 = {seq_len + 1} tokens")
            self.orders.append(WindowOrder(windows, seed, d, shuffle_buffer, shuffle))
        self.mixture = Mixture(weights, seed)
        self.start = 0  # global stream position where iteration begins
        self._strides = np.arange(batch_size, dtype=np.int64) * world

    def positions(self, i: int) -> np.ndarray:
        """Global stream positions of this rank's batch i (counted from `start`)."""
        return self._strides + (self.start + i * self.batch_size * self.world + self.rank)

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        q = self.positions(i)
        dataset, j = self.mixture.locate(q)
        out = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        n = self.seq_len + 1
        for d in range(len(self.splits)) if len(self.splits) > 1 else (0,):
            rows = np.flatnonzero(dataset == d) if len(self.splits) > 1 else np.arange(len(q))
            if not len(rows):
                continue
            shard, window = self.orders[d].locate(j[rows])
            arrays = self.splits[d].arrays()
            for row, sh, a in zip(rows.tolist(), shard.tolist(), (window * self.seq_len).tolist()):
                out[row] = arrays[sh][a : a + n]
        return as_batch(out, self.eot_id if self.doc_mask else None)

    def __iter__(self):
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        i = worker
        while True:
            yield self.batch(i)
            i += workers


def as_batch(windows: np.ndarray, eot_id: int | None) -> dict[str, torch.Tensor]:
    """Input/target views of (B, seq_len + 1) windows, plus "doc_ids" when an eot id is given."""
    t = torch.from_numpy(windows)
    batch = {"input": t[:, :-1], "target": t[:, 1:]}
    if eot_id is not None:
        is_eot = windows[:, :-1] == eot_id
        # The end-of-text token belongs to the document it ends.
        batch["doc_ids"] = torch.from_numpy(np.cumsum(is_eot, axis=1) - is_eot)
    return batch


class StreamingLoader:
    """Iterates a PackedStream through a DataLoader and counts what the caller consumed.

    `state_dict()` is the number of global stream positions consumed; batches the workers had
    prefetched but the caller never took are simply made again after a resume.
    """

    def __init__(self, stream: PackedStream, num_workers: int = 0, pin_memory: bool = False):
        self.stream, self.num_workers, self.pin_memory = stream, num_workers, pin_memory
        self.consumed = 0

    @property
    def per_batch(self) -> int:
        return self.stream.batch_size * self.stream.world

    def __iter__(self):
        self.stream.start = self.consumed
        loader = DataLoader(
            self.stream,
            batch_size=None,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            prefetch_factor=4 if self.num_workers else None,
        )
        for batch in loader:
            self.consumed += self.per_batch
            yield batch

    def state_dict(self) -> dict:
        return {"consumed": self.consumed, "seq_len": self.stream.seq_len}

    def load_state_dict(self, state: dict) -> None:
        if state["seq_len"] != self.stream.seq_len:
            raise GristmillError(f"checkpoint's loader used seq_len {state['seq_len']}, this run {self.stream.seq_len}")
        self.consumed = int(state["consumed"])


def eval_windows(
    split: TokenSplit, seq_len: int, batch_size: int, rank: int, world: int, max_batches: int | None, eot_id: int | None
):
    """Batches of the split's windows in file order for this rank (window k goes to rank k mod world).

    With `max_batches`, every rank stops after that many batches. `eot_id` adds "doc_ids".
    """
    rows: list[np.ndarray] = []
    made = 0
    k = 0
    for sh, n in enumerate(split.windows_per_shard(seq_len).tolist()):
        mm = split.tokens_of(sh)
        for w in range(n):
            if k % world == rank:
                a = w * seq_len
                rows.append(np.asarray(mm[a : a + seq_len + 1], dtype=np.int64))
                if len(rows) == batch_size:
                    yield as_batch(np.stack(rows), eot_id)
                    rows, made = [], made + 1
                    if max_batches is not None and made >= max_batches:
                        return
            k += 1
    if rows:
        yield as_batch(np.stack(rows), eot_id)
