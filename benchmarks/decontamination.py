"""Decontamination recall, false positives and cost, on real eval sets planted into real text.

    .venv/bin/python benchmarks/decontamination.py [--planted 4000] [--datatrove 600]

Eval sets (real, from ../shared/corpora): HumanEval prompts (164), WikiText-2 raw
test paragraphs (one item per paragraph line), and UD English-EWT dev/test
sentences. Clean documents: every Gutenberg book cut into ~3,000-character chunks,
the whole-page text (resiliparse, menus and all) of every HTML page under web/html,
the Common Crawl WET documents, and the WikiText-2 validation articles (the eval set's own
domain) cut into chunks. None of those sources holds the eval sets.

Planted documents: a clean document with one eval item inserted as its own
paragraph at a random paragraph break, in one of four variants: verbatim,
re-cased, re-spaced (whitespace runs, newlines and tabs between words, a space
before punctuation that ends a word), and words changed (one word in 20, at least one, replaced
by a word of the host document). Recall = planted documents rejected; a planted
document counts as found only if its detail names the planted item.

Throughput: the judge over the clean documents, single process, against the
quality rule families (`quality.rule_chain.apply_rules`) on the same documents in
the same run. With --datatrove N, datatrove's NGramsDecontFilter (13-grams, its
own normalisation and spaCy word splitting, index built with its indexer's
`compute_hashes`) judges N planted and N clean documents for a verdict comparison, and so
does lm-eval-harness's Janitor when `lm_eval` is importable (its janitor needs none of
lm-eval's dependencies: `pip install --no-deps lm-eval`, or the wheel unpacked on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from common import best_cpu_seconds, book_chunks, machine, require_corpora, run_measured  # noqa: E402
from quality.decontamination import (  # noqa: E402
    DecontaminationSettings,
    build_index,
    make_decontamination_judge,
    words,
)

VARIANTS = ("verbatim", "recased", "respaced", "words_changed")


def clean_documents(corpora: Path) -> list[dict]:
    from resiliparse.extract.html2text import extract_plain_text

    docs = []
    with gzip.open(corpora / "books" / "books.jsonl.gz", "rt", encoding="utf-8") as f:
        for book in map(json.loads, f):
            docs += [{"id": f"{book['id']}#{i}", "text": c, "kind": "book"} for i, c in enumerate(book_chunks(book["text"]))]
    for path in sorted((corpora / "web" / "html").rglob("*.html.gz")):
        html = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        text = extract_plain_text(html, main_content=False)
        if len(text.split()) >= 50:
            docs.append({"id": f"html:{path.parent.name}/{path.name}", "text": text, "kind": "web"})
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs += [{"id": r["id"], "text": r["text"], "kind": "web"} for r in map(json.loads, f)]
    with open(corpora / "wiki" / "wikitext2_tokenized_valid.jsonl", encoding="utf-8") as f:
        for article in map(json.loads, f):
            chunks = book_chunks(article["text"].replace("\n", "\n\n"))
            docs += [{"id": f"{article['id']}#{i}", "text": c, "kind": "wiki"} for i, c in enumerate(chunks)]
    return docs


def write_eval_sets(corpora: Path, folder: Path) -> list[dict]:
    """The three eval sets as JSONL files; returns their `decontamination.sets` entries."""
    paragraphs = []
    with open(corpora / "wiki" / "wikitext2_raw_test.jsonl", encoding="utf-8") as f:
        for article in map(json.loads, f):
            for n, line in enumerate(article["text"].split("\n")):
                if line.strip() and not line.strip().startswith("="):
                    paragraphs.append({"id": f"{article['id']}#{n}", "text": line.strip()})
    sentences = [json.loads(line) for line in open(corpora / "multilingual" / "en.jsonl", encoding="utf-8")]
    files = {
        "wikitext2_test": paragraphs,
        "ud_en_ewt": [{"id": s["id"], "text": s["text"]} for s in sentences],
    }
    for name, rows in files.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return [
        {"name": "humaneval", "path": str(corpora / "code" / "humaneval.jsonl"), "fields": ["prompt"], "id_field": "id"},
        {"name": "wikitext2_test", "path": str(folder / "wikitext2_test.jsonl"), "id_field": "id"},
        {"name": "ud_en_ewt", "path": str(folder / "ud_en_ewt.jsonl"), "id_field": "id"},
    ]


def eval_items(sets: list[dict], min_words: int) -> list[tuple[str, str, str]]:
    """(set, item id, text) of every item the index holds (items below min_words cannot be found by design)."""
    items = []
    for s in sets:
        field = s["fields"][0] if "fields" in s else "text"
        for line in open(s["path"], encoding="utf-8"):
            row = json.loads(line)
            if len(words(row[field])) >= min_words:
                items.append((s["name"], str(row[s["id_field"]]), row[field]))
    return items


def variant(text: str, kind: str, host_words: list[str], rng: random.Random) -> str:
    if kind == "recased":
        return rng.choice([str.upper, str.title, str.swapcase])(text)
    if kind == "respaced":
        spaced = re.sub(r" +", lambda _: rng.choice(["  ", "\n", " \t ", "   ", " "]), text)
        return re.sub(r"(\w)([,.;:!?])(?=\s|$)", r"\1 \2", spaced)
    if kind == "words_changed":
        tokens = text.split(" ")  # code's indentation gives empty tokens: replacing one inserts a word
        for i in rng.sample(range(len(tokens)), max(1, len(tokens) // 20)):
            tokens[i] = rng.choice(host_words)
        return " ".join(tokens)
    return text


def changes(text: str, kind: str) -> int:
    """How many tokens `variant` replaces (0 for the variants that change no word)."""
    return max(1, len(text.split(" ")) // 20) if kind == "words_changed" else 0


def plant(host: str, item: str, rng: random.Random) -> str:
    paragraphs = host.split("\n\n") if "\n\n" in host else host.split("\n")
    at = rng.randrange(len(paragraphs) + 1)
    return "\n\n".join(paragraphs[:at] + [item] + paragraphs[at:])


def planted_documents(clean: list[dict], items, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for k in range(n):
        host = rng.choice(clean)
        name, item_id, text = rng.choice(items)
        kind = VARIANTS[k % len(VARIANTS)]
        host_words = host["text"].split() or ["word"]
        docs.append({"id": f"planted-{k}", "text": plant(host["text"], variant(text, kind, host_words, rng), rng),
                     "set": name, "item": item_id, "variant": kind, "item_words": len(words(text)), "kind": host["kind"],
                     "changes": changes(text, kind)})
    return docs


def evaluate(judge, planted, clean):
    by_variant = defaultdict(lambda: [0, 0])
    by_length = defaultdict(lambda: [0, 0])  # (variant, item length bucket)
    misses = []
    for doc in planted:
        rejection = judge(doc)[1]
        found = rejection is not None and doc["item"] in json.loads(rejection[1]).get(doc["set"], [])
        by_variant[doc["variant"]][0] += found
        by_variant[doc["variant"]][1] += 1
        bucket = "<13" if doc["item_words"] < 13 else "13-25" if doc["item_words"] <= 25 else ">25"
        by_length[doc["variant"], bucket][0] += found
        by_length[doc["variant"], bucket][1] += 1
        if not found:
            misses.append(doc)
    false_positives = [(doc, r) for doc in clean if (r := judge(doc)[1]) is not None]
    return by_variant, by_length, misses, false_positives


def datatrove_comparison(sets, planted, clean, n: int, ours_judge) -> dict:
    """Verdicts of datatrove's NGramsDecontFilter vs ours on the same documents."""
    import numpy as np
    from datatrove.data import Document
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.text import ngrams, simplify_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    config = NGramsDecontConfig(n_grams=13)
    tokenizer, datatrove_hash = load_word_tokenizer("en"), create_hash_func(config.hash_config)

    def hash_func(text: str) -> int:
        # datatrove 0.10.1 hands str to xxhash, which wants bytes: the stage fails as shipped. Encode first.
        return datatrove_hash(text.encode("utf-8"))

    def compute_hashes(label: str) -> list[int]:
        """NGramsDecontIndexer.compute_hashes for an item without query (the indexer itself needs lighteval)."""
        tokens = tokenizer.word_tokenize(simplify_text(label, config.norm_config))
        return [hash_func(" ".join(g)) for g in ngrams(tokens, config.n_grams)]

    with tempfile.TemporaryDirectory() as tmp:
        for s in sets:
            field = s["fields"][0] if "fields" in s else "text"
            hashes = set()
            for line in open(s["path"], encoding="utf-8"):
                hashes.update(compute_hashes(json.loads(line)[field]))
            np.array(sorted(hashes), dtype=np.uint64).tofile(os.path.join(tmp, f"{s['name']}.index.hashes"))
        dt_filter = NGramsDecontFilter(index_folder=tmp, config=config)
        dt_filter.hash_func = hash_func
        docs = planted[:n] + clean[:: max(1, len(clean) // n)][:n]
        agree = Counter()
        start = time.process_time()
        dt_verdicts = [dt_filter.filter(Document(text=d["text"], id=d["id"])) is not True for d in docs]
        dt_time = time.process_time() - start
        start = time.process_time()
        our_verdicts = [ours_judge(d)[1] is not None for d in docs]
        our_time = time.process_time() - start
        differ = Counter()
        for d, dt, ours in zip(docs, dt_verdicts, our_verdicts):
            agree[("planted" if "variant" in d else "clean", ours, dt)] += 1
            if ours != dt:
                differ[("gristmill only" if ours else "datatrove only", d.get("variant"), d.get("item_words", 0) >= 13)] += 1
        return {"docs": len(docs), "table": agree, "differ": differ, "dt_s": dt_time, "ours_s": our_time,
                "planted_found_dt": sum(dt for d, dt in zip(docs, dt_verdicts) if "variant" in d),
                "planted_found_ours": sum(o for d, o in zip(docs, our_verdicts) if "variant" in d),
                "planted": sum("variant" in d for d in docs)}


def lm_eval_comparison(sets, planted, clean, n: int, ours_judge) -> dict | None:
    """Verdicts of lm-eval-harness's Janitor (13-grams, pure-Python path) vs ours; None when lm_eval is absent."""
    try:
        from lm_eval.decontamination.janitor import Janitor, word_ngrams_indices
    except ImportError:
        return None
    janitor = Janitor(ngram_n=13)
    for s in sets:
        field = s["fields"][0] if "fields" in s else "text"
        for line in open(s["path"], encoding="utf-8"):
            janitor.register_contaminant_python(json.loads(line)[field])

    def contaminated(text: str) -> bool:
        # Janitor.clean_python's test for a contaminated n-gram (clean_python itself returns chunks).
        return any(janitor.normalize_string(g) in janitor.dirt_ngrams for g, _ in word_ngrams_indices(text, 13))

    docs = planted[:n] + clean[:: max(1, len(clean) // n)][:n]
    start = time.process_time()
    theirs = [contaminated(d["text"]) for d in docs]
    their_s = time.process_time() - start
    ours = [ours_judge(d)[1] is not None for d in docs]
    differ = Counter()
    for d, t, o in zip(docs, theirs, ours):
        if t != o:
            differ[("gristmill only" if o else "lm-eval only", d.get("variant", "clean"), d.get("item_words", 0) >= 13)] += 1
    return {"docs": len(docs), "planted": sum("variant" in d for d in docs),
            "found_theirs": sum(t for d, t in zip(docs, theirs) if "variant" in d),
            "found_ours": sum(o for d, o in zip(docs, ours) if "variant" in d),
            "clean_rejected_theirs": sum(t for d, t in zip(docs, theirs) if "variant" not in d),
            "clean_rejected_ours": sum(o for d, o in zip(docs, ours) if "variant" not in d),
            "differ": differ, "their_s": their_s}


def curate_cost(clean: list[dict], sets: list[dict], folder: Path, repeat: int) -> dict:
    """`gristmill curate` (default config, DirectRunner in one process, so the CPU time is all of it) on the
    clean documents, without and with the three sets, alternately `repeat` times; wall and CPU seconds."""
    import yaml

    (folder / "curate_in").mkdir()
    (folder / "curate_in" / "docs.jsonl").write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n"
                                                            for d in clean), encoding="utf-8")
    runs = defaultdict(list)
    for k in range(repeat):
        for with_sets in (False, True):
            out = folder / f"curate_out_{k}_{with_sets}"
            config = {"inputs": [str(folder / "curate_in")], "output": {"dir": str(out)},
                      "runner": {"direct_num_workers": 1, "direct_running_mode": "in_memory"}}
            if with_sets:
                config["decontamination"] = {"sets": sets}
            cfg = folder / "curate.yaml"
            cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
            before = os.times()
            result = run_measured([sys.executable, "-m", "gristmill.cli", "curate", "--config", str(cfg)], cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            after = os.times()
            cpu = after.children_user + after.children_system - before.children_user - before.children_system
            manifest = json.loads((out / "manifest.json").read_text())
            runs[with_sets].append({"wall_s": result["wall_s"], "cpu_s": cpu, "kept": manifest["counts"]["kept"]})
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datatrove", type=int, default=600, help="documents of each kind for datatrove (0 = skip)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--curate", type=int, default=2, help="curate runs without and with decontamination (0 = skip)")
    parser.add_argument("--curate-only", action="store_true", help="only the curate runs")
    args = parser.parse_args()
    corpora = require_corpora()
    print(f"machine: {machine()}; load average at start: {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory(prefix="gristmill-decont-") as tmp:
        tmp = Path(tmp)
        sets = write_eval_sets(corpora, tmp)
        clean = clean_documents(corpora)
        mb = sum(len(d["text"].encode()) for d in clean) / 1e6
        print(f"clean documents: {len(clean)} ({sum(d['kind'] == 'book' for d in clean)} book chunks, "
              f"{sum(d['kind'] == 'web' for d in clean)} web pages), {mb:.1f} MB")
        from pipelines.config import QualityConfig
        from quality.rule_chain import FAMILIES, apply_rules

        q = QualityConfig()
        enabled = {f.name: getattr(q, f.name) for f in FAMILIES if getattr(q, f.name).enabled}
        rules_cpu = best_cpu_seconds(lambda d: apply_rules(d["text"], enabled, "en"), clean, args.repeat)
        configs = {} if args.curate_only else {"13-grams and near matches (default)": {}, "13-grams only (near_match_min_words: null)":
                   {"near_match_min_words": None}, "8-grams only": {"ngram": 8, "near_match_min_words": None}}
        for label, overrides in configs.items():
            settings = DecontaminationSettings(sets=sets, **overrides)
            start = time.perf_counter()
            index = build_index(settings)
            build_s = time.perf_counter() - start
            judge = make_decontamination_judge(settings)
            items = eval_items(sets, settings.min_item_words)
            planted = planted_documents(clean, items, args.planted, args.seed)
            by_variant, by_length, misses, fps = evaluate(judge, planted, clean)
            found = sum(v[0] for v in by_variant.values())
            print(f"\n## {label}: index {len(index.hashes):,} n-gram entries, {len(index.seed_hashes):,} seeds, "
                  f"{index.nbytes / 1e6:.2f} MB, built in {build_s:.1f} s")
            for name, st in index.set_stats.items():
                print(f"  set {name}: {st}")
            print(f"  recall: {found}/{len(planted)} = {found / len(planted):.4f}")
            print(f"    {'variant':14s} {'all':>18s} " + " ".join(f"{'words ' + b:>18s}" for b in ("<13", "13-25", ">25")))
            for kind in VARIANTS:
                hit, total = by_variant[kind]
                cells = [f"{h}/{t} = {h / t:.3f}" if t else "-" for h, t in (by_length[kind, b] for b in ("<13", "13-25", ">25"))]
                print(f"    {kind:14s} {f'{hit}/{total} = {hit / total:.3f}':>18s} " + " ".join(f"{c:>18s}" for c in cells))
            print(f"  false positives: {len(fps)}/{len(clean)} = {len(fps) / len(clean):.4%}")
            for doc, rejection in fps[:10]:
                print(f"    FP {doc['id']}: {rejection[0]} {rejection[1][:120]}")
            for doc in misses[:8]:
                print(f"    miss {doc['variant']} {doc['set']}/{doc['item']} ({doc['item_words']} words, "
                      f"{doc['changes']} words changed)")
            if not overrides:
                judge13, planted13 = judge, planted
            if "ngram" not in overrides:
                cpu = best_cpu_seconds(judge, clean, args.repeat)
                print(f"\n  judge throughput (CPU s, best of {args.repeat}): {len(clean) / cpu:,.0f} docs/s, "
                      f"{mb / cpu:.1f} MB/s per core; / quality rules time = {cpu / rules_cpu:.3f}")
        print(f"\n## quality rule families on the same documents, same run: {len(clean) / rules_cpu:,.0f} docs/s, "
              f"{mb / rules_cpu:.1f} MB/s per core")
        if args.datatrove and not args.curate_only:
            result = datatrove_comparison(sets, planted13, clean, args.datatrove, judge13)
            print(f"\n## datatrove NGramsDecontFilter (13-grams) vs gristmill on {result['docs']} documents")
            print(f"  planted found: gristmill {result['planted_found_ours']}/{result['planted']}, "
                  f"datatrove {result['planted_found_dt']}/{result['planted']}")
            for key, count in sorted(result["table"].items()):
                kind, ours, dt = key
                print(f"  {kind:8s} gristmill {'reject' if ours else 'keep  '} datatrove {'reject' if dt else 'keep  '}: {count}")
            for (who, kind, long_item), count in sorted(result["differ"].items(), key=str):
                print(f"    {who}: {kind}, item {'>=' if long_item else '<'} 13 words: {count}")
            print(f"  CPU s: datatrove {result['dt_s']:.1f}, gristmill {result['ours_s']:.2f} "
                  f"({result['dt_s'] / result['ours_s']:.1f}x)")
            result = lm_eval_comparison(sets, planted13, clean, args.datatrove, judge13)
            if result is None:
                print("\n## lm-eval-harness: not installed (pip install --no-deps lm-eval); skipped")
            else:
                print(f"\n## lm-eval-harness Janitor (13-grams) vs gristmill on {result['docs']} documents")
                print(f"  planted found: gristmill {result['found_ours']}/{result['planted']}, "
                      f"lm-eval {result['found_theirs']}/{result['planted']}; clean rejected: gristmill "
                      f"{result['clean_rejected_ours']}, lm-eval {result['clean_rejected_theirs']}")
                for (who, kind, long_item), count in sorted(result["differ"].items(), key=str):
                    print(f"    {who}: {kind}, item {'>=' if long_item else '<'} 13 words: {count}")
                print(f"  CPU s: lm-eval {result['their_s']:.1f}")
        if args.curate:
            runs = curate_cost(clean, sets, tmp, args.curate)
            print(f"\n## gristmill curate, default config, one process, {len(clean)} clean documents ({mb:.1f} MB)")
            for with_sets in (False, True):
                print(f"  {'with' if with_sets else 'without'} decontamination: " + ", ".join(
                    f"{r['wall_s']:.1f} s wall / {r['cpu_s']:.1f} s CPU (kept {r['kept']})" for r in runs[with_sets]))
            cpu = {w: min(r["cpu_s"] for r in runs[w]) for w in (False, True)}
            judge_cpu = best_cpu_seconds(make_decontamination_judge(DecontaminationSettings(sets=sets)), clean, args.repeat)
            print(f"  decontamination share of the run's CPU time (best runs): {(cpu[True] - cpu[False]) / cpu[True]:.3f}; "
                  f"judge CPU on the same documents / run CPU: {judge_cpu / cpu[True]:.3f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
