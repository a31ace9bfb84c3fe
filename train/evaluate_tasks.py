"""Downstream evaluation on local JSONL tasks: multiple choice by log-likelihood, short-answer QA by greedy generation.

Multiple choice follows lm-eval-harness (v0.4) exactly, so that its numbers and ours agree item for item:

* each choice is scored as the continuation `" " + choice` of the context: trailing spaces of the
  context move to the continuation, the context + continuation is encoded as one string and the
  continuation's tokens are the ones after the context's own encoding; the score is the sum of
  their log-probabilities (the input left-truncated to the model's seq_len);
* `acc` = the gold choice has the highest score; `acc_norm` = the highest score divided by the
  choice's length in characters (ties: the first); each with the standard error of the mean
  (sample standard deviation / sqrt(n));
* HellaSwag items are preprocessed as lm-eval's hellaswag task does (activity label, ctx_a, the
  capitalised ctx_b; WikiHow bracket artefacts removed).

QA generates greedily after "Question: ...\\nAnswer:" (with the item's `context` first, if any) up to
a newline or end of text, and scores exact match and token F1 against the best of the `answers`
after SQuAD's normalisation (lower case, no punctuation, no articles, single spaces).
"""

from __future__ import annotations

import collections
import json
import math
import re
import string
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from gristmill.errors import GristmillError
from train.generate import generate_ids
from train.model import GPT

FORMATS = ("hellaswag", "mc", "qa")


def hellaswag_preprocess(text: str) -> str:
    text = text.strip()
    text = text.replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def read_items(path: str | Path, fmt: str, limit: int | None = None) -> list[dict]:
    """Items as {"context", "choices", "label"} (mc, hellaswag) or {"prompt", "answers"} (qa); bad lines name file and line."""
    if fmt not in FORMATS:
        raise GristmillError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    items, errors = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if limit is not None and len(items) >= limit:
                break
            try:
                items.append(parse_item(json.loads(line), fmt))
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                errors.append(f"{path}:{number}: {err if not isinstance(err, KeyError) else f'missing field {err}'}")
    if errors:
        shown = "\n  ".join(errors[:20])
        raise GristmillError(f"{len(errors)} bad {fmt} item(s):\n  {shown}" + ("\n  ..." if len(errors) > 20 else ""))
    if not items:
        raise GristmillError(f"{path}: no items")
    return items


def parse_item(doc: dict, fmt: str) -> dict:
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    if fmt == "qa":
        answers = doc["answers"]
        if isinstance(answers, dict):  # SQuAD's {"text": [...], "answer_start": [...]}
            answers = answers["text"]
        if isinstance(answers, str):
            answers = [answers]
        if not answers or not all(isinstance(a, str) for a in answers):
            raise ValueError("answers must be a non-empty list of strings")
        prompt = f"Question: {doc['question']}\nAnswer:"
        if doc.get("context"):
            prompt = f"{doc['context']}\n\n{prompt}"
        return {"prompt": prompt, "answers": answers}
    if fmt == "hellaswag":
        ctx = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        item = {"context": hellaswag_preprocess(doc["activity_label"] + ": " + ctx),
                "choices": [hellaswag_preprocess(e) for e in doc["endings"]], "label": int(doc["label"])}
    else:
        item = {"context": str(doc["context"]), "choices": [str(c) for c in doc["choices"]], "label": int(doc["label"])}
    if len(item["choices"]) < 2:
        raise ValueError("fewer than two choices")
    if not 0 <= item["label"] < len(item["choices"]):
        raise ValueError(f"label {item['label']} is not the index of one of {len(item['choices'])} choices")
    if not item["context"]:
        raise ValueError("empty context")
    return item


def encode_pair(tok: Tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's split: trailing spaces join the continuation; its tokens are those past the context's encoding."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tok.encode(context + continuation).ids
    context_ids = tok.encode(context).ids
    return context_ids, whole[len(context_ids):]


@torch.no_grad()
def continuation_logprobs(model: GPT, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
    """Sum of log-probabilities of each continuation given its context, one right-padded batch."""
    seq_len = model.cfg.seq_len
    inputs = [(ctx + cont)[-(seq_len + 1):][:-1] for ctx, cont in pairs]
    width = max(len(x) for x in inputs)
    device = model.embed.weight.device
    batch = torch.zeros(len(inputs), width, dtype=torch.long, device=device)
    for row, x in enumerate(inputs):
        batch[row, : len(x)] = torch.tensor(x)
    logprobs = torch.log_softmax(model(batch).float(), dim=-1)
    scores = []
    for row, ((_, cont), x) in enumerate(zip(pairs, inputs)):
        positions = torch.arange(len(x) - len(cont), len(x), device=device)
        scores.append(float(logprobs[row, positions, torch.tensor(cont, device=device)].double().sum()))
    return scores


def mean_stderr(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return float("nan")
    mu = sum(values) / n
    return math.sqrt(sum((v - mu) ** 2 for v in values) / (n - 1)) / math.sqrt(n)


def score_choices(model: GPT, tok: Tokenizer, item: dict) -> dict:
    pairs = [encode_pair(tok, item["context"], " " + choice) for choice in item["choices"]]
    if any(not cont for _, cont in pairs):
        raise GristmillError(f"a choice encodes to no tokens: {item['choices']}")
    lls = np.array(continuation_logprobs(model, pairs))
    lengths = np.array([float(len(c)) for c in item["choices"]])
    pred, pred_norm = int(np.argmax(lls)), int(np.argmax(lls / lengths))
    return {"loglikelihoods": lls.tolist(), "pred": pred, "pred_norm": pred_norm,
            "acc": float(pred == item["label"]), "acc_norm": float(pred_norm == item["label"])}


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, truth: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def answer(model: GPT, tok: Tokenizer, prompt: str, max_new_tokens: int, eot_id: int | None) -> str:
    ids = tok.encode(prompt).ids[-(model.cfg.seq_len - 1):]
    out: list[int] = []
    stop = {eot_id} if eot_id is not None else set()
    for token in generate_ids(model, ids, max_new_tokens, temperature=0, stop_ids=stop,
                              vocab_limit=tok.get_vocab_size(with_added_tokens=True)):
        if token in stop:
            break
        out.append(token)
        if "\n" in tok.decode(out, skip_special_tokens=False):
            break
    return tok.decode(out, skip_special_tokens=False).split("\n")[0].strip()


def score_answer(model: GPT, tok: Tokenizer, item: dict, max_new_tokens: int) -> dict:
    prediction = answer(model, tok, item["prompt"], max_new_tokens, tok.token_to_id("<|endoftext|>"))
    return {"prediction": prediction,
            "exact_match": float(max(normalize_answer(prediction) == normalize_answer(a) for a in item["answers"])),
            "f1": max(token_f1(prediction, a) for a in item["answers"])}


def evaluate_file(model: GPT, tok: Tokenizer, path: str | Path, fmt: str, limit: int | None = None,
                  max_new_tokens: int = 32, samples_path: str | Path | None = None) -> dict:
    """Metrics over a task file: acc / acc_norm (mc, hellaswag) or exact_match / f1 (qa), each with its stderr."""
    items = read_items(path, fmt, limit)
    tok.encode_special_tokens = True
    model.eval()
    if fmt == "qa":
        results = [score_answer(model, tok, item, max_new_tokens) for item in items]
        metrics = ("exact_match", "f1")
    else:
        results = [score_choices(model, tok, item) for item in items]
        metrics = ("acc", "acc_norm")
    if samples_path:
        with open(samples_path, "w", encoding="utf-8") as f:
            for index, (item, result) in enumerate(zip(items, results)):
                f.write(json.dumps({"index": index, **item, **result}, ensure_ascii=False) + "\n")
    summary: dict = {"task": str(path), "format": fmt, "items": len(items)}
    for name in metrics:
        values = [r[name] for r in results]
        summary[name] = sum(values) / len(values)
        summary[f"{name}_stderr"] = mean_stderr(values)
    return summary
