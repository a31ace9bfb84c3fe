"""Instruction fine-tuning: the loss mask, bad records, `init_from`, and a tiny model that learns a synthetic task."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from model_support import save_checkpoint, tiny_model, tiny_tokenizer
from gristmill.cli import main
from gristmill.errors import GristmillError
from tokenizer.saved import load_tokenizer
from train import checkpoint
from train.chat import ChatTemplate
from train.generate import generate_ids
from train.sft import IGNORE_INDEX, collate, read_examples
from train_support import BYTE_EOT, byte_docs, one_thread, write_jsonl, write_token_dir  # noqa: F401 (one_thread: autouse)

COLORS = {"apple": "red", "banana": "yellow", "grass": "green", "sky": "blue", "snow": "white", "coal": "black",
          "cherry": "red", "lemon": "yellow", "ocean": "blue", "carrot": "orange", "leaf": "green", "milk": "white"}
PHRASES = ["What color is the {}?", "Tell me the color of the {}.", "Which color does the {} have?"]


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """Train and held-out records: every item is seen, but each held-out (phrasing, item) pair is new."""
    root = tmp_path_factory.mktemp("sft")
    pairs = [(p, item) for item in COLORS for p in range(len(PHRASES))]
    held = {(i % len(PHRASES), item) for i, item in enumerate(COLORS)}
    record = lambda p, item: {"prompt": PHRASES[p].format(item), "response": f"The {item} is {COLORS[item]}."}
    train = [record(p, item) for p, item in pairs if (p, item) not in held]
    val = [record(p, item) for p, item in sorted(held)]
    texts = [r["prompt"] + " " + r["response"] for r in train + val]
    tokdir = tiny_tokenizer(root / "tok", texts, vocab_size=300)
    return root, tokdir, write_jsonl(root / "train.jsonl", train), write_jsonl(root / "val.jsonl", val), val


def test_loss_mask_is_exactly_the_response_tokens(tmp_path, task):
    _, tokdir, *_ = task
    tok, meta = load_tokenizer(tokdir)
    template = ChatTemplate(tok)
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"prompt": "What color is the sky?", "response": "The sky is blue."},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <|end|>"},
                      {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Sky?"},
                      {"role": "assistant", "content": "Blue."}]},
    ])
    first, second = read_examples([path], template, seq_len=64)
    batch = collate([first, second], meta["pad_id"])
    end = template.end_id
    for row, replies in enumerate([["The sky is blue."], ["Hello.", "Blue."]]):
        target = batch["target"][row]
        kept = target[target != IGNORE_INDEX].tolist()
        assert kept == [t for reply in replies for t in tok.encode(reply).ids + [end]]
        # Each kept target is the next input token: positions line up.
        ids = (first if row == 0 else second).ids
        positions = (target != IGNORE_INDEX).nonzero().flatten().tolist()
        assert [ids[p + 1] for p in positions] == kept
    user_content = tok.encode("Hi <|end|>").ids
    assert end not in user_content  # literal marker text in a message is ordinary bytes
    assert second.ids[:2] == [template.role_ids["system"], *tok.encode("Be brief.").ids][:2]


def test_bad_records_are_reported_with_file_and_line(tmp_path, task):
    _, tokdir, *_ = task
    template = ChatTemplate(load_tokenizer(tokdir)[0])
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"prompt": "ok", "response": "fine"},
        {"prompt": "no response"},
        "{not json",
        {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"role": "user", "content": "only a question"}]},
        {"prompt": "long " * 80, "response": "x"},
        {"prompt": 3, "response": "x"},
    ])
    with pytest.raises(GristmillError) as err:
        read_examples([path], template, seq_len=64)
    message = str(err.value)
    assert "6 bad instruction record(s)" in message
    for line, text in [(2, "missing 'response'"), (3, "Expecting property name"), (4, "unknown role 'robot'"),
                       (5, "no assistant message"), (6, "longer than seq_len + 1 = 65"), (7, "must be strings")]:
        assert f"{path}:{line}: " in message and text in message
    assert f"{path}:1:" not in message


def finetune_config(root, tokdir, train, val, init_from, **extra) -> str:
    cfg = {"init_from": str(init_from), "tokenizer": str(tokdir), "out_dir": str(root / "ft"), "log_every": 10,
           "data": {"train": train, "val": val, "batch_size": 16},
           "optimizer": {"lr": 3e-3, "weight_decay": 0.0},
           "schedule": {"max_steps": 150, "warmup_steps": 10},
           "checkpoint": {"every": 0}, "eval": {"every": 0}} | extra
    (root / "ft.yaml").write_text(yaml.safe_dump({"finetune": cfg}))
    return str(root / "ft.yaml")


def test_a_tiny_model_learns_a_synthetic_instruction_set(task, capsys):
    root, tokdir, train, val, val_records = task
    tok, meta = load_tokenizer(tokdir)
    base = tiny_model(320, seed=0, seq_len=64)
    save_checkpoint(root / "base", base)
    assert main(["finetune", "--config", finetune_config(root, tokdir, train, val, root / "base")]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 150 and summary["train_examples"] == len(COLORS) * 2
    assert summary["val_loss"] < 0.25 * summary["base_val_loss"]
    tuned, state = checkpoint.load_model(root / "ft")
    assert state["init_from"].endswith("step-00000001.pt")
    template = ChatTemplate(tok)
    right = 0
    for record in val_records:
        ids, _ = template.render([{"role": "user", "content": record["prompt"]}], add_generation_prompt=True)
        out = list(generate_ids(tuned, ids, 30, temperature=0, stop_ids={template.end_id}))
        right += tok.decode(out[:-1]) == record["response"] and out[-1] == template.end_id
    assert right >= 10, f"{right} of {len(val_records)} held-out answers right"


def test_init_from_starts_pretraining_from_a_checkpoint_with_a_fresh_optimizer(tmp_path, capsys):
    tokens = write_token_dir(tmp_path / "tok", {"train": byte_docs(["hello world, " * 40] * 20),
                                                "val": byte_docs(["hello world, " * 40] * 4)},
                             vocab_size=257, eot_id=BYTE_EOT)
    def config(name, **extra):
        cfg = {"model": {"n_layer": 1, "n_head": 2, "n_embd": 32}, "out_dir": str(tmp_path / name),
               "data": {"train": [str(tokens)], "seq_len": 32, "batch_size": 4, "num_workers": 0},
               "schedule": {"max_steps": 3, "warmup_steps": 1}, "eval": {"every": 0, "max_batches": 1}} | extra
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"train": cfg}))
        return str(tmp_path / f"{name}.yaml")

    assert main(["train", "--config", config("first")]) == 0
    first = checkpoint.load(checkpoint.latest(tmp_path / "first/checkpoints"))
    # A vanishing learning rate: the second run's weights stay the first run's, so they came from init_from.
    second_cfg = config("second", init_from="first", optimizer={"lr": 1e-12},
                        schedule={"max_steps": 1, "warmup_steps": 0})
    assert main(["train", "--config", second_cfg]) == 0
    second = checkpoint.load(checkpoint.latest(tmp_path / "second/checkpoints"))
    assert second["step"] == 1 and second["scheduler"]["last_epoch"] == 1
    assert all(int(s["step"]) == 1 for s in second["optimizer"]["state"].values())
    for name, tensor in first["model"].items():
        torch.testing.assert_close(second["model"][name], tensor, atol=1e-6, rtol=0)
    # Another shape is refused by name.
    wide = config("wide", init_from="first", model={"n_layer": 1, "n_head": 2, "n_embd": 64})
    assert main(["train", "--config", wide]) != 0
    assert "another model shape (n_embd: 32 there, 64 here)" in capsys.readouterr().err


def test_epochs_visit_every_example_once_and_resume_continues_exactly(task, tmp_path):
    root, tokdir, train, val, _ = task
    from train.sft import Example, batch_at

    examples = [Example([i, i], [False, True], f"x:{i}") for i in range(10)]
    firsts = [e.ids[0] for step in range(5) for e in batch_at(examples, step, 4, seed=1)]  # two epochs
    assert sorted(firsts[:10]) == sorted(firsts[10:]) == list(range(10)) and firsts[:10] != firsts[10:]

    save_checkpoint(tmp_path / "base", tiny_model(320, seed=0, seq_len=64))
    def run(name, *flags):
        config = finetune_config(tmp_path, tokdir, train, [], tmp_path / "base", out_dir=str(tmp_path / name),
                                 schedule={"max_steps": 4, "warmup_steps": 1}, checkpoint={"every": 2, "keep": 5})
        assert main(["finetune", "--config", config, *flags]) == 0
    run("whole")
    run("split")
    (tmp_path / "split/checkpoints/step-00000004.pt").unlink()
    run("split", "--resume")
    whole = checkpoint.load(tmp_path / "whole/checkpoints/step-00000004.pt")["model"]
    split = checkpoint.load(tmp_path / "split/checkpoints/step-00000004.pt")["model"]
    for name, tensor in whole.items():
        torch.testing.assert_close(split[name], tensor, atol=0, rtol=0)


def test_finetune_config_errors_name_the_problem(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("finetune:\n  tokenizer: t\n  data: {train: x.jsonl, batchsize: 2}\n")
    assert main(["finetune", "--config", str(tmp_path / "bad.yaml")]) != 0
    err = capsys.readouterr().err
    assert "'init_from': Field required" in err and "unknown key 'data.batchsize'" in err
    from train.sft import load_finetune_config

    (tmp_path / "ok.yaml").write_text("init_from: run\ntokenizer: tok\ndata: {train: a.jsonl}\noptimizer: {lr: 0.001}\n")
    cfg = load_finetune_config(tmp_path / "ok.yaml", ["data.batch_size=4"])
    assert cfg.init_from == str(tmp_path / "run") and cfg.data.train == [str(tmp_path / "a.jsonl")]
    assert cfg.data.batch_size == 4 and cfg.optimizer.lr == 1e-3 and cfg.optimizer.weight_decay == 0.0
