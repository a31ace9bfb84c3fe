"""`gristmill export`: a LlamaForCausalLM folder that transformers loads offline and that computes what gristmill does."""

from __future__ import annotations

import json

import pytest
import torch

from model_support import save_checkpoint, tiny_model, tiny_tokenizer
from gristmill.cli import main
from gristmill.errors import GristmillError
from tokenizer.saved import load_tokenizer
from train.chat import ChatTemplate
from train.export_hf import export
from train.generate import generate_ids

transformers = pytest.importorskip("transformers")

VOCAB = 448  # the tokenizer has fewer: the rounded-up padding rows are exported too


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    tokdir = tiny_tokenizer(root / "tok")
    model = tiny_model(VOCAB, seed=7, rope_theta=500.0)  # a non-default theta must carry over too
    save_checkpoint(root / "run", model)
    assert main(["export", "--checkpoint", str(root / "run"), "--tokenizer", str(tokdir), "--output", str(root / "hf")]) == 0
    hf = transformers.AutoModelForCausalLM.from_pretrained(root / "hf", dtype=torch.float32).eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(root / "hf")
    return model, tokdir, root / "hf", hf, hf_tok


def test_folder_is_a_stock_llama(exported):
    _, _, out, hf, _ = exported
    assert sorted(p.name for p in out.iterdir()) == sorted([
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "generation_config.json"])
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["tie_word_embeddings"] is True
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert hf.get_output_embeddings().weight.data_ptr() == hf.get_input_embeddings().weight.data_ptr()


@torch.no_grad()
def test_logits_equal_gristmill_within_1e4_in_fp32(exported):
    model, _, _, hf, _ = exported
    g = torch.Generator().manual_seed(0)
    for batch, length in [(1, 1), (3, 50), (2, 128)]:
        x = torch.randint(0, VOCAB, (batch, length), generator=g)
        ours, theirs = model(x), hf(x).logits
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max().item() < 1e-4


def test_greedy_generate_gives_the_same_tokens(exported):
    model, tokdir, _, hf, hf_tok = exported
    tok, meta = load_tokenizer(tokdir)
    for text in ["The quick brown", "Paris is the", "What color"]:
        prompt = tok.encode(text).ids
        assert hf_tok(text).input_ids == prompt
        ours = list(generate_ids(model, prompt, 40, temperature=0, vocab_limit=tok.get_vocab_size(),
                                 stop_ids={meta["eot_id"], tok.token_to_id("<|end|>")}))
        theirs = hf.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                             do_sample=False, max_new_tokens=40)[0, len(prompt):].tolist()
        assert theirs == ours


def test_literal_special_token_text_is_never_the_special_token(exported):
    _, tokdir, _, _, hf_tok = exported
    tok, meta = load_tokenizer(tokdir)
    text = "before <|endoftext|> after <|pad|>"
    ids = hf_tok(text).input_ids
    assert meta["eot_id"] not in ids and meta["pad_id"] not in ids
    assert ids == tok.encode(text).ids
    assert hf_tok.decode(ids) == text
    assert hf_tok.eos_token == "<|endoftext|>" and hf_tok.eos_token_id == meta["eot_id"]
    assert hf_tok.pad_token_id == meta["pad_id"]


def test_chat_template_in_transformers_renders_gristmills_ids(exported):
    _, tokdir, _, _, hf_tok = exported
    tok, _ = load_tokenizer(tokdir)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What color is the sky?"},
                {"role": "assistant", "content": "The sky is blue."}, {"role": "user", "content": "And?"}]
    ours, _ = ChatTemplate(tok).render(messages, add_generation_prompt=True)
    text = hf_tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert hf_tok(text).input_ids == ours


def test_gelu_models_and_foreign_tokenizers_are_refused(tmp_path):
    tokdir = tiny_tokenizer(tmp_path / "tok")
    save_checkpoint(tmp_path / "gelu", tiny_model(VOCAB, mlp="gelu"))
    with pytest.raises(GristmillError, match="model.mlp is 'gelu'; LlamaForCausalLM has only a SwiGLU MLP"):
        export(tmp_path / "gelu", tokdir, tmp_path / "out")
    save_checkpoint(tmp_path / "small", tiny_model(320))
    with pytest.raises(GristmillError, match="more than the model's vocab_size 320"):
        export(tmp_path / "small", tokdir, tmp_path / "out2")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_the_default_model_is_exportable():
    from train.config import ModelSection
    from train.model import GPTConfig

    assert GPTConfig().mlp == ModelSection().mlp == "swiglu"
