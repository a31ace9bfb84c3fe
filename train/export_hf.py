"""Export a checkpoint as a Hugging Face `LlamaForCausalLM` folder (transformers, vLLM, lm-eval-harness).

The mapping is exact, not approximate:

* RoPE: gristmill rotates the (first half, second half) pairs of each head with inverse frequencies
  theta^(-2i/d), which is transformers' `rotate_half` layout, so q and k need no permutation (the
  permutation in transformers' convert_llama_weights_to_hf.py is for Meta's interleaved layout).
* RMSNorm: x / sqrt(mean(x^2) + eps) * weight in fp32, as LlamaRMSNorm; eps goes to `rms_norm_eps`.
* Attention: the fused qkv rows are q, k, v in that order, each head-major: they split into
  q_proj, k_proj, v_proj; no biases, full multi-head (num_key_value_heads = num_attention_heads).
* SwiGLU: the first half of `up` is the gate (silu), the second the value: gate_proj and up_proj.
* Tied embeddings: `tie_word_embeddings: true`, one tensor stored.

A GELU MLP has no Llama equivalent and is refused. Only `safetensors` is needed here; transformers
is needed only to load the result.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from gristmill.errors import GristmillError
from tokenizer.saved import CHAT_TOKENS, EOT, PAD, TOKENIZER_FILE, load_tokenizer
from train import chat, checkpoint
from train.model import GPT


def llama_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    cfg = model.cfg
    sd = {k: v.detach().to("cpu", torch.float32) for k, v in model.state_dict().items()}
    out = {"model.embed_tokens.weight": sd["embed.weight"], "model.norm.weight": sd["norm.weight"]}
    for i in range(cfg.n_layer):
        src, dst = f"blocks.{i}.", f"model.layers.{i}."
        q, k, v = sd[src + "attn.qkv.weight"].chunk(3, dim=0)
        gate, up = sd[src + "mlp.up.weight"].split(cfg.hidden, dim=0)
        out.update({
            dst + "input_layernorm.weight": sd[src + "norm1.weight"],
            dst + "self_attn.q_proj.weight": q,
            dst + "self_attn.k_proj.weight": k,
            dst + "self_attn.v_proj.weight": v,
            dst + "self_attn.o_proj.weight": sd[src + "attn.proj.weight"],
            dst + "post_attention_layernorm.weight": sd[src + "norm2.weight"],
            dst + "mlp.gate_proj.weight": gate,
            dst + "mlp.up_proj.weight": up,
            dst + "mlp.down_proj.weight": sd[src + "mlp.down.weight"],
        })
    return {name: t.contiguous().clone() for name, t in out.items()}


def llama_config(model: GPT, eot_id: int, pad_id: int) -> dict:
    cfg = model.cfg
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.n_embd,
        "intermediate_size": cfg.hidden,
        "num_hidden_layers": cfg.n_layer,
        "num_attention_heads": cfg.n_head,
        "num_key_value_heads": cfg.n_head,
        "head_dim": cfg.n_embd // cfg.n_head,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.seq_len,
        "rms_norm_eps": cfg.norm_eps,
        # transformers >= 5 reads rope_parameters; older transformers and vLLM read rope_theta.
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
        "pad_token_id": pad_id,
        "initializer_range": 0.02,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def export_tokenizer(tok_path: Path, output: Path, seq_len: int) -> None:
    """tokenizer.json with the chat markers as plain added tokens, and the transformers config files.

    `split_special_tokens: true` makes transformers (and so vLLM and lm-eval) encode the literal text
    `<|endoftext|>` or `<|pad|>` as ordinary bytes, as gristmill does. That flag skips only tokens
    marked special, so the chat markers are left unmarked: they must be matched in the text that
    `apply_chat_template` renders. (gristmill itself inserts them as ids, so its chat never matches
    them in message text.)
    """
    data = json.loads(tok_path.read_text(encoding="utf-8"))
    for added in data.get("added_tokens", []):
        if added["content"] in CHAT_TOKENS:
            added["special"] = False
    (output / TOKENIZER_FILE).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    has_chat = all(any(a["content"] == t for a in data.get("added_tokens", [])) for t in CHAT_TOKENS)
    specials = {"eos_token": EOT, "pad_token": PAD}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **specials,
        "bos_token": None,
        "unk_token": None,
        "split_special_tokens": True,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": seq_len,
    }
    if has_chat:
        config["chat_template"] = chat.JINJA
    (output / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (output / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n", encoding="utf-8")


def export(checkpoint_path: str | Path, tokenizer_dir: str | Path, output: str | Path) -> dict:
    """Write the folder; returns a summary. Refuses models and tokenizers that have no faithful mapping."""
    model, state = checkpoint.load_model(checkpoint_path)
    cfg = model.cfg
    if cfg.mlp != "swiglu":
        raise GristmillError(
            f"{state['path']}: model.mlp is {cfg.mlp!r}; LlamaForCausalLM has only a SwiGLU MLP, so only "
            "model.mlp: swiglu (the default) exports"
        )
    tok, meta = load_tokenizer(tokenizer_dir)
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    if n_tokens > cfg.vocab_size:
        raise GristmillError(f"{tokenizer_dir}: {n_tokens} tokens, more than the model's vocab_size {cfg.vocab_size}: not its tokenizer")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    save_file(llama_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(llama_config(model, meta["eot_id"], meta["pad_id"]), indent=2) + "\n")
    tok_path = Path(tokenizer_dir)
    export_tokenizer(tok_path if tok_path.is_file() else tok_path / TOKENIZER_FILE, out, cfg.seq_len)
    end_id = tok.token_to_id(chat.END)
    generation = {
        "bos_token_id": meta["eot_id"],
        "eos_token_id": [meta["eot_id"]] + ([end_id] if end_id is not None else []),
        "pad_token_id": meta["pad_id"],
    }
    if n_tokens < cfg.vocab_size:  # padding rows of the rounded-up vocabulary: never sampled, as in gristmill
        generation["suppress_tokens"] = list(range(n_tokens, cfg.vocab_size))
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    meta_src = (tok_path.parent if tok_path.is_file() else tok_path) / "tokenizer_meta.json"
    if meta_src.is_file():
        shutil.copy(meta_src, out / "tokenizer_meta.json")
    return {"output": str(out), "checkpoint": state["path"], "architecture": "LlamaForCausalLM",
            "params": model.num_params(), "vocab_size": cfg.vocab_size, "tokenizer_tokens": n_tokens}
