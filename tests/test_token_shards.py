"""`gristmill tokenize` shards: offsets, split, dtype boundary, determinism, reader; and `tokenizer eval`."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from gristmill.cli import main
from gristmill.errors import GristmillError
from tokenizer.evaluate import evaluate
from tokenizer.saved import load_tokenizer
from tokenizer.shards import TokenShards, token_dtype
from tokenizer.split import is_val, val_threshold
from tokenizer.tokenize import tokenize_dataset
from tokenizer.train import TokenizerTrainConfig, train_tokenizer
from dataset_fixtures import write_dataset
from tokenizer_data import real_docs

VAL_FRACTION = 0.2


@pytest.fixture(scope="module")
def docs(corpora):
    written = [
        {"id": "empty", "text": "", "source": "test", "lang": "en"},
        {"id": "literal-eot", "text": "before <|endoftext|> after <|pad|>", "source": "test", "lang": "en"},
    ]
    return real_docs(corpora, max_book_chunks=40) + written


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, docs):
    return write_dataset(tmp_path_factory.mktemp("dataset"), docs, shards=3)


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory, dataset_dir):
    out = tmp_path_factory.mktemp("tok")
    train_tokenizer(dataset_dir, out, TokenizerTrainConfig(vocab_size=800, val_fraction=VAL_FRACTION))
    return out


@pytest.fixture(scope="module")
def tokens_dir(tmp_path_factory, tok_dir, dataset_dir):
    out = tmp_path_factory.mktemp("tokens")
    tokenize_dataset(tok_dir, dataset_dir, out, shard_tokens=20_000, batch_docs=50)
    return out


def test_documents_round_trip_through_shards_in_order(tokens_dir, tok_dir, docs):
    shards = TokenShards.open(tokens_dir)
    tok, meta = load_tokenizer(tok_dir)
    threshold = val_threshold(VAL_FRACTION)
    expected = {"train": [d for d in docs if not is_val(d["id"], threshold)], "val": [d for d in docs if is_val(d["id"], threshold)]}
    assert expected["val"] and expected["train"]
    for split, split_docs in expected.items():
        got = [shard.doc(i) for shard in shards.splits[split] for i in range(shard.num_docs)]
        assert len(got) == len(split_docs)
        for doc, tokens in zip(split_docs, got):
            assert tokens[-1] == meta["eot_id"]
            assert meta["eot_id"] not in tokens[:-1]
            assert tokens.size == len(tok.encode(doc["text"]).ids) + 1
            assert tok.decode(tokens[:-1].tolist(), skip_special_tokens=False) == doc["text"]


def test_offsets_and_manifest_counts_are_consistent(tokens_dir, docs, tok_dir):
    manifest = json.loads((tokens_dir / "manifest.json").read_text())
    _, meta = load_tokenizer(tok_dir)
    assert manifest["format"] == "gristmill-tokens-v1"
    assert manifest["dtype"] == "uint16" and manifest["vocab_size"] == 800
    assert (manifest["eot_id"], manifest["pad_id"]) == (0, 1)
    assert manifest["tokenizer_sha256"] == hashlib.sha256((tok_dir / "tokenizer.json").read_bytes()).hexdigest() == meta["tokenizer_sha256"]
    assert manifest["val_fraction"] == VAL_FRACTION  # taken from the tokenizer's training config
    assert manifest["split_rule"].startswith("xxh64(id")
    threshold = val_threshold(VAL_FRACTION)
    for split, info in manifest["splits"].items():
        split_docs = [d for d in docs if is_val(d["id"], threshold) == (split == "val")]
        assert info["docs"] == len(split_docs) == sum(s["docs"] for s in info["shards"])
        assert info["bytes"] == sum(len(d["text"].encode()) for d in split_docs)
        assert info["tokens"] == sum(s["tokens"] for s in info["shards"])
        for entry in info["shards"]:
            raw = (tokens_dir / entry["path"]).read_bytes()
            assert len(raw) == 2 * entry["tokens"]
            assert hashlib.sha256(raw).hexdigest() == entry["sha256"]
            idx = np.load(tokens_dir / entry["offsets"])
            assert idx.dtype == np.int64 and idx.size == entry["docs"] + 1
            assert idx[0] == 0 and idx[-1] == entry["tokens"] and np.all(np.diff(idx) >= 1)
            flat = np.frombuffer(raw, dtype="<u2")
            assert np.array_equal(np.flatnonzero(flat == 0) + 1, idx[1:])  # an eot ends every document, nowhere else
    assert len(manifest["splits"]["train"]["shards"]) > 1  # shard_tokens=20k split it


def test_reader_memory_maps_without_copying(tokens_dir):
    shards = TokenShards.open(tokens_dir)
    shard = shards.splits["train"][0]
    assert isinstance(shard.tokens, np.memmap) and shard.tokens.dtype == np.dtype("<u2")
    assert isinstance(shard.offsets, np.memmap)
    assert np.shares_memory(shard.doc(1), shard.tokens)
    assert shards.eot_id == 0 and shards.vocab_size == 800


def test_same_inputs_give_identical_bytes_whatever_batching_or_workers(tmp_path, tok_dir, dataset_dir, tokens_dir):
    tokenize_dataset(tok_dir, dataset_dir, tmp_path / "a", shard_tokens=20_000, batch_docs=7, workers=1)
    tokenize_dataset(tok_dir, dataset_dir, tmp_path / "b", shard_tokens=20_000, batch_docs=64, workers=2)
    for other in (tmp_path / "a", tmp_path / "b"):
        files = sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(tokens_dir) for p in tokens_dir.rglob("*") if p.is_file())
        for rel in files:
            assert (other / rel).read_bytes() == (tokens_dir / rel).read_bytes(), rel


def test_dtype_boundary():
    assert token_dtype(65536) == np.dtype("<u2")
    assert token_dtype(65537) == np.dtype("<u4")


def _tokenizer_of_size(path, vocab_size):
    """A byte-level BPE whose last id is vocab_size - 1 (= the eot token), to test shards at the dtype boundary."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {symbol: i for i, symbol in enumerate(alphabet)}
    vocab.update({f"filler{i}": i for i in range(len(vocab), vocab_size - 2)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.add_special_tokens(["<|pad|>", "<|endoftext|>"])
    path.mkdir()
    tok.save(str(path / "tokenizer.json"))
    return path


@pytest.mark.parametrize("vocab_size, dtype, width", [(65536, "uint16", 2), (65537, "uint32", 4)])
def test_tokenize_picks_dtype_at_the_uint16_boundary(tmp_path, vocab_size, dtype, width):
    dataset = write_dataset(tmp_path / "ds", [{"id": f"d{i}", "text": f"doc {i} ü", "source": "t"} for i in range(20)], shards=1)
    tok_path = _tokenizer_of_size(tmp_path / "tok", vocab_size)
    manifest = tokenize_dataset(tok_path, dataset, tmp_path / "tokens", val_fraction=0.0)
    assert manifest["dtype"] == dtype and manifest["vocab_size"] == vocab_size
    assert manifest["eot_id"] == vocab_size - 1  # the largest id must survive the dtype
    shard = TokenShards.open(tmp_path / "tokens").splits["train"][0]
    assert shard.tokens.dtype.itemsize == width
    assert (tmp_path / "tokens" / manifest["splits"]["train"]["shards"][0]["path"]).stat().st_size == width * shard.tokens.size
    assert [int(shard.doc(i)[-1]) for i in range(shard.num_docs)] == [vocab_size - 1] * 20


def test_tokenize_refuses_a_foreign_output_dir(tmp_path, tok_dir, dataset_dir):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(GristmillError, match="precious.txt"):
        tokenize_dataset(tok_dir, dataset_dir, tmp_path)


def test_eval_reports_bytes_per_token_by_group(tok_dir, dataset_dir, docs, tmp_path):
    small = tmp_path / "small"
    train_tokenizer(dataset_dir, small, TokenizerTrainConfig(vocab_size=300, val_fraction=VAL_FRACTION))
    report = evaluate([tok_dir, small], dataset_dir)
    tok, _ = load_tokenizer(tok_dir)
    held_out = [d for d in docs if is_val(d["id"], val_threshold(VAL_FRACTION))]
    groups = {(g["group"], g["name"]): g for g in report["groups"]}
    overall = groups[("overall", "all")]
    assert overall["docs"] == len(held_out)
    assert overall["bytes"] == sum(len(d["text"].encode()) for d in held_out)
    assert overall["tokens"][0] == sum(len(tok.encode(d["text"]).ids) for d in held_out)
    assert overall["bytes_per_token"][0] == round(overall["bytes"] / overall["tokens"][0], 4)
    # A larger vocabulary compresses better on held-out text.
    assert overall["bytes_per_token"][0] > overall["bytes_per_token"][1] > 1.0
    assert {name for group, name in groups if group == "source"} == {d["source"] for d in held_out}
    assert {name for group, name in groups if group == "lang"} == {d["lang"] for d in held_out}


def test_eval_without_held_out_docs_says_so(tok_dir, dataset_dir):
    with pytest.raises(GristmillError, match="no held-out documents"):
        evaluate([tok_dir], dataset_dir, val_fraction=0.0)


def test_cli_train_eval_tokenize(tmp_path, dataset_dir, capsys):
    tok = tmp_path / "tok"
    assert main(["tokenizer", "train", "--dataset", str(dataset_dir), "--output", str(tok), "--set", "vocab_size=500", "--set", "val_fraction=0.2"]) == 0
    assert json.loads((tok / "tokenizer_meta.json").read_text())["vocab_size"] == 500
    report = tmp_path / "eval.json"
    assert main(["tokenizer", "eval", "--tokenizer", str(tok), "--dataset", str(dataset_dir), "--compare", str(tok), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "overall" in out and "bytes/token" in out
    assert json.loads(report.read_text())["groups"][0]["bytes_per_token"][0] > 1
    assert main(["tokenize", "--tokenizer", str(tok), "--dataset", str(dataset_dir), "--output", str(tmp_path / "tokens")]) == 0
    assert TokenShards.open(tmp_path / "tokens").manifest["splits"]["val"]["docs"] > 0
    assert main(["tokenizer", "train", "--dataset", str(dataset_dir), "--output", str(tok), "--set", "vocab_size=10"]) == 2
    assert "vocab_size" in capsys.readouterr().err


def test_token_byte_table_sums_to_each_documents_utf8_length(tokens_dir, tok_dir, docs):
    """Special tokens count 0 bytes; tokens that hold part of a CJK character count their share exactly."""
    manifest = json.loads((tokens_dir / "manifest.json").read_text())
    table = np.load(tokens_dir / manifest["token_bytes"])
    _, meta = load_tokenizer(tok_dir)
    assert table.shape == (meta["vocab_size"],) and table[meta["eot_id"]] == 0 and table[meta["pad_id"]] == 0
    shards = TokenShards.open(tokens_dir)
    threshold = val_threshold(VAL_FRACTION)
    for split in ("train", "val"):
        split_docs = [d for d in docs if is_val(d["id"], threshold) == (split == "val")]
        got = [shard.doc(i) for shard in shards.splits[split] for i in range(shard.num_docs)]
        assert [int(table[t].sum()) for t in got] == [len(d["text"].encode("utf-8")) for d in split_docs]
        assert sum(int(table[s.tokens].sum()) for s in shards.splits[split]) == manifest["splits"][split]["bytes"]
