"""Sampling from a trained GPT: greedy, temperature, top-k and top-p, with a KV cache.

With the cache the prompt is run once and each new token then costs one position; without it
(`use_cache=False`) every step reruns the whole sequence, as nanoGPT's sample.py does. Either way
only the last position's logits are computed.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch

from train.model import GPT, KVCache


def next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> int:
    """One token from a (vocab,) row of logits; temperature 0 is the argmax (the lowest id on ties)."""
    if temperature == 0:
        return int(torch.argmax(logits))
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p: a token stays if the mass before it is below top_p.
        drop = (torch.cumsum(sorted_probs, dim=0) - sorted_probs) >= top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def generate_ids(
    model: GPT,
    prompt: list[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_ids: Iterable[int] = (),
    vocab_limit: int | None = None,
    use_cache: bool = True,
) -> Iterator[int]:
    """Yield new token ids one at a time until a stop id (yielded too), max_new_tokens, or the model's seq_len.

    `vocab_limit` masks the logits of ids at or above it (the padding rows of a vocabulary rounded
    up to a multiple of 64, which no tokenizer can decode).
    """
    if not prompt:
        raise ValueError("the prompt is empty")
    seq_len = model.cfg.seq_len
    if len(prompt) >= seq_len:
        raise ValueError(f"the prompt has {len(prompt)} tokens; the model's seq_len {seq_len} leaves no room to generate")
    device = model.embed.weight.device
    generator = torch.Generator(device=device)
    generator.manual_seed(0 if seed is None else seed)
    stop = set(stop_ids)
    budget = min(max_new_tokens, seq_len - len(prompt))
    ids = list(prompt)
    cache = KVCache(model.cfg, 1, len(prompt) + budget, device, model.embed.weight.dtype) if use_cache else None
    step_input = torch.tensor([ids], device=device)
    for _ in range(budget):
        logits = model(step_input if use_cache else torch.tensor([ids], device=device), cache=cache, last_only=True)[0, -1]
        if vocab_limit is not None and vocab_limit < logits.numel():
            logits[vocab_limit:] = float("-inf")
        token = next_token(logits, temperature, top_k, top_p, generator)
        yield token
        if token in stop:
            return
        ids.append(token)
        step_input = torch.tensor([[token]], device=device)


class StreamDecoder:
    """Text of a growing list of byte-level BPE ids, released only once its UTF-8 characters are complete."""

    def __init__(self, tok):
        self.tok = tok
        self.ids: list[int] = []
        self.shown = 0

    def add(self, token: int) -> str:
        self.ids.append(token)
        text = self.tok.decode(self.ids, skip_special_tokens=False)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
            return ""
        new, self.shown = text[self.shown :], len(text)
        return new

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character at the very end decodes as U+FFFD)."""
        text = self.tok.decode(self.ids, skip_special_tokens=False)
        new, self.shown = text[self.shown :], len(text)
        return new
