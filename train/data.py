"""Streaming, exactly resumable loader over memory-mapped token shards.

The whole order is a pure function of the seed, so resume needs one number:

* A shard's token stream (each document followed by its end-of-text token) is cut into windows of
  `seq_len + 1` tokens, window k = tokens[k * seq_len : (k + 1) * seq_len + 1]; consecutive windows
  share one token, so every token but a shard's first is a target exactly once. The tail shorter
  than a window is not used.
* Epoch e of a dataset visits all its windows, across all its shards, in the order of a seeded
  random bijection of [0, windows) keyed by (seed, dataset, e) (`RandomPermutation`): no window
  repeats or is skipped within an epoch, and every batch is a uniform draw from the whole
  dataset, so a corpus written source by source (as curated shards are, rows sorted by id)
  gives batches with the corpus' source mix instead of one source at a time.
* Several datasets are mixed by weights: the global stream is cut into chunks of `MIX_CHUNK`
  positions, each holding every dataset's share (largest-remainder rounding) in a seeded order.
* Rank r of `world` takes global positions start + s * world + r; its batch i is samples
  [i * batch_size, (i + 1) * batch_size); DataLoader worker w of W makes batches i = w, w + W, ...,
  which is the order the DataLoader hands them out. The state is the count of global positions
  consumed, so a resume (even with another world size, batch size or worker count) continues
  exactly where the run stopped.

Evaluation scores a fixed sample of the val split's windows (`eval_sample`: one per stratum, the
same whatever the world size), split among ranks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from gristmill.errors import GristmillError
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
        self.token_bytes = self._token_bytes(opened.manifest)
        self._opened: TokenShards | None = opened
        self._arrays: list[np.ndarray] | None = None

    def _token_bytes(self, manifest: dict) -> np.ndarray | None:
        """UTF-8 bytes per token id (0 for special tokens), from `gristmill tokenize`; None for older token dirs."""
        name = manifest.get("token_bytes")
        if name is None:
            return None
        table = np.load(self.root / name)
        if table.shape != (self.vocab_size,):
            raise GristmillError(f"{self.root / name}: {table.shape[0]} entries, vocab_size is {self.vocab_size}")
        return table

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


_MASK64 = np.uint64(2**64 - 1)


def _mix(x: np.ndarray, key: np.uint64) -> np.ndarray:
    """A 64-bit hash of x under key (the splitmix64 finalizer); uint64 arithmetic wraps."""
    z = (x ^ key) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class RandomPermutation:
    """A seeded pseudo-random bijection of [0, n), evaluated pointwise in O(1) memory.

    A balanced Feistel network (6 rounds, a keyed 64-bit hash as round function) permutes the
    2h-bit integers, 4**h >= n; values that land at n or above are sent through it again (cycle
    walking) until they fall inside [0, n), which keeps it a bijection of [0, n). A stored
    permutation of a large corpus' windows would take 8 bytes per window in every process.
    """

    ROUNDS = 6

    def __init__(self, n: int, *key: int):
        if n < 1:
            raise ValueError("a permutation needs n >= 1")
        self.n = n
        self.half = max(1, (int(n - 1).bit_length() + 1) // 2)
        self.keys = _rng(*key).integers(0, 2**64, size=self.ROUNDS, dtype=np.uint64)

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        h = np.uint64(self.half)
        mask = np.uint64((1 << self.half) - 1)
        left, right = x >> h, x & mask
        for key in self.keys:
            left, right = right, left ^ (_mix(right, key) & mask)
        return (left << h) | right

    def __call__(self, i: np.ndarray) -> np.ndarray:
        x = self._feistel(np.asarray(i, dtype=np.uint64))
        out = x >= np.uint64(self.n)
        while out.any():
            x[out] = self._feistel(x[out])
            out[out] = x[out] >= np.uint64(self.n)
        return x.astype(np.int64)


class WindowOrder:
    """Maps a dataset's stream position j (over all epochs) to (shard, window): epoch e visits all of
    the dataset's windows, across its shards, in the order of a random permutation keyed by
    (seed, dataset, e)."""

    BLOCK = 8192  # stream positions whose windows are computed together (numpy's per-call cost, amortized)

    def __init__(self, windows: np.ndarray, seed: int, dataset: int):
        self.total = int(windows.sum())
        self.seed, self.dataset = seed, dataset
        self.starts = np.concatenate(([0], np.cumsum(windows)[:-1]))
        self._blocks: dict[tuple[int, int], np.ndarray] = {}

    def _block(self, e: int, b: int) -> np.ndarray:
        """Global window indices of epoch e's positions [b * BLOCK, (b + 1) * BLOCK)."""
        got = self._blocks.get((e, b))
        if got is None:
            if len(self._blocks) > 16:
                self._blocks.clear()
            positions = np.arange(b * self.BLOCK, min((b + 1) * self.BLOCK, self.total), dtype=np.int64)
            got = self._blocks[(e, b)] = RandomPermutation(self.total, self.seed, self.dataset, e)(positions)
        return got

    def locate(self, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        epoch, pos = np.divmod(j, self.total)
        block, within = np.divmod(pos, self.BLOCK)
        g = np.empty_like(pos)
        for e, b in {(int(e), int(b)) for e, b in zip(epoch.tolist(), block.tolist())}:
            sel = (epoch == e) & (block == b)
            g[sel] = self._block(e, b)[within[sel]]
        # Shards with no windows share a start with the next one; searchsorted "right" skips them.
        shard = np.searchsorted(self.starts, g, side="right") - 1
        return shard, g - self.starts[shard]


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

    Each batch is {"tokens": (batch_size, seq_len + 1) int64}, one contiguous tensor: the
    DataLoader pins it, the loop copies it to the device in one non-blocking transfer and slices
    input and target there (`split_batch`).
    """

    def __init__(
        self,
        splits: list[TokenSplit],
        weights: list[float],
        seq_len: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
    ):
        if len(splits) != len(weights):
            raise GristmillError(f"{len(splits)} token datasets but {len(weights)} weights")
        for s in splits[1:]:
            if (s.eot_id, s.tokenizer_sha256) != (splits[0].eot_id, splits[0].tokenizer_sha256):
                raise GristmillError(f"{s.root} was tokenized differently from {splits[0].root} (eot id or tokenizer hash)")
        self.splits, self.seq_len, self.batch_size = splits, seq_len, batch_size
        self.rank, self.world = rank, world
        self.orders = []
        for d, split in enumerate(splits):
            windows = split.windows_per_shard(seq_len)
            if windows.sum() == 0:
                raise GristmillError(f"{split.root} ({split.split}): no shard holds seq_len + 1 = {seq_len + 1} tokens")
            self.orders.append(WindowOrder(windows, seed, d))
        self.mixture = Mixture(weights, seed)
        self.start = 0  # global stream position where iteration begins
        self._strides = np.arange(batch_size, dtype=np.int64) * world

    def positions(self, i: int) -> np.ndarray:
        """Global stream positions of this rank's batch i (counted from `start`)."""
        return self._strides + (self.start + i * self.batch_size * self.world + self.rank)

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        dataset, j = self.mixture.locate(self.positions(i))
        out = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        n = self.seq_len + 1
        for d in range(len(self.splits)):
            rows = np.flatnonzero(dataset == d) if len(self.splits) > 1 else np.arange(len(j))
            if not len(rows):
                continue
            shard, window = self.orders[d].locate(j[rows])
            arrays = self.splits[d].arrays()
            for row, sh, a in zip(rows.tolist(), shard.tolist(), (window * self.seq_len).tolist()):
                out[row] = arrays[sh][a : a + n]
        return {"tokens": torch.from_numpy(out)}

    def __iter__(self):
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        i = worker
        while True:
            yield self.batch(i)
            i += workers


def split_batch(tokens: torch.Tensor, eot_id: int | None):
    """(input, target, doc_ids) of a (B, seq_len + 1) token tensor, on its device; doc_ids only with an eot id.

    doc_ids[b, t] is the index, within the row, of the document input token t belongs to (the
    end-of-text token belongs to the document it ends), for attention masking.
    """
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    if eot_id is None:
        return inputs, targets, None
    is_eot = (inputs == eot_id).to(torch.int32)
    return inputs, targets, torch.cumsum(is_eot, dim=1) - is_eot


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


def eval_sample(split: TokenSplit, seq_len: int, n: int | None, seed: int) -> np.ndarray:
    """Global indices (over the split's shards, in order) of the windows evaluated: sorted, fixed by the seed.

    With n below the split's window count, one window is drawn from each of n equal strata of
    the split, so the sample spreads over the whole split (its sources, written one after the
    other, included) instead of taking the first windows; otherwise every window.
    """
    total = int(split.windows_per_shard(seq_len).sum())
    if n is None or n >= total:
        return np.arange(total, dtype=np.int64)
    edges = np.arange(n + 1, dtype=np.int64) * total // n
    return edges[:-1] + (_rng(seed, 0x76616C).random(n) * (edges[1:] - edges[:-1])).astype(np.int64)


def eval_batches(split: TokenSplit, seq_len: int, batch_size: int, windows: np.ndarray, rank: int, world: int):
    """(tokens (batch_size, seq_len + 1), rows that count) for this rank's share of `windows` (every world-th).

    The last batch is padded to the full size by repeating its first row (so a compiled model
    sees one shape); the padded rows are not counted.
    """
    per_shard = split.windows_per_shard(seq_len)
    starts = np.concatenate(([0], np.cumsum(per_shard)[:-1]))
    mine = windows[rank::world]
    arrays = split.arrays()
    for b in range(0, len(mine), batch_size):
        g = mine[b : b + batch_size]
        shard = np.searchsorted(starts, g, side="right") - 1
        out = np.empty((batch_size, seq_len + 1), dtype=np.int64)
        for row, sh, a in zip(range(len(g)), shard.tolist(), ((g - starts[shard]) * seq_len).tolist()):
            out[row] = arrays[sh][a : a + seq_len + 1]
        out[len(g) :] = out[0]
        yield torch.from_numpy(out), len(g)
