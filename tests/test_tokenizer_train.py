"""Byte-level BPE training, sampling, loading, round trip and special-token safety, on real text."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.errors import GristmillError
from gristmill.dataset import Dataset
from tokenizer.saved import CHAT_TOKENS, EOT, PAD, SPECIAL_TOKENS, load_tokenizer
from tokenizer.split import is_val, val_threshold
from tokenizer.train import Sample, TokenizerTrainConfig, train_tokenizer
from dataset_fixtures import write_dataset
from tokenizer_data import real_docs

VOCAB = 1200


@pytest.fixture(scope="module")
def docs(corpora):
    return real_docs(corpora)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory, docs):
    return write_dataset(tmp_path_factory.mktemp("dataset"), docs, shards=3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset_dir):
    out = tmp_path_factory.mktemp("tok")
    meta = train_tokenizer(dataset_dir, out, TokenizerTrainConfig(vocab_size=VOCAB, val_fraction=0.1))
    tok, loaded_meta = load_tokenizer(out)
    return out, meta, tok


def test_meta_records_vocab_specials_dataset_hash_and_sample(trained, dataset_dir, docs):
    out, meta, tok = trained
    assert meta["vocab_size"] == tok.get_vocab_size(with_added_tokens=True) == VOCAB
    assert meta["eot_id"] == tok.token_to_id(EOT) == 0
    assert meta["pad_id"] == tok.token_to_id(PAD) == 1
    assert meta["dataset_manifest_sha256"] == hashlib.sha256((dataset_dir / "manifest.json").read_bytes()).hexdigest()
    assert meta["tokenizer_sha256"] == hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest()
    assert json.loads((out / "tokenizer_meta.json").read_text()) == meta
    # With the default budget every training-split document is in the sample, and no validation document is.
    threshold = val_threshold(0.1)
    train_docs = [d for d in docs if not is_val(d["id"], threshold)]
    assert 0 < len(train_docs) < len(docs)
    assert meta["sample"]["docs"] == len(train_docs)
    assert meta["sample"]["bytes"] == sum(len(d["text"].encode()) for d in train_docs)
    assert meta["config"]["val_fraction"] == 0.1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_round_trip_arbitrary_unicode(trained, text):
    _, _, tok = trained
    assert tok.decode(tok.encode(text).ids, skip_special_tokens=False) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["<|endoftext|>", "<|pad|>", "<|", "|>", "endoftext", " ", "\n", "a", "é", "猫"]), max_size=30).map("".join))
def test_special_tokens_never_come_from_text(trained, text):
    _, meta, tok = trained
    ids = tok.encode(text).ids
    assert meta["eot_id"] not in ids and meta["pad_id"] not in ids
    assert tok.decode(ids, skip_special_tokens=False) == text


def test_chat_markers_are_reserved_and_never_come_from_text(trained):
    _, meta, tok = trained
    assert meta["special_tokens"] == {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    assert [tok.token_to_id(t) for t in CHAT_TOKENS] == [2, 3, 4, 5]
    text = "<|system|>x<|user|>hi<|end|><|assistant|>"
    ids = tok.encode(text).ids
    assert not set(ids) & {2, 3, 4, 5} and tok.decode(ids, skip_special_tokens=False) == text


def test_literal_endoftext_is_ordinary_bytes(trained):
    _, meta, tok = trained
    ids = tok.encode("end <|endoftext|> start").ids
    assert len(ids) > 3 and meta["eot_id"] not in ids


def test_training_is_deterministic(tmp_path, dataset_dir):
    config = TokenizerTrainConfig(vocab_size=600, val_fraction=0.1, sample_bytes=300_000, seed=3)
    a = train_tokenizer(dataset_dir, tmp_path / "a", config)
    b = train_tokenizer(dataset_dir, tmp_path / "b", config)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()
    assert a["sample"] == b["sample"]


def _sample_texts(dataset_dir, **options):
    sample = Sample(Dataset.open(dataset_dir), TokenizerTrainConfig(val_fraction=0.1, **options))
    texts = [t for batch in sample.batches() for t in batch]
    return sample, texts


def test_sample_respects_byte_budget_and_seed(dataset_dir):
    full, all_texts = _sample_texts(dataset_dir)
    budget = full.bytes // 3
    small, texts = _sample_texts(dataset_dir, sample_bytes=budget, seed=1)
    assert small.bytes == sum(len(t.encode()) for t in texts) <= budget
    assert small.bytes > budget // 2  # the rate aims at the budget, not far below it
    again, texts_again = _sample_texts(dataset_dir, sample_bytes=budget, seed=1)
    assert texts_again == texts
    _, other_seed = _sample_texts(dataset_dir, sample_bytes=budget, seed=2)
    assert set(other_seed) != set(texts)
    assert set(texts) <= set(all_texts)


def test_sample_caps_document_chars(dataset_dir):
    _, full_texts = _sample_texts(dataset_dir)
    sample, texts = _sample_texts(dataset_dir, max_doc_chars=50)
    assert texts == [t[:50] for t in full_texts]
    assert sample.truncated == sum(1 for t in full_texts if len(t) > 50) > 0


def test_custom_split_pattern_is_used(tmp_path, dataset_dir, trained):
    # Splitting on every character: merges can only join the bytes of one character, never two characters.
    train_tokenizer(dataset_dir, tmp_path, TokenizerTrainConfig(vocab_size=600, val_fraction=0.1, split_pattern=r"[\s\S]"))
    tok, meta = load_tokenizer(tmp_path)
    assert meta["vocab_size"] > 258  # multi-byte characters were merged
    def longest_token_chars(t, n):  # whole characters in one token; partial UTF-8 decodes to U+FFFD
        return max(len(t.decode([i]).replace("\ufffd", "")) for i in range(n))

    assert longest_token_chars(tok, meta["vocab_size"]) == 1
    assert longest_token_chars(trained[2], VOCAB) > 1


def test_bad_split_pattern_is_rejected():
    with pytest.raises(ValueError, match="split_pattern"):
        TokenizerTrainConfig(split_pattern="(unclosed")


def test_missing_manifest_names_the_file(tmp_path):
    with pytest.raises(GristmillError, match="manifest.json"):
        train_tokenizer(tmp_path, tmp_path / "tok", TokenizerTrainConfig())


def test_load_tokenizer_without_file_names_it(tmp_path):
    with pytest.raises(GristmillError, match="tokenizer.json"):
        load_tokenizer(tmp_path)


def test_options_come_from_a_config_section_and_set(repo, tmp_path):
    from gristmill.config import ConfigError, load_section
    from tokenizer.config import TokenizeConfig

    run_config = repo / "configs" / "sample.yaml"  # its `tokenizer:` section
    config = load_section(TokenizerTrainConfig, run_config, "tokenizer", ["seed=3"])
    assert (config.vocab_size, config.min_frequency, config.seed) == (2048, 2, 3)
    assert load_section(TokenizeConfig, None, "tokenize", ["workers=2"]).workers == 2
    alone = tmp_path / "tok.yaml"
    alone.write_text("vocab_sise: 300\n")
    with pytest.raises(ConfigError, match=f"{alone}: unknown key 'vocab_sise'; allowed keys here: .*vocab_size"):
        load_section(TokenizerTrainConfig, alone, "tokenizer")
