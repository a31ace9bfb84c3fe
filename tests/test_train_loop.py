"""The training loop end to end on CPU: loss falls, exact resume, safe checkpoints, config errors, DDP."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys

import pytest
import torch
import yaml

from gristmill.cli import main
from gristmill.errors import GristmillError
from train import checkpoint
from train_support import BYTE_EOT, byte_docs, byte_token_bytes, one_thread, write_token_dir  # noqa: F401 (one_thread: autouse)

TINY = {
    "model": {"n_layer": 2, "n_head": 2, "n_embd": 64, "mlp": "swiglu"},
    "optimizer": {"lr": 3e-3, "weight_decay": 0.0},
    "eval": {"max_batches": 4},
    "log_every": 1,
}


@pytest.fixture(scope="module")
def shakespeare_tokens(corpora, tmp_path_factory):
    """Tiny Shakespeare as byte tokens (256 = end of text), one document per speech."""
    text = (corpora / "books/raw/tinyshakespeare_en.txt").read_text(encoding="utf-8")[:300_000]
    docs = byte_docs([d for d in text.split("\n\n") if d.strip()])
    cut = int(len(docs) * 0.9)
    return write_token_dir(tmp_path_factory.mktemp("tok"), {"train": docs[:cut], "val": docs[cut:]},
                           vocab_size=257, eot_id=BYTE_EOT, docs_per_shard=400, token_bytes=byte_token_bytes())


def write_config(path, tokens, **overrides) -> str:
    cfg = json.loads(json.dumps(TINY))
    cfg["data"] = {"train": [str(tokens)], "seq_len": 64, "batch_size": 8, "num_workers": 0}
    cfg["out_dir"] = str(path / "run")
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            cfg.setdefault(section, {})[name] = value
        else:
            cfg[section] = value
    path.mkdir(parents=True, exist_ok=True)
    (path / "train.yaml").write_text(yaml.safe_dump({"train": cfg}))
    return str(path / "train.yaml")


def metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_loss_falls_on_real_text_and_eval_reports_bits_per_byte(tmp_path, shakespeare_tokens):
    config = write_config(tmp_path, shakespeare_tokens, schedule={"max_steps": 100, "warmup_steps": 5},
                          eval__every=50, eval__max_batches=None)
    assert main(["train", "--config", config]) == 0
    rows = metrics(tmp_path / "run")
    train_rows = [r for r in rows if "loss" in r]
    evals = [r for r in rows if "val_loss" in r]
    assert train_rows[0]["loss"] > 5.0  # about ln(257) at the start
    assert sum(r["loss"] for r in train_rows[-5:]) / 5 < 0.6 * train_rows[0]["loss"]
    assert [r["step"] for r in evals] == [50, 100] and evals[1]["val_loss"] < evals[0]["val_loss"] < 0.65 * math.log(257)
    assert all(r["mfu"] is None and r["tokens_per_s"] > 0 and r["grad_norm"] > 0 for r in train_rows)
    manifest = json.loads((shakespeare_tokens / "manifest.json").read_text())["splits"]["val"]
    last = evals[-1]
    # The whole val split was scored; with byte tokens, the bytes are the targets that are not end of text.
    assert last["val_tokens"] > 0.95 * manifest["tokens"]
    assert last["val_tokens"] - manifest["docs"] <= last["val_bytes"] < last["val_tokens"]
    assert 0.9 * last["val_loss"] / math.log(2) < last["val_bpb"] < 1.1 * last["val_loss"] / math.log(2)
    assert last["val_ppl"] == pytest.approx(math.exp(last["val_loss"]))


def test_interrupted_run_resumed_reproduces_the_losses_exactly(tmp_path, shakespeare_tokens):
    common = dict(schedule={"max_steps": 10, "warmup_steps": 2}, checkpoint={"every": 3, "keep": 2},
                  eval__every=5, data__doc_mask=True)
    whole = write_config(tmp_path / "whole", shakespeare_tokens, **common)
    assert main(["train", "--config", whole, "--set", "data.num_workers=2"]) == 0
    split = write_config(tmp_path / "split", shakespeare_tokens, **common)
    assert main(["train", "--config", split, "--set", "data.num_workers=2", "--stop-at-step", "4"]) == 0
    ckpts = [p.name for p in checkpoint.all_checkpoints(tmp_path / "split/run/checkpoints")]
    assert ckpts == ["step-00000003.pt", "step-00000004.pt"]
    assert main(["train", "--config", split, "--set", "data.num_workers=2", "--resume"]) == 0

    def by_step(rows, key):
        return {r["step"]: r[key] for r in rows if key in r}

    a, b = metrics(tmp_path / "whole/run"), metrics(tmp_path / "split/run")
    assert sorted(by_step(b, "loss")) == list(range(1, 11))
    for key in ("loss", "grad_norm", "lr", "val_loss"):
        assert by_step(a, key) == by_step(b, key), key


class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, shakespeare_tokens, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, shakespeare_tokens, schedule={"max_steps": 1, "warmup_steps": 0})
    evil = tmp_path / "run/checkpoints/step-00000005.pt"
    evil.parent.mkdir(parents=True)
    evil.write_bytes(pickle.dumps({"step": 5, "model": RunsCode()}))
    with pytest.raises(GristmillError, match="refused"):
        checkpoint.load(evil)
    assert main(["train", "--config", config, "--resume"]) == 2
    assert not (tmp_path / "PWNED").exists()


def test_checkpoints_are_written_atomically_and_pruned(tmp_path):
    state = {"w": __import__("torch").ones(3)}
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, state, keep=2)
    (tmp_path / "step-00000004.pt.tmp").write_bytes(b"half a file")
    (tmp_path / "notes.txt").write_text("not ours")
    assert [p.name for p in checkpoint.all_checkpoints(tmp_path)] == ["step-00000002.pt", "step-00000003.pt"]
    assert checkpoint.load(checkpoint.latest(tmp_path))["w"].tolist() == [1, 1, 1]
    checkpoint.save(tmp_path, 5, state, keep=2)  # a later save removes the crashed write's temporary file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "step-00000003.pt", "step-00000005.pt"]


def test_config_errors_name_the_key_and_the_allowed_keys(tmp_path, shakespeare_tokens, capsys):
    config = write_config(tmp_path, shakespeare_tokens, optimizer={"lr": 1e-3, "learning_rate": 1})
    assert main(["train", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'optimizer.learning_rate'" in err and "beta1" in err and "grad_clip" in err
    good = write_config(tmp_path / "g", shakespeare_tokens)
    assert main(["train", "--config", good, "--set", "data.batch_sise=4"]) == 2
    assert "unknown key 'data.batch_sise'" in capsys.readouterr().err


def test_ddp_two_processes_gloo(tmp_path, shakespeare_tokens, repo):
    config = write_config(tmp_path, shakespeare_tokens, schedule={"max_steps": 4, "warmup_steps": 1},
                          checkpoint={"every": 2, "keep": 1}, eval__every=4, eval__max_batches=2)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)}
    proc = subprocess.run(
        [torchrun, "--nproc_per_node=2", "--standalone", "-m", "gristmill.cli", "train", "--config", config],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = metrics(tmp_path / "run")
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]  # one writer: rank 0
    assert train_rows[0]["tokens"] == 2 * 8 * 64  # both ranks' batches count
    assert [r["step"] for r in rows if "val_loss" in r] == [4]
    state = checkpoint.load(checkpoint.latest(tmp_path / "run/checkpoints"))
    assert state["step"] == 4 and len(state["rng"]) == 2
    assert state["loader"]["consumed"] == 4 * 2 * 8


def test_overrides_reach_nested_keys_and_list_items(tmp_path, shakespeare_tokens):
    from train.config import load_train_config

    config = write_config(tmp_path, shakespeare_tokens)
    cfg = load_train_config(config, ["data.train.0.weight=2.5", "model.mlp=gelu", "compile=true", "out_dir=rel"])
    assert cfg.data.train[0].weight == 2.5 and cfg.model.mlp == "gelu" and cfg.compile is True
    assert cfg.out_dir == "rel"  # --set paths stay relative to the working directory
    with pytest.raises(GristmillError, match="no such place"):
        load_train_config(config, ["data.train.3.weight=1"])


def test_bits_per_byte_is_exact_against_decoding_the_scored_tokens(tmp_path, corpora):
    """evaluate() against a brute force: decode each scored window's targets (between end-of-text
    tokens) with the real tokenizer and count the UTF-8 bytes."""
    import contextlib

    import torch.nn.functional as F

    from tokenizer.tokenize import tokenize_dataset
    from tokenizer.saved import load_tokenizer
    from tokenizer.train import TokenizerTrainConfig, train_tokenizer
    from dataset_fixtures import write_dataset
    from tokenizer_data import real_docs
    from train.config import TrainConfig
    from train.data import TokenSplit, eval_batches, eval_sample
    from train.loop import Dist, evaluate
    from train.model import GPT, GPTConfig

    docs = [d for d in real_docs(corpora, book_chunk_chars=1500, max_book_chunks=30) if d["lang"] == "en"]
    dataset = write_dataset(tmp_path / "dataset", docs)
    train_tokenizer(dataset, tmp_path / "tok", TokenizerTrainConfig(vocab_size=400, val_fraction=0.0))
    tokenize_dataset(tmp_path / "tok", dataset, tmp_path / "tokens", val_fraction=0.3)
    tok, meta = load_tokenizer(tmp_path / "tok")
    cfg = TrainConfig.parse({"device": "cpu", "data": {"train": [str(tmp_path / "tokens")], "seq_len": 32, "batch_size": 4},
                        "eval": {"max_batches": 7, "batch_size": 3}}, "test")
    split = TokenSplit(tmp_path / "tokens", "val")
    windows = eval_sample(split, 32, 7 * 3, cfg.eval.seed)
    torch.manual_seed(0)
    model = GPT(GPTConfig(meta["vocab_size"], 32, n_layer=1, n_head=2, n_embd=32))
    model.loss_chunk = 40  # the chunked per-token path
    got = evaluate(model, split, windows, cfg, torch.device("cpu"), contextlib.nullcontext, Dist())

    nats = text_nats = 0.0
    n_bytes = count = 0
    with torch.no_grad():
        for tokens, rows in eval_batches(split, 32, 1, windows, 0, 1):
            x, y = tokens[:, :-1], tokens[0, 1:]
            losses = F.cross_entropy(model(x)[0].double(), y, reduction="none")
            nats, count = nats + losses.sum().item(), count + y.numel()
            is_text = y != meta["eot_id"]
            text_nats += losses[is_text].sum().item()
            ids = y.tolist()
            cuts = [-1] + [i for i, t in enumerate(ids) if t == meta["eot_id"]] + [len(ids)]
            for a, b in zip(cuts, cuts[1:]):
                text = tok.decode(ids[a + 1 : b], skip_special_tokens=False)
                assert "\ufffd" not in text  # no window cuts a character here, so decoding counts exactly
                n_bytes += len(text.encode("utf-8"))
    assert count == got["val_tokens"] == 21 * 32 and got["val_bytes"] == n_bytes
    assert got["val_loss"] == pytest.approx(nats / count, rel=1e-5)
    assert got["val_bpb"] == pytest.approx(text_nats / (math.log(2) * n_bytes), rel=1e-5)
    # The old estimate (the split's average bytes per token) is not this figure.
    old = nats / (math.log(2) * split.bytes * count / split.tokens)
    assert abs(old - got["val_bpb"]) / got["val_bpb"] > 0.01


def test_peak_flops_match_exact_device_names():
    from train.loop import peak_flops_for

    assert peak_flops_for("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops_for("NVIDIA H100 PCIe") == 756e12
    assert peak_flops_for("NVIDIA H100 NVL") == 835e12
    assert peak_flops_for("NVIDIA H200") == 989e12
    assert peak_flops_for("NVIDIA H200 NVL") == 835e12  # a substring match read it as an H200
    assert peak_flops_for("NVIDIA H800") == 989e12
    assert peak_flops_for("NVIDIA A100-SXM4-80GB") == peak_flops_for("NVIDIA A100 80GB PCIe") == 312e12
    assert peak_flops_for("NVIDIA B200") == 2250e12
    assert peak_flops_for("NVIDIA L40S") == 362e12
    for unknown in ("NVIDIA L40", "NVIDIA GeForce RTX 4090", "NVIDIA H100", "H200", "Tesla T4", ""):
        assert peak_flops_for(unknown) is None


def test_gpu_benchmark_script_runs_tiny_on_cpu(repo):
    """benchmarks/train_gpu.py end to end (one process per micro-batch size) with a tiny model on CPU."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(repo / "benchmarks/train_gpu.py"), "--tiny"],
                          capture_output=True, text=True, env=env, cwd=repo, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["device"] == "cpu" and report["steps"] == 6
    runs = report["runs"]
    assert [r["micro_batch"] for r in runs] == [16, 32, 64]
    for r in runs:
        assert r["tokens_per_s"] > 0 and r["mfu"] is None and r["steps_measured"] == 4
        assert math.isfinite(r["final_loss"]) and math.isfinite(r["val_loss"])
