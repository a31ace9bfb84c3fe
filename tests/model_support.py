"""Tiny trained tokenizers and GPT checkpoints for the generation, export, fine-tuning and eval tests."""

from __future__ import annotations

from pathlib import Path

import torch

from tokenizer.saved import TOKENIZER_FILE
from tokenizer.train import TokenizerTrainConfig, new_tokenizer, new_trainer
from train import checkpoint
from train.model import GPT, GPTConfig

TEXT = (
    "The quick brown fox jumps over the lazy dog. A man is sitting on a roof. He starts pulling up roofing. "
    "What color is the sky? The sky is blue. Two plus two is four. Paris is the capital of France. "
)


def tiny_tokenizer(directory: Path, texts: list[str] = (TEXT,), vocab_size: int = 400) -> Path:
    """A byte-level BPE with gristmill's special tokens (chat markers included), saved as TOKDIR/tokenizer.json."""
    tok = new_tokenizer(TokenizerTrainConfig().split_pattern)
    tok.train_from_iterator([list(texts) * 20], trainer=new_trainer(TokenizerTrainConfig(vocab_size=vocab_size, min_frequency=1)))
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / TOKENIZER_FILE))
    return directory


def tiny_model(vocab_size: int, seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=vocab_size, seq_len=128, n_layer=2, n_head=4, n_embd=64, mlp="swiglu") | overrides
    model = GPT(GPTConfig(**cfg))
    with torch.no_grad():  # non-trivial norm gains, so the export's norm mapping is tested too
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.3 * torch.randn_like(p))
    return model.eval()


def save_checkpoint(directory: Path, model: GPT, step: int = 1) -> Path:
    return checkpoint.save(directory / "checkpoints", step, {"step": step, "model_config": model.cfg.to_dict(),
                                                              "model": model.state_dict()}, keep=1)
