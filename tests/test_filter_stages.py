"""URL filter and decontamination inside `gristmill curate`: rejections, manifest section, stop before work."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from conftest import runner_args
from gristmill.cli import main

ITEM = "the committee agreed that the northern bridge would be rebuilt in stone before the spring floods arrived"
PROSE = "Farmers brought their grain to the old mill by the river, and the miller ground it into flour for the valley. "


@pytest.fixture
def setup(tmp_path):
    rows = [
        {"id": "clean", "text": PROSE * 4, "url": "https://news.example.org/a"},
        {"id": "leak", "text": PROSE + ITEM.upper() + ". " + PROSE, "url": "https://news.example.org/b"},
        # One word changed in the 17-word item leaves no intact 13-gram: found as a near match.
        {"id": "edited", "text": PROSE + ITEM.replace("stone", "brick") + ". " + PROSE, "url": "https://news.example.org/c"},
        {"id": "blocked", "text": PROSE * 3 + "Blocked.", "url": "https://www.Ads.Spam.example/x"},
        {"id": "lookalike", "text": PROSE * 3 + "Look-alike.", "url": "https://notspam.example/x"},
    ]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "eval.jsonl").write_text(json.dumps({"id": "q1", "question": ITEM}) + "\n")
    (tmp_path / "domains.txt").write_text("spam.example\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        "inputs: [docs.jsonl]\noutput: {dir: out}\nlanguage: {enabled: false}\nnear_dup: {enabled: false}\n"
        "quality: {gopher_repetition: {enabled: false}, gopher_quality: {enabled: false}, fineweb: {enabled: false}}\n"
        "url_filter: {domain_lists: [domains.txt]}\n"
        "decontamination: {sets: [{name: quiz, path: eval.jsonl, fields: [question], id_field: id}]}\n"
    )
    return config


@pytest.mark.slow
def test_blocked_urls_and_contaminated_documents_are_rejected(setup, tmp_path):
    assert main(["curate", "--config", str(setup), *runner_args("in_memory")]) == 0
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    rejected = {r["id"].removeprefix("docs/"): r for r in pq.read_table(out / "rejected").to_pylist()}
    assert {k: r["reason"] for k, r in rejected.items()} == {
        "leak": "decontamination:quiz", "edited": "decontamination:quiz", "blocked": "url_filter:domain"}
    assert json.loads(rejected["leak"]["detail"]) == json.loads(rejected["edited"]["detail"]) == {"quiz": ["q1"]}
    kept = {r["id"].removeprefix("docs/") for r in pq.read_table(out / "data").to_pylist()}
    assert kept == {"clean", "lookalike"}
    quiz = manifest["decontamination"]["sets"]["quiz"]
    assert quiz["items_indexed"] == 1 and quiz["items_found"] == 1 and quiz["docs_removed"] == 2
    assert quiz["near_match_segments"] == 1
    funnel = [row["stage"] for row in manifest["counts"]["funnel"]]
    assert funnel.index("url_filter") < funnel.index("decontamination")


def test_a_malformed_eval_file_stops_the_run_before_work(setup, tmp_path, capsys):
    (tmp_path / "eval.jsonl").write_text(json.dumps({"id": "q1", "question": ITEM}) + "\n{not json\n")
    assert main(["curate", "--config", str(setup), *runner_args("in_memory")]) == 2
    err = capsys.readouterr().err
    assert "eval.jsonl" in err and ":2" in err
    assert not (tmp_path / "out").exists() and not list((tmp_path / "out.staging").rglob("*.done.json"))
