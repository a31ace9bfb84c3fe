"""Cross-entropy of the output projection computed in row chunks, without the full logits.

`F.cross_entropy(F.linear(h, W).float(), y)` keeps the (rows, vocab) logits for the backward
pass, in fp32 after the cast: 3.3 GB for GPT-2 small at 16 x 1024 tokens, plus the bf16 copy
and the gradient of the same size. `ChunkedLinearCrossEntropy` instead computes, chunk by chunk
in the forward pass, the loss and the gradients with respect to the hidden states and the
weight (the approach of Liger Kernel's fused linear cross-entropy, in plain torch ops), so at
most one chunk of logits exists at a time; the backward pass only scales the stored gradients.
The matmuls are the same ones the unfused path runs, in the autocast dtype when autocast is on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


IGNORE = -100


def _full_logits(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ weight.T in at least fp32, for the softmax."""
    logits = F.linear(x, weight)
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Sum or mean over rows of cross_entropy(x @ weight.T, targets); x (N, C), weight (V, C), targets (N,).

    Rows whose target is IGNORE (-100, F.cross_entropy's default ignore_index) count for nothing;
    the mean is over the other rows, as in F.cross_entropy.
    """

    @staticmethod
    def forward(ctx, x, weight, targets, mean: bool, chunk: int):
        dtype = _compute_dtype(x)
        with torch.autocast(x.device.type, enabled=False):
            xc, wc = x.to(dtype), weight.to(dtype)
            acc = torch.promote_types(dtype, torch.float32)
            n = x.shape[0]
            keep = targets != IGNORE
            safe = torch.where(keep, targets, 0)[:, None]
            scale = 1.0 / keep.sum().to(acc) if mean else 1.0
            loss = torch.zeros((), dtype=acc, device=x.device)
            need_grad = x.requires_grad or weight.requires_grad
            grad_x = torch.empty_like(xc) if need_grad else None
            grad_w = torch.zeros(weight.shape, dtype=acc, device=x.device) if need_grad else None
            for start in range(0, n, chunk):
                rows = slice(start, start + chunk)
                logp = torch.log_softmax((xc[rows] @ wc.T).to(acc), dim=-1)
                kept = keep[rows, None]
                loss -= (logp.gather(1, safe[rows]) * kept).sum()
                if need_grad:
                    # d loss / d logits = softmax - one_hot(target) on kept rows (the reduction's scale comes last).
                    grad = logp.exp_()
                    grad.scatter_add_(1, safe[rows], torch.full((grad.shape[0], 1), -1.0, dtype=acc, device=x.device))
                    grad = grad.to(dtype)
                    # Ignored rows are zeroed on the (rows, C) sides, not on the (rows, vocab) gradient.
                    grad_x[rows] = (grad @ wc) * kept
                    grad_w += (grad.T @ (xc[rows] * kept)).to(acc)
            if need_grad and mean:
                grad_x *= scale
                grad_w *= scale
        ctx.save_for_backward(grad_x, grad_w)
        ctx.dtypes = (x.dtype, weight.dtype)
        return loss * scale

    @staticmethod
    def backward(ctx, grad_out):
        grad_x, grad_w = ctx.saved_tensors
        return (grad_x * grad_out).to(ctx.dtypes[0]), (grad_w * grad_out).to(ctx.dtypes[1]), None, None, None


def linear_cross_entropy(
    x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, reduction: str = "mean", chunk: int = 0
) -> torch.Tensor:
    """cross_entropy(x @ weight.T, targets) over the flattened rows of x (..., C).

    `chunk` rows at a time when 0 < chunk < rows (reduction "none" only without autograd, as in
    evaluation); otherwise with the full logits in one go.
    """
    x = x.reshape(-1, x.shape[-1])
    targets = targets.reshape(-1)
    if 0 < chunk < x.shape[0]:
        if reduction in ("sum", "mean"):
            return ChunkedLinearCrossEntropy.apply(x, weight, targets, reduction == "mean", chunk)
        if reduction == "none" and not torch.is_grad_enabled():
            return torch.cat([
                F.cross_entropy(_full_logits(x[i : i + chunk], weight), targets[i : i + chunk], reduction="none")
                for i in range(0, x.shape[0], chunk)
            ])
    return F.cross_entropy(_full_logits(x, weight), targets, reduction=reduction)
