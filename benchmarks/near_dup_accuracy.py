"""Near-dup accuracy and exactness, through the real Beam stage on the DirectRunner.

1. Controlled edits: real chunks (books, wiki, web) each get one edited copy
   (insertions, deletions, substitutions, span moves + substitutions, boilerplate
   added) at a target true Jaccard of the word-5-gram shingle sets from 0.5 to
   1.0. Reported: the share of pairs put in one cluster per true-Jaccard bin,
   pair precision (every pair inside a predicted cluster, judged by its true
   Jaccard >= threshold), recall for true Jaccard >= 0.85, and the adjusted Rand
   index against the true clusters (pairs at or above the threshold).
2. The labelled sets in corpora/neardup, scored against their own labels.
3. Exactness: on >= 20,000 documents the Beam components equal a plain
   union-find over the same verified edges.

    .venv/bin/python benchmarks/near_dup_accuracy.py [--per-cell 12] [--exact-docs 20000]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import machine, require_corpora  # noqa: E402
from benchmarks.near_dup_data import EDITS, base_documents, boilerplate_words, jaccard, scale_documents, variant_at  # noqa: E402
from pipelines.config import NearDupConfig  # noqa: E402
from pipelines.near_dup import lsh_shape  # noqa: E402
from tests.near_dup_support import run_stages  # noqa: E402
from pipelines.union_find import component_roots  # noqa: E402

LEVELS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
# The labelled sets are also run at a lower threshold: their positives are text reuse, often far below 0.8.
SET_THRESHOLDS = (0.8, 0.5)
BINS = ((0.5, 0.6), (0.6, 0.7), (0.7, 0.75), (0.75, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 0.95), (0.95, 1.0), (1.0, 1.01))


def adjusted_rand_index(a: list, b: list) -> float:
    """ARI of two labelings of the same items (Hubert & Arabie), from the contingency table."""
    _, ai = np.unique(np.asarray(a, dtype=object).astype(str), return_inverse=True)
    _, bi = np.unique(np.asarray(b, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai, bi), 1)
    comb = lambda x: x * (x - 1) / 2  # noqa: E731
    index = comb(table).sum()
    rows, cols = comb(table.sum(axis=1)).sum(), comb(table.sum(axis=0)).sum()
    expected = rows * cols / comb(len(a))
    maximum = (rows + cols) / 2
    return 1.0 if maximum == expected else float((index - expected) / (maximum - expected))


def labelled_set(corpora: Path, per_cell: int) -> tuple[list[dict], list[tuple[str, str, float, str]]]:
    """Docs and (base id, variant id, true Jaccard, edit kind) for per_cell bases per (level, edit kind)."""
    bases = base_documents(corpora)
    # Spread the picks over books, wiki and web in turn.
    by_kind = defaultdict(list)
    for d in bases:
        by_kind[d["kind"]].append(d)
    pools = [by_kind[k][:: max(1, len(by_kind[k]) // (len(LEVELS) * len(EDITS) * per_cell))] for k in ("books", "wiki", "web")]
    picks = [d for group in itertools.zip_longest(*pools) for d in group if d is not None]
    vocab = sorted({w for d in bases[:3000] for w in d["text"].split()})
    filler = boilerplate_words(corpora)
    docs, pairs = [], []
    cells = [(level, kind) for level in LEVELS for kind in EDITS for _ in range(per_cell)]
    for n, ((level, kind), base) in enumerate(tqdm(list(zip(cells, picks)), desc="labelled pairs")):
        text, j = variant_at(base["text"], level, kind, n, vocab, filler)
        vid = f"{base['id']}~{kind}"
        docs += [{"id": base["id"], "text": base["text"]}, {"id": vid, "text": text}]
        pairs.append((base["id"], vid, j, f"{base['kind']}/{kind}"))
    return docs, pairs


def near_dup_sets(corpora: Path) -> dict[str, tuple[list[dict], list[tuple[str, str, bool]]]]:
    """The labelled sets in corpora/neardup as docs and (a, b, is near-duplicate) pairs."""
    nd = corpora / "neardup"
    clough_docs = [json.loads(line) for line in (nd / "clough_stevenson_docs.jsonl").open()]
    clough_pairs = [json.loads(line) for line in (nd / "clough_stevenson_pairs.jsonl").open()]
    with gzip.open(nd / "gutenberg_editions.jsonl.gz", "rt", encoding="utf-8") as f:
        editions = [json.loads(line) for line in f]
    wiki = {}
    for name in ("wikitext2_raw_test", "wikitext2_tokenized_test"):
        for line in (corpora / f"wiki/{name}.jsonl").open():
            d = json.loads(line)
            wiki[d["id"]] = d["text"]
    wiki_pairs = [json.loads(line) for line in (nd / "wikitext2_raw_vs_tokenized_pairs.jsonl").open()]
    return {
        "clough_stevenson (cut/light = near-dup)": (
            [{"id": d["id"], "text": d["text"]} for d in clough_docs],
            [(p["a"], p["b"], p["near_duplicate"]) for p in clough_pairs],
        ),
        "gutenberg_editions (same work = near-dup)": (
            [{"id": d["id"], "text": d["text"]} for d in editions],
            [(a["id"], b["id"], a["cluster"] == b["cluster"]) for a, b in itertools.combinations(editions, 2)],
        ),
        "wikitext2 raw vs tokenized (all near-dup)": (
            [{"id": i, "text": t} for i, t in wiki.items()],
            [(p["a"], p["b"], True) for p in wiki_pairs],
        ),
    }


def run_all(runs: dict[str, tuple[list[dict], NearDupConfig]], tmp: Path) -> dict[str, dict[str, str]]:
    """doc id -> predicted cluster id, per named run; all runs in one pipeline."""
    results = run_stages(tmp, {f"run{i}": run for i, run in enumerate(runs.values())})
    clusters = {}
    for i, name in enumerate(runs):
        rows = {**results[f"run{i}"]["kept"], **results[f"run{i}"]["rejected"]}
        clusters[name] = {doc_id: row["dup_cluster"] for doc_id, row in rows.items()}
    return clusters


def score_labelled(docs, pairs, clusters, threshold) -> dict:
    texts = {d["id"]: d["text"] for d in docs}
    together = lambda a, b: clusters[a] == clusters[b]  # noqa: E731
    bins = []
    for lo, hi in BINS:
        inside = [p for p in pairs if lo <= p[2] < hi]
        hits = sum(together(a, b) for a, b, _, _ in inside)
        bins.append({"bin": f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}", "pairs": len(inside), "clustered": hits,
                     "rate": hits / len(inside) if inside else None})
    members = defaultdict(list)
    for doc_id, cluster in clusters.items():
        members[cluster].append(doc_id)
    predicted_pairs = [pair for group in members.values() for pair in itertools.combinations(sorted(group), 2)]
    true_j = {frozenset((a, b)): j for a, b, j, _ in pairs}
    correct = margin = 0
    for a, b in predicted_pairs:
        j = true_j.get(frozenset((a, b)))
        j = jaccard(texts[a], texts[b]) if j is None else j
        correct += j >= threshold
        margin += threshold - 0.05 <= j < threshold
    strong = [p for p in pairs if p[2] >= 0.85]
    truth = component_roots([(a, b) for a, b, j, _ in pairs if j >= threshold])
    ids = sorted(clusters)
    return {
        "bins": bins,
        "predicted_pairs": len(predicted_pairs),
        "precision": correct / len(predicted_pairs) if predicted_pairs else 1.0,
        # The same, not counting pairs within 0.05 below the threshold, where the signature's
        # estimate (sd ~0.026 at num_perm 256) cannot tell the two sides apart.
        "precision_margin": correct / (len(predicted_pairs) - margin) if len(predicted_pairs) > margin else 1.0,
        "recall_085": sum(together(a, b) for a, b, _, _ in strong) / len(strong),
        "recall_at_threshold": np.mean([together(a, b) for a, b, j, _ in pairs if j >= threshold]),
        "ari": adjusted_rand_index([clusters[i] for i in ids], [truth.get(i, i) for i in ids]),
        "by_edit": {
            kind: np.mean([together(a, b) for a, b, j, k in pairs if k.endswith(kind) and j >= 0.85])
            for kind in EDITS
        },
    }


def score_pairs(pairs, clusters, texts) -> dict:
    tp = sum(1 for a, b, y in pairs if y and clusters[a] == clusters[b])
    fp = sum(1 for a, b, y in pairs if not y and clusters[a] == clusters[b])
    pos = sum(1 for _, _, y in pairs if y)
    js = [jaccard(texts[a], texts[b]) for a, b, y in pairs if y]
    return {"pairs": len(pairs), "positives": pos, "tp": tp, "fp": fp,
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / pos if pos else None,
            "median_true_jaccard_of_positives": float(np.median(js)) if js else None}


def exactness(corpora: Path, n: int, config: NearDupConfig, tmp: Path) -> dict:
    docs = scale_documents(corpora, n)
    started = time.perf_counter()
    run = run_stages(tmp / "exact", {"exact": (docs, config)})["exact"]
    edges = [tuple(map(tuple, e)) for e in run["edges"]]
    beam_labels = {tuple(node): tuple(label) for node, label in run["labels"]}
    reference = component_roots(edges)
    return {"docs": len(docs), "verified_edges": len(edges), "nodes": len(reference),
            "clusters": len(set(reference.values())), "residual_edges": run["section"][0]["stats"]["residual_edges"],
            "equal": beam_labels == reference, "seconds": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-cell", type=int, default=12, help="bases per (Jaccard level, edit kind) cell")
    parser.add_argument("--exact-docs", type=int, default=20_000, help="documents for the exactness check")
    args = parser.parse_args()
    corpora = require_corpora()
    config = NearDupConfig(keep="smallest_id")
    bands, rows = lsh_shape(config)
    print(f"machine: {machine()}")
    print(f"config: threshold {config.threshold}, num_perm {config.num_perm}, bands {bands} x rows {rows}, word {config.ngram}-grams, verify on")

    docs, pairs = labelled_set(corpora, args.per_cell)
    sets = near_dup_sets(corpora)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        runs = {"labelled": (docs, config)}
        for threshold in SET_THRESHOLDS:
            runs.update({(name, threshold): (d, config.model_copy(update={"threshold": threshold})) for name, (d, _) in sets.items()})
        runs = run_all(runs, Path(tmp))
        print(f"\nBeam stage runs: {time.perf_counter() - started:.1f}s")

        s = score_labelled(docs, pairs, runs["labelled"], config.threshold)
        print(f"\n1. controlled edits: {len(pairs)} pairs, {len(docs)} docs")
        print(f"{'true Jaccard':>16} {'pairs':>6} {'clustered':>10} {'rate':>6}")
        for b in s["bins"]:
            rate = "-" if b["rate"] is None else f"{b['rate']:.3f}"
            print(f"{b['bin']:>16} {b['pairs']:>6} {b['clustered']:>10} {rate:>6}")
        print(f"pair precision (true J >= {config.threshold}): {s['precision']:.4f} over {s['predicted_pairs']} predicted pairs; "
              f"not counting pairs with true J in [{config.threshold - 0.05:.2f}, {config.threshold:.2f}): {s['precision_margin']:.4f}")
        print(f"recall, true J >= 0.85: {s['recall_085']:.4f};  recall, true J >= {config.threshold}: {s['recall_at_threshold']:.4f}")
        print("recall at J >= 0.85 by edit kind: " + ", ".join(f"{k} {v:.3f}" for k, v in s["by_edit"].items()))
        print(f"adjusted Rand index: {s['ari']:.4f}")

        print("\n2. labelled sets in corpora/neardup (their labels, not Jaccard)")
        for (name, (set_docs, set_pairs)), threshold in itertools.product(sets.items(), SET_THRESHOLDS):
            r = score_pairs(set_pairs, runs[name, threshold], {d["id"]: d["text"] for d in set_docs})
            prec = "-" if r["precision"] is None else f"{r['precision']:.3f}"
            print(f"  {name}, threshold {threshold}: pairs {r['pairs']}, positives {r['positives']}, TP {r['tp']}, FP {r['fp']}, "
                  f"precision {prec}, recall {r['recall']:.3f}, median true J of positives {r['median_true_jaccard_of_positives']:.3f}")

        e = exactness(corpora, args.exact_docs, NearDupConfig(), Path(tmp))
        print(f"\n3. exactness: {e['docs']} docs, {e['verified_edges']} verified edges, {e['nodes']} docs in "
              f"{e['clusters']} clusters, {e['residual_edges']} residual edges for the union-find; "
              f"Beam labels == union-find: {e['equal']} ({e['seconds']:.0f}s)")
    return 0 if e["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
