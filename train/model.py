"""A GPT-style decoder in one module: RoPE, RMSNorm, SwiGLU or GELU MLP, tied embeddings, SDPA attention.

The layout is Llama's (half-rotation RoPE, RMSNorm, SwiGLU with gate first), so a SwiGLU model
exports to `LlamaForCausalLM` unchanged (`train/export_hf.py`). A `KVCache` makes generation cost
one position per new token.

Sizes range from a tiny CPU test model to GPT-2 small (124M: 12 layers, 12 heads, 768 wide,
vocab 50304, seq 1024) and beyond, all by `GPTConfig`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from train.losses import linear_cross_entropy


LOSS_CHUNK = 4096


@dataclass
class GPTConfig:
    vocab_size: int = 50304
    seq_len: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    # Hidden width of the MLP; 0 means 4 * n_embd for GELU and the parameter-matched 8/3 * n_embd
    # (rounded up to a multiple of 64) for SwiGLU.
    mlp_hidden: int = 0
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError(f"head size n_embd/n_head = {self.n_embd // self.n_head} must be even for RoPE")
        if self.mlp not in ("swiglu", "gelu"):
            raise ValueError(f"mlp must be 'swiglu' or 'gelu', got {self.mlp!r}")

    @property
    def hidden(self) -> int:
        if self.mlp_hidden:
            return self.mlp_hidden
        if self.mlp == "gelu":
            return 4 * self.n_embd
        return 64 * math.ceil(8 * self.n_embd / 3 / 64)

    def to_dict(self) -> dict:
        return asdict(self)


def rope_tables(head_dim: int, seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape (seq_len, head_dim / 2) for rotary position embeddings."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of the head dimension; x is (B, H, T, D)."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class KVCache:
    """Keys and values of every position seen so far, per layer, preallocated for `max_len` positions.

    `GPT.forward(idx, cache=cache)` reads and extends it: the new tokens attend to the cached prefix
    and themselves, and `pos` advances by their count.
    """

    def __init__(self, cfg: GPTConfig, batch_size: int, max_len: int, device=None, dtype=torch.float32):
        if max_len > cfg.seq_len:
            raise ValueError(f"a cache of {max_len} positions is longer than the model's seq_len {cfg.seq_len}")
        shape = (cfg.n_layer, batch_size, cfg.n_head, max_len, cfg.n_embd // cfg.n_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.max_len = max_len
        self.pos = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.pos + k.shape[2]
        self.k[layer, :, :, self.pos : end] = k
        self.v[layer, :, :, self.pos : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int = 0):
        super().__init__()
        self.n_head = cfg.n_head
        self.layer = layer
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x, cos, sin, attn_mask, cache: KVCache | None = None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            start = cache.pos
            k, v = cache.update(self.layer, k, v)
            if start and T > 1:  # new position i (absolute start + i) sees keys 0 .. start + i
                attn_mask = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(diagonal=start)
            # The prompt (start 0) is plain causal; a single new token sees every cached key.
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=start == 0 and T > 1)
        elif attn_mask is None:
            # Causal without an explicit mask: the path that reaches the flash kernel on GPU.
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.swiglu = cfg.mlp == "swiglu"
        self.up = nn.Linear(cfg.n_embd, (2 if self.swiglu else 1) * cfg.hidden, bias=False)
        self.down = nn.Linear(cfg.hidden, cfg.n_embd, bias=False)

    def forward(self, x):
        h = self.up(x)
        if self.swiglu:
            gate, value = h.chunk(2, dim=-1)
            h = F.silu(gate) * value
        else:
            h = F.gelu(h, approximate="tanh")
        return self.down(h)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int = 0):
        super().__init__()
        self.norm1 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = Attention(cfg, layer)
        self.norm2 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, attn_mask, cache: KVCache | None = None):
        x = x + self.attn(self.norm1(x), cos, sin, attn_mask, cache)
        return x + self.mlp(self.norm2(x))


def document_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """Boolean (B, 1, T, T) mask: causal, and a position sees only its own document's tokens."""
    T = doc_ids.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    same_doc = doc_ids[:, :, None] == doc_ids[:, None, :]
    return (same_doc & causal)[:, None]


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        cos, sin = rope_tables(cfg.n_embd // cfg.n_head, cfg.seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # Rows of the loss computed at a time (train.losses); 0 = the full logits at once.
        self.loss_chunk = LOSS_CHUNK
        self.reset_parameters()

    def reset_parameters(self):
        """GPT-2 init: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * n_layer)."""
        std = 0.02
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            scale = 1 / math.sqrt(2 * self.cfg.n_layer) if name.endswith(("proj.weight", "down.weight")) else 1.0
            nn.init.normal_(p, mean=0.0, std=std * scale)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward + backward): 6 * params + 12 * layers * width * seq_len.

        The tied embedding is counted once, as the output projection it also is; the second term is
        the attention score and value matmuls (PaLM appendix B).
        """
        T = seq_len or self.cfg.seq_len
        return 6 * self.num_params() + 12 * self.cfg.n_layer * self.cfg.n_embd * T

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        doc_ids: torch.Tensor | None = None,
        reduction: str = "mean",
        cache: KVCache | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """Logits (B, T, vocab) without targets; the cross-entropy loss with them (targets of -100 are ignored).

        `doc_ids` (B, T), when given, stops attention across document boundaries in a packed sequence.
        With a `cache`, `idx` continues the sequence the cache holds, at position `cache.pos`.
        `last_only` computes the logits of the last position only (B, 1, vocab), all generation needs.
        """
        T = idx.shape[1]
        start = cache.pos if cache is not None else 0
        if cache is not None and start + T > cache.max_len:
            raise ValueError(f"sequence of {start + T} tokens is longer than the cache's {cache.max_len} positions")
        if start + T > self.cfg.seq_len:
            raise ValueError(f"sequence of {start + T} tokens is longer than the model's seq_len {self.cfg.seq_len}")
        if cache is not None and doc_ids is not None:
            raise ValueError("doc_ids and a KV cache cannot be combined")
        cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]
        attn_mask = document_mask(doc_ids) if doc_ids is not None else None
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, cos, sin, attn_mask, cache)
        if cache is not None:
            cache.pos += T
        if last_only:
            x = x[:, -1:]
        if targets is None:
            return F.linear(self.norm(x), self.embed.weight)
        return linear_cross_entropy(self.norm(x), self.embed.weight, targets, reduction, self.loss_chunk)
