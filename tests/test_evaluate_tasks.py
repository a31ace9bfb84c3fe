"""`gristmill eval`: multiple choice as lm-eval-harness scores it, SQuAD exact match and F1, and a cross-check
against lm-eval-harness itself on the exported model, item for item."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
import torch

from model_support import save_checkpoint, tiny_model, tiny_tokenizer
from gristmill.cli import main
from gristmill.errors import GristmillError
from tokenizer.saved import load_tokenizer
from train.evaluate_tasks import answer, evaluate_file, normalize_answer, read_items, token_f1
from train_support import one_thread, write_jsonl  # noqa: F401 (one_thread: an autouse fixture)

HELLASWAG = [
    {"ind": 4, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles.",
     "ctx_b": "then", "ctx": "", "endings": [", the man adds wax to the windshield and cuts it.", ", a person board a ski lift, while two men supporting the head of the person wearing winter clothes snow as the we girls sled.",
                                             ", the man puts on a christmas coat, knitted with netting.", ", the man continues removing the snow on his car."], "label": 3, "split": "val", "split_type": "indomain", "source_id": "activitynet~v_-1IBHYS3L-Y"},
    {"ind": 8, "activity_label": "Baking cookies", "ctx_a": "A female chef in white uniform shows a stack of baking pans in a large kitchen presenting them.",
     "ctx_b": "the pans", "ctx": "", "endings": ["contain egg yolks and baking soda.", "are then sprinkled with brown sugar.", "are placed in a strainer on the counter.",
                                                "are filled with pastries and loaded into the oven."], "label": 3, "split": "val", "split_type": "indomain", "source_id": "activitynet~v_-2dxp-mv2zo"},
    {"ind": 12, "activity_label": "Home and Garden", "ctx_a": "[header] How to clean a dog's ears [title] Fill the tub.", "ctx_b": "then",
     "ctx": "", "endings": ["add [substeps] a little soap.", "the dog jumps in.", "you sit down [step] and wait.", "The sky is blue."], "label": 0, "split": "val", "split_type": "zeroshot", "source_id": "wikihow~1"},
    {"ind": 20, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
     "ctx": "", "endings": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", "starts pulling up roofing on a roof."], "label": 3, "split": "val", "split_type": "indomain", "source_id": "activitynet~v_-JhWjGDPHMY"},
]
MC = [
    {"context": "Question: What color is the sky?\nAnswer:", "choices": ["blue", "green", "a loud noise"], "label": 0},
    {"context": "Two plus two is ", "choices": ["four", "five"], "label": 0},
    {"context": "Paris is the capital of", "choices": ["France", "the moon", "Spain", "Germany"], "label": 0},
    {"context": "The quick brown fox jumps over the", "choices": ["lazy dog.", "fence", "sky"], "label": 1},
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    tokdir = tiny_tokenizer(root / "tok")
    model = tiny_model(448, seed=11, seq_len=256)
    save_checkpoint(root / "run", model)
    return root, tokdir, model


@torch.no_grad()
def independent_logprob(model, tok, context: str, choice: str) -> float:
    """Straight from the definition: sum of log p(continuation token | everything before it), one sequence at a time."""
    ctx_ids = tok.encode(context.rstrip()).ids
    full = tok.encode(context.rstrip() + context[len(context.rstrip()):] + " " + choice).ids
    x = torch.tensor([full[:-1]])
    target = torch.tensor([[-100] * (len(ctx_ids) - 1) + full[len(ctx_ids):]])
    return -float(model(x, target, reduction="sum"))


def test_hellaswag_items_are_preprocessed_as_lm_eval_does(tmp_path):
    items = read_items(write_jsonl(tmp_path / "hs.jsonl", HELLASWAG), "hellaswag")
    assert items[2]["context"] == "Home and Garden: How to clean a dog's ears. Fill the tub. Then"
    assert items[2]["choices"][0] == "add a little soap." and items[2]["choices"][2] == "you sit down and wait."
    assert items[3] == {"context": "Roof shingle removal: A man is sitting on a roof. He",
                        "choices": HELLASWAG[3]["endings"], "label": 3}


@pytest.mark.parametrize("fmt, records", [("hellaswag", HELLASWAG), ("mc", MC)])
def test_multiple_choice_scores_match_an_independent_computation(setup, tmp_path, fmt, records):
    root, tokdir, model = setup
    tok, _ = load_tokenizer(tokdir)
    task = write_jsonl(tmp_path / "task.jsonl", records)
    result = evaluate_file(model, tok, task, fmt, samples_path=tmp_path / "samples.jsonl")
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    acc, acc_norm = [], []
    for sample in samples:
        lls = [independent_logprob(model, tok, sample["context"], c) for c in sample["choices"]]
        assert sample["loglikelihoods"] == pytest.approx(lls, abs=1e-4)
        lengths = [len(c) for c in sample["choices"]]
        acc.append(float(int(np.argmax(lls)) == sample["label"]))
        acc_norm.append(float(int(np.argmax(np.array(lls) / lengths)) == sample["label"]))
    assert [s["acc"] for s in samples] == acc and [s["acc_norm"] for s in samples] == acc_norm
    assert result["items"] == len(records) and result["acc"] == statistics.mean(acc)
    assert result["acc_norm_stderr"] == pytest.approx(statistics.stdev(acc_norm) / math.sqrt(len(acc_norm)))


def test_squad_normalisation_and_f1():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert token_f1("the Eiffel tower in Paris", "Eiffel Tower") == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))
    assert token_f1("blue", "red") == 0.0


def test_qa_scores_greedy_answers(setup, tmp_path, capsys):
    root, tokdir, _ = setup
    tok, meta = load_tokenizer(tokdir)
    # A model that has memorised one answer, so its greedy reply is known: "the blue sky", then a newline.
    model = tiny_model(448, seed=1, seq_len=256).train()
    ids = torch.tensor([tok.encode("Question: What color is the sky?\nAnswer: the blue sky\n" * 4).ids])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(150):
        model(ids[:, :-1], ids[:, 1:]).backward()
        optimizer.step()
        optimizer.zero_grad()
    save_checkpoint(tmp_path / "qa-run", model.eval())
    assert answer(model, tok, "Question: What color is the sky?\nAnswer:", 8, meta["eot_id"]) == "the blue sky"
    task = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "What color is the sky?", "answers": ["grey", "Blue sky!"]},  # exact after SQuAD's normalisation
        {"question": "What color is the sky?", "answers": {"text": ["blue zebra"]}},  # SQuAD's own answer layout
        {"question": "What color is the sky?", "answers": "zebra"},
    ])
    assert main(["eval", "--checkpoint", str(tmp_path / "qa-run"), "--tokenizer", str(tokdir), "--task", task,
                 "--format", "qa", "--max-new-tokens", "8", "--samples", str(tmp_path / "qa.samples.jsonl")]) == 0
    result = json.loads(capsys.readouterr().out)
    samples = [json.loads(line) for line in (tmp_path / "qa.samples.jsonl").read_text().splitlines()]
    assert [s["prediction"] for s in samples] == ["the blue sky"] * 3
    assert [s["exact_match"] for s in samples] == [1.0, 0.0, 0.0] and [s["f1"] for s in samples] == [1.0, 0.5, 0.0]
    assert result["items"] == 3 and result["exact_match"] == pytest.approx(1 / 3) and result["f1"] == pytest.approx(0.5)
    assert result["exact_match_stderr"] == pytest.approx(statistics.stdev([1, 0, 0]) / math.sqrt(3))


def test_bad_task_items_are_reported_with_file_and_line(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [MC[0], {"context": "x", "choices": ["a", "b"], "label": 2},
                                                {"context": "x", "label": 0}, "[1, 2]"])
    with pytest.raises(GristmillError) as err:
        read_items(path, "mc")
    message = str(err.value)
    assert "3 bad mc item(s)" in message and f"{path}:1:" not in message
    assert f"{path}:2: label 2 is not the index of one of 2 choices" in message
    assert f"{path}:3: missing field 'choices'" in message and f"{path}:4: not a JSON object" in message


@pytest.mark.slow
def test_acc_and_acc_norm_equal_lm_eval_harness_item_for_item(setup, tmp_path, monkeypatch):
    """lm-eval-harness (offline: local JSON task files, the exported folder) against `gristmill eval` on the checkpoint."""
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    root, tokdir, model = setup
    tok, _ = load_tokenizer(tokdir)
    assert main(["export", "--checkpoint", str(root / "run"), "--tokenizer", str(tokdir), "--output", str(tmp_path / "hf")]) == 0
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "utils.py").write_text("from lm_eval.tasks.hellaswag.utils import process_docs\n")  # lm-eval's own preprocessing
    files = {"hellaswag": write_jsonl(tmp_path / "hs.jsonl", HELLASWAG), "mc": write_jsonl(tmp_path / "mc.jsonl", MC)}
    common = ("output_type: multiple_choice\nvalidation_split: validation\ndoc_to_target: \"{{label}}\"\n"
              "metric_list:\n  - metric: acc\n  - metric: acc_norm\n")
    (tasks / "gm_hellaswag.yaml").write_text(
        f"task: gm_hellaswag\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    validation: {files['hellaswag']}\n"
        "process_docs: !function utils.process_docs\ndoc_to_text: \"{{query}}\"\ndoc_to_choice: choices\n" + common)
    (tasks / "gm_mc.yaml").write_text(
        f"task: gm_mc\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    validation: {files['mc']}\n"
        "doc_to_text: \"{{context}}\"\ndoc_to_choice: \"{{choices}}\"\n" + common)
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={tmp_path / 'hf'},dtype=float32",
                                  tasks=["gm_hellaswag", "gm_mc"], task_manager=TaskManager(include_path=str(tasks)),
                                  log_samples=True, batch_size=4, device="cpu")
    for fmt, name in [("hellaswag", "gm_hellaswag"), ("mc", "gm_mc")]:
        ours = evaluate_file(model, tok, files[fmt], fmt, samples_path=tmp_path / f"{fmt}.samples.jsonl")
        mine = [json.loads(line) for line in (tmp_path / f"{fmt}.samples.jsonl").read_text().splitlines()]
        theirs = sorted(out["samples"][name], key=lambda s: s["doc_id"])
        assert len(theirs) == len(mine)
        for a, b in zip(mine, theirs):
            assert [arg[0] for arg in b["arguments"]] == [a["context"]] * len(a["choices"])
            assert [r[0] for r in b["filtered_resps"]] == pytest.approx(a["loglikelihoods"], abs=1e-4)
            assert (b["acc"], b["acc_norm"]) == (a["acc"], a["acc_norm"])
        summary = out["results"][name]
        assert summary["acc,none"] == ours["acc"] and summary["acc_norm,none"] == ours["acc_norm"]
        assert summary["acc_stderr,none"] == pytest.approx(ours["acc_stderr"])
        assert summary["acc_norm_stderr,none"] == pytest.approx(ours["acc_norm_stderr"])
