"""`gristmill train` (pretrain a GPT on token shards from `gristmill tokenize`), and `generate`,
`finetune`, `export` and `eval`, which use a trained checkpoint.

Only argparse at import time; torch and the rest load inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from gristmill.config import add_config_options

CHECKPOINT_HELP = "a checkpoint file, or a train run directory (its latest checkpoint)"


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="pretrain a GPT on token shards (streaming, resumable, DDP under torchrun)",
        description=(
            "Pretrain a GPT on token directories written by `gristmill tokenize`. Metrics go to "
            "OUT/metrics.jsonl, checkpoints to OUT/checkpoints/. Multi-GPU: "
            "torchrun --nproc_per_node=N -m gristmill.cli train --config FILE"
        ),
    )
    add_config_options(p, "train", "data.batch_size=16", required=True)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints/")
    p.add_argument(
        "--stop-at-step", type=int, metavar="N",
        help="checkpoint and stop after step N without changing the schedule (split a run into jobs; resume later)",
    )
    p.set_defaults(handler=run_train)
    _register_model_commands(sub)


def run_train(args: argparse.Namespace) -> int:
    from train.config import load_train_config
    from train.loop import train

    config = load_train_config(args.config, args.overrides)
    summary = train(config, resume=args.resume, stop_at_step=args.stop_at_step)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(summary))
    return 0


def _register_model_commands(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="sample text from a checkpoint (streams tokens; KV cache; --chat for the chat template)",
        description="Print the completion of --prompt, streaming tokens as they come, until end of text. "
        "With --chat the prompt is a user message rendered through the chat template; without --prompt, "
        "--chat reads one user message per line from stdin and keeps the conversation.",
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help=CHECKPOINT_HELP)
    p.add_argument("--tokenizer", required=True, metavar="TOKDIR")
    p.add_argument("--prompt", metavar="TEXT", help="text to continue (an empty prompt starts a new document)")
    p.add_argument("--chat", action="store_true", help="render --prompt (or stdin lines) as user turns; stop at <|end|>")
    p.add_argument("--system", metavar="TEXT", help="with --chat: a system message first")
    p.add_argument("--max-new-tokens", type=int, default=200, metavar="N")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T", help="0 = greedy (deterministic)")
    p.add_argument("--top-k", type=int, metavar="K")
    p.add_argument("--top-p", type=float, metavar="P")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--no-cache", action="store_true", help="rerun the whole sequence per token (for comparison)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.set_defaults(handler=run_generate)

    p = sub.add_parser(
        "finetune",
        help="instruction fine-tuning from a checkpoint (chat template, loss on assistant tokens only)",
        description="Fine-tune the checkpoint named by `init_from` on instruction JSONL "
        '({"messages": [{"role", "content"}, ...]} or {"prompt", "response"} per line), with a fresh '
        "optimizer and schedule. Checkpoints and metrics go to OUT as with `gristmill train`.",
    )
    add_config_options(p, "finetune", "optimizer.lr=5e-5", required=True)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints/")
    p.set_defaults(handler=run_finetune)

    p = sub.add_parser(
        "export",
        help="write a Hugging Face LlamaForCausalLM folder (transformers, vLLM, lm-eval) from a checkpoint",
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help=CHECKPOINT_HELP)
    p.add_argument("--tokenizer", required=True, metavar="TOKDIR")
    p.add_argument("--output", required=True, metavar="DIR")
    p.set_defaults(handler=run_export)

    p = sub.add_parser(
        "eval",
        help="downstream evaluation: multiple choice (acc, acc_norm) or short-answer QA (exact match, F1)",
        description="hellaswag: HellaSwag's own JSONL (ctx_a, ctx_b, activity_label, endings, label); "
        'mc: {"context", "choices", "label"}; qa: {"question", "answers"} answered greedily. '
        "Prints one JSON object of metrics; --samples writes one line per item.",
    )
    p.add_argument("--checkpoint", required=True, metavar="PATH", help=CHECKPOINT_HELP)
    p.add_argument("--tokenizer", required=True, metavar="TOKDIR")
    p.add_argument("--task", required=True, metavar="FILE", help="local JSONL task file")
    p.add_argument("--format", required=True, choices=["hellaswag", "mc", "qa"])
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items")
    p.add_argument("--max-new-tokens", type=int, default=32, metavar="N", help="qa: answer length cap")
    p.add_argument("--samples", metavar="FILE", help="write per-item results (JSONL)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.set_defaults(handler=run_eval)


def run_generate(args: argparse.Namespace) -> int:
    from gristmill.errors import GristmillError
    from tokenizer.saved import load_tokenizer
    from train.chat import ChatTemplate
    from train.checkpoint import load_model
    from train.generate import StreamDecoder, generate_ids

    model, _ = load_model(args.checkpoint, args.device)
    tok, meta = load_tokenizer(args.tokenizer)
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    if n_tokens > model.cfg.vocab_size:
        raise GristmillError(f"{args.tokenizer}: {n_tokens} tokens, more than the model's vocab_size {model.cfg.vocab_size}")
    if args.prompt is None and not args.chat:
        raise GristmillError("generate: --prompt is required (or --chat to read user turns from stdin)")

    def complete(prompt_ids: list[int], stop: set[int]) -> list[int]:
        decoder, out = StreamDecoder(tok), []
        for token in generate_ids(model, prompt_ids, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                                  args.seed, stop, n_tokens, use_cache=not args.no_cache):
            if token in stop:
                break
            out.append(token)
            sys.stdout.write(decoder.add(token))
            sys.stdout.flush()
        sys.stdout.write(decoder.flush() + "\n")
        return out

    if not args.chat:
        ids = tok.encode(args.prompt).ids or [meta["eot_id"]]
        complete(ids, {meta["eot_id"]})
        return 0
    template = ChatTemplate(tok)
    messages = [{"role": "system", "content": args.system}] if args.system else []
    turns = [args.prompt] if args.prompt is not None else (line.rstrip("\n") for line in sys.stdin)
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        ids, _ = template.render(messages, add_generation_prompt=True)
        reply = complete(ids, {meta["eot_id"], template.end_id})
        messages.append({"role": "assistant", "content": tok.decode(reply, skip_special_tokens=False)})
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from train.sft import finetune, load_finetune_config

    summary = finetune(load_finetune_config(args.config, args.overrides), resume=args.resume)
    print(json.dumps(summary))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from train.export_hf import export

    print(json.dumps(export(args.checkpoint, args.tokenizer, args.output)))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from tokenizer.saved import load_tokenizer
    from train.checkpoint import load_model
    from train.evaluate_tasks import evaluate_file

    model, _ = load_model(args.checkpoint, args.device)
    tok, _ = load_tokenizer(args.tokenizer)
    result = evaluate_file(model, tok, args.task, args.format, limit=args.limit, max_new_tokens=args.max_new_tokens,
                           samples_path=args.samples)
    print(json.dumps(result))
    return 0
