"""Chunked linear + cross-entropy: the same loss and gradients as the full logits, in eager and compiled mode."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from train.losses import linear_cross_entropy
from train.model import GPT, GPTConfig
from train_support import one_thread  # noqa: F401 (one_thread: an autouse fixture)


def grads(x, w, y, reduction, chunk):
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    loss = linear_cross_entropy(x, w, y, reduction, chunk)
    (loss * 1.7).backward()
    return loss.detach(), x.grad, w.grad


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("chunk", [1, 64, 299])
def test_chunked_loss_and_gradients_equal_the_full_logits(reduction, chunk):
    torch.manual_seed(0)
    x, w, y = torch.randn(300, 32, dtype=torch.float64), torch.randn(97, 32, dtype=torch.float64), torch.randint(0, 97, (300,))
    y[::7] = -100  # ignored rows (F.cross_entropy's ignore_index), as a loss mask sets them
    full = grads(x, w, y, reduction, 0)
    got = grads(x, w, y, reduction, chunk)
    for a, b in zip(full, got):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        per_row = linear_cross_entropy(x, w, y, "none", chunk)
    torch.testing.assert_close(per_row, F.cross_entropy(x @ w.T, y, reduction="none"))


def test_chunked_loss_under_bf16_autocast_matches_the_unfused_path():
    torch.manual_seed(0)
    x, w, y = torch.randn(256, 64), torch.randn(500, 64) * 0.1, torch.randint(0, 500, (256,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        full = grads(x, w, y, "mean", 0)
        got = grads(x, w, y, "mean", 48)
    assert got[1].dtype == got[2].dtype == torch.float32  # gradients in the parameters' dtype
    for a, b in zip(full, got):
        torch.testing.assert_close(a, b, rtol=2e-2, atol=2e-3)


def test_gpt_trains_the_same_compiled_with_chunks_as_eager_with_full_logits():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=128, seq_len=16, n_layer=1, n_head=2, n_embd=32)
    eager, chunked = GPT(cfg), GPT(cfg)
    chunked.load_state_dict(eager.state_dict())
    eager.loss_chunk, chunked.loss_chunk = 0, 24
    x = torch.randint(0, 128, (4, 17))
    compiled = torch.compile(chunked)
    for model in (eager, compiled):
        model(x[:, :-1], x[:, 1:]).backward()
    torch.testing.assert_close(compiled(x[:, :-1], x[:, 1:]), eager(x[:, :-1], x[:, 1:]))
    for (name, a), b in zip(eager.named_parameters(), chunked.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)
