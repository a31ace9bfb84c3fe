"""The fastText quality classifier: training on real books/Wikipedia vs raw web text, the CLI, the Beam stage."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from dataset_fixtures import write_dataset
from resiliparse.extract.html2text import extract_plain_text

from pipelines.classifier import cut_from_quantiles
from gristmill.cli import main as gristmill
from pipelines.config import CurateConfig
from quality.classifier import QualityClassifier, balance, chunks, split_documents, train_classifier
from quality.langid import bundled_model_path
from quality.text_files import read_texts


def books(corpora, n_words: int = 30_000) -> list[str]:
    """The English books, each cut to its first `n_words` words past the Gutenberg header, as a few documents each."""
    out = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["lang"] != "en":
                continue
            words = record["text"].split()[500 : 500 + n_words]
            out += [" ".join(words[i : i + 5000]) for i in range(0, len(words), 5000)]
    return out


def wiki(corpora) -> list[str]:
    return list(read_texts(corpora / "wiki" / "wikitext2_raw_test.jsonl"))


def raw_web(corpora, n_pages: int = 80) -> list[str]:
    """WET-style Common Crawl text plus whole-page text (menus, footers and all) of real HTML pages."""
    texts = []
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        texts += list(read_texts(path))
    for path in sorted((corpora / "web" / "html" / "article_extraction_benchmark").glob("*.html.gz"))[:n_pages]:
        html = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        text = extract_plain_text(html, main_content=False)
        if len(text.split()) >= 50:
            texts.append(text)
    return texts


@pytest.fixture(scope="module")
def data(corpora):
    return {"positive": books(corpora) + wiki(corpora), "negative": raw_web(corpora)}


@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "quality.bin"
    report = train_classifier(data["positive"], data["negative"], path, chunk_words=200, seed=1)
    return path, report


def test_books_and_wikipedia_vs_raw_web_is_learned(model):
    path, report = model
    assert path.is_file()
    assert report.train_positive == report.train_negative > 100  # balanced by downsampling
    metrics = report.heldout
    assert metrics.n_positive == metrics.n_negative > 20
    assert metrics.f1 >= 0.8, metrics.summary()  # chance is 0.5 on balanced classes
    assert metrics.precision >= 0.75 and metrics.recall >= 0.75, metrics.summary()


def test_score_is_probability_of_positive(model, corpora):
    scorer = QualityClassifier(model[0])
    book = books(corpora, n_words=3000)[0]
    web = raw_web(corpora, n_pages=0)[0]
    assert 0.0 <= scorer.score(web) < scorer.score(book) <= 1.0


def test_split_keeps_documents_whole_and_balance_is_seeded():
    docs = [f"doc {i}" for i in range(10)]
    train, held = split_documents(docs, 0.2, random.Random(0))
    assert len(held) == 2 and sorted(train + held) == sorted(docs) and not set(train) & set(held)
    assert split_documents(["a", "b"], 0.01, random.Random(0))[1]  # at least one held out
    pos, neg = balance(list(range(100)), list(range(10)), random.Random(3))
    assert len(pos) == len(neg) == 10
    assert pos == balance(list(range(100)), list(range(10)), random.Random(3))[0]
    assert chunks("a b\nc  d e", 2) == ["a b", "c d", "e"] and chunks("  ", 2) == []


def test_training_needs_two_documents_per_class(tmp_path):
    with pytest.raises(ValueError, match="at least 2 documents per class"):
        train_classifier(["one"], ["two", "three"], tmp_path / "m.bin")


def test_model_without_positive_label_is_refused():
    with pytest.raises(ValueError, match="lid.176.ftz: no 'positive' label"):
        QualityClassifier(bundled_model_path())


def test_cli_trains_from_jsonl_txt_and_a_dataset_dir(data, tmp_path, capsys):
    pos_jsonl = tmp_path / "pos.jsonl.gz"
    with gzip.open(pos_jsonl, "wt", encoding="utf-8") as handle:
        for text in data["positive"][:20]:
            handle.write(json.dumps({"body": text}) + "\n")
    book_txt = tmp_path / "book.txt"
    book_txt.write_text(data["positive"][-30], encoding="utf-8")
    # A curated dataset directory, read through its manifest.
    dataset = write_dataset(tmp_path / "web_ds", [{"id": str(i), "text": t, "source": "web"} for i, t in enumerate(data["negative"][:40])])
    neg_jsonl = tmp_path / "neg.jsonl"
    neg_jsonl.write_text("".join(json.dumps({"body": t}) + "\n" for t in data["negative"][40:]), encoding="utf-8")

    out = tmp_path / "cli.bin"
    code = gristmill(["quality", "train-classifier", "--positive", str(pos_jsonl), str(book_txt), "--negative", str(dataset),
                      str(neg_jsonl), "--text-field", "body", "--chunk-words", "200", "--output", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"read 21 positive and {len(data['negative'])} negative documents" in printed
    assert "precision" in printed and "F1" in printed and out.is_file()


def test_cli_names_the_bad_record(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": oops}\n', encoding="utf-8")
    code = gristmill(["quality", "train-classifier", "--positive", str(bad), "--negative", str(bad), "--output", str(tmp_path / "m.bin")])
    assert code == 2
    assert "bad.jsonl:2: not valid JSON" in capsys.readouterr().err


def test_config_section():
    assert CurateConfig.parse({}).classifier.enabled is False
    with pytest.raises(Exception, match="needs classifier.model_path"):
        CurateConfig.parse({"classifier": {"enabled": True}})
    with pytest.raises(Exception, match="top_percentile"):
        CurateConfig.parse({"classifier": {"enabled": True, "model_path": "m.bin", "top_percentile": 0}})


def _docs(data) -> list[dict]:
    texts = [("book", t) for t in data["positive"][:6]] + [("web", t) for t in data["negative"][:6]]
    return [{"id": f"{kind}{i}", "text": t, "source": kind} for i, (kind, t) in enumerate(texts)]


def curate_with_classifier(tmp_path, docs, classifier: dict) -> tuple[list[dict], list[dict]]:
    """`gristmill curate` with only the classifier judging; (kept rows, rejected rows), ids without the source prefix."""
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({
        "inputs": [str(src)], "output": {"dir": str(tmp_path / "out")},
        "language": {"enabled": False}, "near_dup": {"enabled": False},
        "quality": {family: {"enabled": False} for family in ("gopher_repetition", "gopher_quality", "fineweb")},
        "classifier": {"enabled": True, **classifier},
    }))
    assert gristmill(["curate", "--config", str(config), "--", "--direct_running_mode=in_memory"]) == 0
    out = tmp_path / "out"
    rows = {kind: [{**r, "id": r["id"].removeprefix("docs/")} for r in pq.read_table(out / kind).to_pylist()]
            for kind in ("data", "rejected")}
    return rows["data"], rows["rejected"]


def test_stage_with_threshold(model, data, tmp_path):
    docs = _docs(data)
    scorer = QualityClassifier(model[0])
    expected_kept = sorted(d["id"] for d in docs if scorer.score(d["text"]) >= 0.5)
    assert any(i.startswith("book") for i in expected_kept) and len(expected_kept) < len(docs)
    kept, rejected = curate_with_classifier(tmp_path, docs, {"model_path": str(model[0]), "threshold": 0.5})
    assert sorted(d["id"] for d in kept) == expected_kept
    assert [(d["reason"], float(d["detail"]) < 0.5, d["quality_score"] < 0.5) for d in rejected] == (
        [("classifier:low_score", True, True)] * (len(docs) - len(expected_kept))
    )


def test_stage_with_top_percentile_keeps_the_best_scores(model, data, tmp_path):
    docs = _docs(data)
    kept_rows, rejected_rows = curate_with_classifier(tmp_path, docs, {"model_path": str(model[0]), "top_percentile": 25})
    kept = [d["quality_score"] for d in kept_rows]
    rejected = [d["quality_score"] for d in rejected_rows]
    # 25% of 12 documents, from an approximate quantile over a tiny input: about 3 kept, never a worse one.
    assert len(kept) + len(rejected) == 12 and 2 <= len(kept) <= 4, (kept, rejected)
    assert min(kept) > max(rejected)


def test_cut_from_quantiles():
    quantiles = [i / 100 for i in range(101)]
    assert cut_from_quantiles(quantiles, 10) == 0.9
    assert cut_from_quantiles(quantiles, 100) == 0.0
    assert cut_from_quantiles([], 10) == 0.0


_TRAIN_HQ = (
    "import fasttext, sys; fasttext.train_supervised(input=sys.argv[1], epoch=10, lr=0.5, dim=16, wordNgrams=2,"
    " bucket=100_000, seed=int(sys.argv[3]), thread=1, verbose=0).save_model(sys.argv[2])"
)


@pytest.fixture(scope="module")
def custom_label_model(tmp_path_factory):
    """A pretrained-style fastText model with its own labels (`__label__hq` / `__label__cc`), trained here.

    This fastText build (fasttext-numpy2) now and then stops with "Encountered NaN" on such tiny
    data, even with a fixed seed (always with wordNgrams=1, so bigrams are on, as in
    `train_classifier`), more often in a process that has run a Beam pipeline. So it trains in a
    fresh child process, and a NaN start is retried.
    """
    rng = random.Random(0)
    hq = "theorem proof lemma equation analysis rigorous derivation careful study".split()
    cc = "click buy cheap deal sale free subscribe login cart".split()
    lines = [f"__label__{name} " + " ".join(rng.choice(vocab) for _ in range(12))
             for _ in range(200) for name, vocab in (("hq", hq), ("cc", cc))]
    folder = tmp_path_factory.mktemp("hq")
    (folder / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for attempt in range(6):
        run = subprocess.run([sys.executable, "-c", _TRAIN_HQ, str(folder / "train.txt"), str(folder / "hq.bin"), str(attempt)],
                             capture_output=True, text=True)
        if run.returncode == 0:
            return folder / "hq.bin"
        assert "NaN" in run.stderr, run.stderr
    pytest.fail("fastText hit NaN on every attempt")


def test_pretrained_model_with_its_own_label(custom_label_model):
    good, spam = "a careful derivation of the lemma and its proof", "click here for a cheap deal and free login"
    hq = QualityClassifier(custom_label_model, label="hq")
    assert hq.score(good) > 0.9 and hq.score(spam) < 0.1
    assert QualityClassifier(custom_label_model, label="__label__cc").score(spam) > 0.9
    with pytest.raises(ValueError, match=r"no 'positive' label \(labels: (hq, cc|cc, hq)\); set classifier.label"):
        QualityClassifier(custom_label_model)
    assert CurateConfig.parse({"classifier": {"enabled": True, "model_path": "m.bin", "label": "hq"}}).classifier.label == "hq"
    assert CurateConfig.parse({}).classifier.label == "positive"


def test_stage_scores_the_configured_label(custom_label_model, tmp_path):
    docs = [{"id": "good", "text": "the proof of the theorem by rigorous analysis"},
            {"id": "spam", "text": "buy now cheap sale subscribe to the cart"}]
    kept, rejected = curate_with_classifier(
        tmp_path, docs, {"model_path": str(custom_label_model), "label": "hq", "threshold": 0.5}
    )
    assert [d["id"] for d in kept] == ["good"] and [d["id"] for d in rejected] == ["spam"]
