"""Generation: the KV cache changes nothing but the cost, sampling options, streaming, `gristmill generate`."""

from __future__ import annotations

import pytest
import torch

from model_support import save_checkpoint, tiny_model, tiny_tokenizer
from gristmill.cli import main
from tokenizer.saved import load_tokenizer
from train.generate import StreamDecoder, generate_ids, next_token
from train.model import KVCache
from train_support import one_thread  # noqa: F401 (one_thread: an autouse fixture)


@pytest.fixture(scope="module")
def tokdir(tmp_path_factory):
    return tiny_tokenizer(tmp_path_factory.mktemp("tok"))


@torch.no_grad()
def test_cached_forward_equals_full_forward():
    model = tiny_model(448)
    x = torch.randint(0, 448, (2, 40))
    full = model(x)
    cache = KVCache(model.cfg, 2, 40)
    pieces = [model(x[:, :17], cache=cache)]  # a prefill, then one token at a time, then a chunk
    pieces += [model(x[:, t : t + 1], cache=cache) for t in range(17, 30)]
    pieces.append(model(x[:, 30:], cache=cache))
    assert cache.pos == 40
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="longer than"):
        model(x[:, :1], cache=cache)


def test_greedy_generation_is_the_same_with_and_without_cache_and_deterministic():
    model = tiny_model(448, seed=3)
    prompt = [5, 9, 11, 40]
    cached = list(generate_ids(model, prompt, 30, temperature=0))
    uncached = list(generate_ids(model, prompt, 30, temperature=0, use_cache=False))
    assert len(cached) == 30 and cached == uncached == list(generate_ids(model, prompt, 30, temperature=0))
    # Naive greedy by hand: argmax of a full forward over the growing sequence.
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(30):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    assert cached == ids[len(prompt):]


def test_generation_stops_at_a_stop_id_and_at_seq_len():
    model = tiny_model(448, seed=3)
    tokens = list(generate_ids(model, [5, 9], 30, temperature=0))
    stop = tokens[4]
    first = tokens.index(stop)
    assert list(generate_ids(model, [5, 9], 30, temperature=0, stop_ids={stop})) == tokens[: first + 1]
    assert len(list(generate_ids(model, list(range(120)), 50, temperature=0))) == 128 - 120
    with pytest.raises(ValueError, match="no room"):
        list(generate_ids(model, list(range(128)), 5))


def test_vocab_limit_never_samples_padding_rows():
    model = tiny_model(448, seed=1)
    with torch.no_grad():
        model.embed.weight[400:] *= 50  # make the padding rows the likeliest
    assert any(t >= 400 for t in generate_ids(model, [1, 2, 3], 20, temperature=0))
    for seed in range(3):
        assert all(t < 400 for t in generate_ids(model, [1, 2, 3], 20, temperature=1.0, seed=seed, vocab_limit=400))


def test_sampling_options():
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0, 1.0])
    g = torch.Generator().manual_seed(0)
    assert next_token(logits, 0) == 1
    assert {next_token(logits, 1.0, top_k=1, generator=g) for _ in range(20)} == {1}
    assert {next_token(logits, 1.0, top_k=2, generator=g) for _ in range(200)} == {1, 2}
    # p(1) ~ 0.47, p(2) ~ 0.43: top_p 0.5 keeps both (the first alone has less than 0.5), 0.4 only the first.
    assert {next_token(logits, 1.0, top_p=0.5, generator=g) for _ in range(200)} == {1, 2}
    assert {next_token(logits, 1.0, top_p=0.4, generator=g) for _ in range(50)} == {1}
    model = tiny_model(448, seed=2)
    a = list(generate_ids(model, [7, 8], 20, temperature=1.0, seed=5))
    assert a == list(generate_ids(model, [7, 8], 20, temperature=1.0, seed=5))
    assert a != list(generate_ids(model, [7, 8], 20, temperature=1.0, seed=6))


def test_stream_decoder_holds_back_split_characters(tokdir):
    tok, _ = load_tokenizer(tokdir)
    text = "naïve café 日本 ok"
    decoder = StreamDecoder(tok)
    pieces = [decoder.add(t) for t in tok.encode(text).ids]
    assert "".join(pieces) + decoder.flush() == text
    assert not any("\ufffd" in p for p in pieces)


def test_generate_command_streams_a_greedy_completion(tmp_path, tokdir, capsys):
    tok, _ = load_tokenizer(tokdir)
    model = tiny_model(448, seed=4)
    save_checkpoint(tmp_path / "run", model)
    args = ["generate", "--checkpoint", str(tmp_path / "run"), "--tokenizer", str(tokdir),
            "--prompt", "The sky <|endoftext|>", "--temperature", "0", "--max-new-tokens", "12"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args + ["--no-cache"]) == 0
    assert capsys.readouterr().out == first
    prompt = tok.encode("The sky <|endoftext|>").ids
    assert tok.token_to_id("<|endoftext|>") not in prompt  # the literal text is bytes, not the special token
    expected = list(generate_ids(model, prompt, 12, temperature=0, stop_ids={0}, vocab_limit=tok.get_vocab_size()))
    expected = [t for t in expected if t != 0]
    assert first == tok.decode(expected, skip_special_tokens=False) + "\n"


def test_generate_chat_uses_the_template_and_needs_chat_tokens(tmp_path, tokdir, capsys):
    save_checkpoint(tmp_path / "run", tiny_model(448, seed=4))
    base = ["generate", "--checkpoint", str(tmp_path / "run"), "--temperature", "0", "--max-new-tokens", "5"]
    assert main(base + ["--tokenizer", str(tokdir), "--chat", "--prompt", "Hi"]) == 0
    assert capsys.readouterr().out.endswith("\n")
    # A tokenizer from before the chat markers were reserved: a clear refusal.
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokdir / "tokenizer.json"))
    old = tmp_path / "old-tok"
    old.mkdir()
    data = tok.to_str().replace("<|assistant|>", "<|unused|>")
    (old / "tokenizer.json").write_text(data)
    assert main(base + ["--tokenizer", str(old), "--chat", "--prompt", "Hi"]) != 0
    assert "reserves no chat tokens (<|assistant|> missing)" in capsys.readouterr().err
