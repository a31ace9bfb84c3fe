"""The streaming loader: exact coverage per epoch across ranks and workers, mixing, exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gristmill.errors import GristmillError
from train.data import PackedStream, RandomPermutation, StreamingLoader, TokenSplit, eval_batches, eval_sample, split_batch
from train_support import counter_docs, write_token_dir

EOT = 2**31
SEQ = 16


@pytest.fixture(scope="module")
def counter_dir(tmp_path_factory):
    """Three train shards (one too short to hold a window) of globally unique tokens."""
    docs = counter_docs(120, seed=1, max_len=40)
    docs.insert(100, np.arange(10**8, 10**8 + 3))
    return write_token_dir(
        tmp_path_factory.mktemp("tok"), {"train": docs[:101], "val": docs[101:]}, vocab_size=EOT + 1,
        eot_id=EOT, dtype="uint32", docs_per_shard=50,
    )


def all_windows(split: TokenSplit) -> list[tuple]:
    out = []
    for sh, n in enumerate(split.windows_per_shard(SEQ)):
        mm = split.tokens_of(sh)
        out += [tuple(mm[w * SEQ : w * SEQ + SEQ + 1].tolist()) for w in range(n)]
    return out


def rows(batch) -> list[tuple]:
    return [tuple(r) for r in batch["tokens"].tolist()]


def take(loader, n_batches):
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n_batches:
            break
    return out


def test_every_window_exactly_once_per_epoch_across_2_ranks_x_2_workers(counter_dir):
    split = TokenSplit(counter_dir, "train")
    expected = all_windows(split)
    n, world, batch = len(expected), 2, 3
    assert len(set(expected)) == n > 40 and split.windows_per_shard(SEQ)[-1] == 0

    per_rank = {}
    for rank in range(world):
        stream = PackedStream([split], [1.0], SEQ, batch, seed=7, rank=rank, world=world)
        # Samples of this rank at global positions below 2 * n: two full epochs.
        wanted = len(range(rank, 2 * n, world))
        got = [r for b in take(StreamingLoader(stream, num_workers=2), -(-wanted // batch)) for r in rows(b)]
        per_rank[rank] = got[:wanted]
    # Rank r's sample s sits at global position s * world + r: interleave back into global order.
    order = [per_rank[q % world][q // world] for q in range(2 * n)]
    epoch0, epoch1 = order[:n], order[n:]
    assert sorted(epoch0) == sorted(expected)
    assert sorted(epoch1) == sorted(expected)
    assert epoch0 != epoch1 and epoch0 != expected  # shuffled, and differently per epoch


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 65, 1000, 4099])
def test_random_permutation_is_a_bijection_fixed_by_its_key(n):
    got = RandomPermutation(n, 3, 0, 1)(np.arange(n))
    assert sorted(got.tolist()) == list(range(n))
    assert RandomPermutation(n, 3, 0, 1)(np.arange(n)).tolist() == got.tolist()
    if n >= 64:
        other = RandomPermutation(n, 3, 0, 2)(np.arange(n))
        assert (other != got).mean() > 0.9
        # No trace of the input order: neighbours land far apart, and the order correlates with nothing.
        assert np.median(np.abs(np.diff(got))) > n / 8
        assert abs(np.corrcoef(np.arange(n), got)[0, 1]) < 0.15


SOURCE_SPAN = 10**7
SOURCE_DOCS = [800, 600, 400, 200]


@pytest.fixture(scope="module")
def sources_dir(tmp_path_factory):
    """Four sources written one after the other (as curated shards hold rows sorted by source-prefixed id)."""
    docs = []
    for s, n in enumerate(SOURCE_DOCS):
        docs += counter_docs(n, seed=10 + s, start=s * SOURCE_SPAN, max_len=60)
    return write_token_dir(tmp_path_factory.mktemp("sources"), {"train": docs}, EOT + 1, EOT, "uint32", docs_per_shard=100)


def window_sources(windows) -> np.ndarray:
    """The source of each window: that of its first token that is not an end of text."""
    w = np.asarray(windows, dtype=np.int64)
    first = np.where(w[:, 0] != EOT, w[:, 0], w[:, 1])
    return first // SOURCE_SPAN


def mix_deviation(labels: np.ndarray, batch: int, shares: np.ndarray) -> float:
    """The largest |share of a source in a batch - its corpus share|, in binomial standard deviations."""
    batches = labels[: len(labels) // batch * batch].reshape(-1, batch)
    got = np.stack([(batches == s).mean(axis=1) for s in range(len(shares))], axis=1)
    return float((np.abs(got - shares) / np.sqrt(shares * (1 - shares) / batch)).max())


def test_every_batch_has_the_corpus_source_mix_though_sources_are_written_in_runs(sources_dir):
    split = TokenSplit(sources_dir, "train")
    windows = all_windows(split)
    labels = window_sources(windows)
    shares = np.bincount(labels) / len(labels)
    batch = 100
    assert len(split.shard_tokens) > 10 and len(labels) // batch > 30
    # File order (what a shard-order or block shuffle approaches at scale) fails the bound by far...
    assert mix_deviation(labels, batch, shares) > 15
    # ...every batch of the loader's first epoch, on each of 2 ranks, meets it.
    for rank in range(2):
        stream = PackedStream([split], [1.0], SEQ, batch // 2, seed=0, rank=rank, world=2)
        got = np.concatenate([window_sources(rows(stream.batch(i))) for i in range(len(labels) // batch)])
        assert mix_deviation(got, batch // 2, shares) < 4.5


def test_shuffle_is_deterministic_and_seeded(counter_dir):
    split = TokenSplit(counter_dir, "train")
    make = lambda seed: rows(PackedStream([split], [1.0], SEQ, 20, seed=seed).batch(0))
    assert make(3) == make(3)
    assert make(3) != make(4)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_is_exact_with_workers(counter_dir, workers):
    split = TokenSplit(counter_dir, "train")
    make = lambda: StreamingLoader(
        PackedStream([split], [1.0], SEQ, 4, seed=5), num_workers=workers
    )
    reference = take(make(), 12)
    first = make()
    take(first, 5)
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    after = take(resumed, 7)
    for ref, got in zip(reference[5:], after):
        assert torch.equal(ref["tokens"], got["tokens"])


def test_resume_with_a_different_world_size_continues_the_same_stream(counter_dir):
    split = TokenSplit(counter_dir, "train")
    single = StreamingLoader(PackedStream([split], [1.0], SEQ, 8, seed=2))
    reference = take(single, 4)
    state = StreamingLoader(PackedStream([split], [1.0], SEQ, 8, seed=2))
    take(state, 3)
    halves = []
    for rank in range(2):
        loader = StreamingLoader(PackedStream([split], [1.0], SEQ, 4, seed=2, rank=rank, world=2))
        loader.load_state_dict(state.state_dict())
        halves.append(rows(take(loader, 1)[0]))
    interleaved = [halves[q % 2][q // 2] for q in range(8)]
    assert interleaved == rows(reference[3])


def test_doc_ids_count_documents_and_eot_belongs_to_its_document(counter_dir):
    split = TokenSplit(counter_dir, "train")
    inputs, targets, doc_ids = split_batch(PackedStream([split], [1.0], SEQ, 8).batch(0)["tokens"], EOT)
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    for x, ids in zip(inputs.tolist(), doc_ids.tolist()):
        for t in range(1, SEQ):
            assert ids[t] == ids[t - 1] + (x[t - 1] == EOT)


def test_mixture_follows_weights_and_uses_each_dataset_once_per_epoch(tmp_path):
    a = write_token_dir(tmp_path / "a", {"train": counter_docs(200, seed=3)}, EOT + 1, EOT, "uint32")
    b = write_token_dir(tmp_path / "b", {"train": counter_docs(200, seed=4, start=10**7)}, EOT + 1, EOT, "uint32")
    splits = [TokenSplit(a, "train"), TokenSplit(b, "train")]
    stream = PackedStream(splits, [3.0, 1.0], SEQ, 4096)
    got = rows(stream.batch(0)) + rows(stream.batch(1))
    from_b = sum(r[0] >= 10**7 for r in got if r[0] != EOT) + sum(r[1] >= 10**7 for r in got if r[0] == EOT)
    assert from_b == 2 * 1024  # 1/4 of each 4096-position chunk, exactly
    windows_a = all_windows(splits[0])
    known_a = set(windows_a)
    seen_a = [r for r in got if r in known_a]
    # Dataset a's first epoch is a permutation of its windows.
    assert sorted(seen_a[: len(windows_a)]) == sorted(windows_a)


def eval_rows(split, windows, batch_size, world) -> list[tuple]:
    got = []
    for rank in range(world):
        for tokens, n in eval_batches(split, SEQ, batch_size, windows, rank, world):
            assert tokens.shape == (batch_size, SEQ + 1)  # the last batch is padded to the full size
            got += [tuple(r) for r in tokens[:n].tolist()]
    return got


def test_eval_covers_the_whole_split_once_across_ranks(counter_dir):
    split = TokenSplit(counter_dir, "val")
    every = eval_sample(split, SEQ, None, seed=0)
    for world in (1, 2, 3):
        assert sorted(eval_rows(split, every, 5, world)) == sorted(all_windows(split))


def test_eval_sample_is_spread_over_the_split_and_the_same_for_any_world_size(counter_dir):
    split = TokenSplit(counter_dir, "train")
    total = len(all_windows(split))
    sample = eval_sample(split, SEQ, 10, seed=0)
    assert len(set(sample.tolist())) == 10 and (np.diff(sample) > 0).all()
    # One window in each tenth of the split, not the first ten windows.
    assert (sample * 10 // total).tolist() == list(range(10))
    assert eval_sample(split, SEQ, 10, seed=0).tolist() == sample.tolist() != eval_sample(split, SEQ, 10, seed=1).tolist()
    one = sorted(eval_rows(split, sample, 4, 1))
    assert sorted(eval_rows(split, sample, 3, 2)) == one == sorted(eval_rows(split, sample, 2, 4))
    assert len(one) == 10


def test_bad_token_dirs_fail_with_the_file_named(tmp_path, counter_dir):
    with pytest.raises(GristmillError, match="no token manifest"):
        TokenSplit(tmp_path, "train")
    broken = write_token_dir(tmp_path / "t", {"train": counter_docs(5, seed=1)}, EOT + 1, EOT, "uint32")
    (broken / "train/part-00000.bin").write_bytes(b"\0" * 8)
    with pytest.raises(GristmillError, match="part-00000.bin: size does not match"):
        TokenSplit(broken, "train")
    with pytest.raises(GristmillError, match="no split 'test'"):
        TokenSplit(counter_dir, "test")
