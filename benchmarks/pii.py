"""PII detection: precision and recall per entity type, gristmill vs Presidio's pattern recognizers.

Data: the span-labelled files in ../shared/corpora/pii (synthetic PII from
presidio-research). Both detectors run on the same documents in the same
process. Presidio runs without any NLP model: its predefined pattern
recognizers are called directly (`recognizer.analyze(text, entities, None)`),
spaCy is never loaded (the script fails if anything tries to), and
tldextract uses its bundled public-suffix snapshot instead of fetching one.

Matching: a detection is a true positive when it overlaps a labelled span of
the same type; a labelled span is recalled when a detection of its type
overlaps it. Throughput is documents per CPU-second of this one process, so
it reads as docs/s per core even on a shared machine.

`--speed` instead times gristmill's own scan both ways on the same texts: the
windowed scan curate runs (`quality.pii.scan`) against the plain one that runs
every pattern over the whole text (`plain=True`, the detectors as they were
before the windows), per kind of text: the distinct documents of
`vs_datatrove.py`'s input (Gutenberg chunks, WikiText, Common Crawl WET, HTML
main text, UD paragraphs; --share of them), plus the PII test data. Process CPU
time, best of --repeat passes, the two alternating; the entities of the two
must be equal, or it exits with an error.

    .venv/bin/python benchmarks/pii.py [--corpus DIR] [--presidio-threshold 0.0]
    .venv/bin/python benchmarks/pii.py --speed [--share 0.25] [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quality.pii import PiiSettings, apply_policies, scan  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "pii"
# Corpus label -> the type compared here. Labels outside this map are not PII we detect.
GOLD = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IP_ADDRESS": "IP", "CREDIT_CARD": "CREDIT_CARD",
        "IBAN_CODE": "IBAN", "US_SSN": "US_SSN"}
OURS = {"EMAIL": "EMAIL", "PHONE": "PHONE", "IP_ADDRESS": "IP", "PRIVATE_IP": "IP", "CREDIT_CARD": "CREDIT_CARD",
        "IBAN": "IBAN", "US_SSN": "US_SSN"}
PRESIDIO = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IP_ADDRESS": "IP", "CREDIT_CARD": "CREDIT_CARD",
            "IBAN_CODE": "IBAN", "US_SSN": "US_SSN"}
TYPES = ["EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "US_SSN"]
TARGET_RECALL = {"EMAIL": 0.99, "IP": 0.99, "CREDIT_CARD": 0.99, "IBAN": 0.99, "US_SSN": 0.99, "PHONE": 0.9}
TARGET_PRECISION = 0.95


def load(corpus: Path) -> list[dict]:
    docs = []
    for path in sorted(corpus.glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            docs += [json.loads(line) for line in f if line.strip()]
    if not docs:
        raise SystemExit(f"no *.jsonl documents under {corpus}")
    return docs


NETWORK_ATTEMPTS: list[str] = []


def forbid_downloads():
    """Record (and refuse) every network connection, and make loading a spaCy model an error."""
    import socket

    def refuse_connect(sock, address, *args):
        NETWORK_ATTEMPTS.append(str(address))
        raise OSError(f"benchmark must not use the network (tried {address})")

    socket.socket.connect = refuse_connect
    try:
        import spacy
    except ImportError:
        return

    def refuse(*args, **kwargs):
        raise RuntimeError("benchmark must not load a spaCy model")

    spacy.load = refuse
    spacy.cli.download = refuse


def presidio_detector(threshold: float):
    import tldextract

    # Presidio's EmailRecognizer calls tldextract, which fetches the public suffix list on first use;
    # the snapshot bundled with tldextract is used instead, so nothing is downloaded.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    recognizers = [EmailRecognizer(), PhoneRecognizer(), IpRecognizer(), CreditCardRecognizer(), IbanRecognizer(),
                   UsSsnRecognizer()]

    def detect(text: str) -> list[tuple[int, int, str]]:
        out = []
        for recognizer in recognizers:
            for r in recognizer.analyze(text, recognizer.supported_entities, None):
                if r.score >= threshold and r.entity_type in PRESIDIO:
                    out.append((r.start, r.end, PRESIDIO[r.entity_type]))
        return out

    return detect


def gristmill_detect(text: str) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, OURS[s.entity]) for s in scan(text) if s.entity in OURS]


def evaluate(name: str, detect, docs: list[dict]) -> dict:
    tp = defaultdict(int)
    fp = defaultdict(int)
    found = defaultdict(int)
    total = defaultdict(int)
    false_positives = defaultdict(list)
    cpu = time.process_time()
    wall = time.perf_counter()
    predictions = [detect(doc["text"]) for doc in tqdm(docs, desc=name, unit="doc", leave=False)]
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for doc, predicted in zip(docs, predictions):
        gold = [(s["start"], s["end"], GOLD[s["label"]]) for s in doc["spans"] if s["label"] in GOLD]
        for start, end, kind in predicted:
            if any(kind == k and start < e and end > s for s, e, k in gold):
                tp[kind] += 1
            else:
                fp[kind] += 1
                false_positives[kind].append(doc["text"][start:end])
        for start, end, kind in gold:
            total[kind] += 1
            found[kind] += any(kind == k and start < e and end > s for s, e, k in predicted)
    per_type = {}
    for kind in TYPES:
        predicted_n = tp[kind] + fp[kind]
        per_type[kind] = {
            "gold": total[kind],
            "recall": found[kind] / total[kind] if total[kind] else None,
            "precision": tp[kind] / predicted_n if predicted_n else None,
            "false_positives": false_positives[kind][:5],
        }
    return {"name": name, "per_type": per_type, "docs_per_cpu_s": len(docs) / cpu, "wall_s": wall}


def fmt(x):
    return "  n/a" if x is None else f"{x:.3f}"


def speed_texts(corpus: Path, share: float, workdir: Path) -> dict[str, list[str]]:
    """{kind: texts}: every 1/share-th distinct document of vs_datatrove.py's input, by kind, and the PII test data."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from common import CORPORA
    from vs_datatrove import base_documents

    workdir.mkdir(parents=True, exist_ok=True)
    step = max(1, round(1 / share))
    kinds: dict[str, list[str]] = defaultdict(list)
    for doc_id, text in base_documents(CORPORA, workdir)[::step]:
        kinds[doc_id.split("-")[0]].append(text)
    kinds["pii test data"] = [doc["text"] for doc in load(corpus)]
    return dict(kinds)


def cpu_seconds(fn, texts) -> float:
    start = time.process_time()
    for text in texts:
        fn(text)
    return time.process_time() - start


PII_TEST_DATA = "pii test data"


def speed(args) -> int:
    """The windowed scan against the plain one, per kind of text; see the module docstring."""
    kinds = speed_texts(args.corpus, args.share, args.workdir)
    settings = PiiSettings()
    plain = functools.partial(scan, plain=True)
    print(f"{'texts':<18} {'docs':>6} {'MB':>6} | {'plain CPU-s':>11} {'windowed':>9} {'ratio':>6} | "
          f"{'apply_policies':>14} | entities  equal")
    totals = defaultdict(float)
    unequal = []

    def row(name, docs, mb, best, entities="", equal=""):
        print(f"{name:<18} {docs:>6} {mb:>6.2f} | {best['plain']:>11.3f} {best['windowed']:>9.3f} "
              f"{best['plain'] / best['windowed']:>5.2f}x | {best['apply']:>14.3f} | {entities:>8}  {equal}")

    for kind in sorted(kinds, key=lambda k: k == PII_TEST_DATA):
        texts = kinds[kind]
        found = [scan(text) for text in texts]
        equal = found == [plain(text) for text in texts]
        if not equal:
            unequal.append(kind)
        best = {"plain": float("inf"), "windowed": float("inf"), "apply": float("inf")}
        for _ in range(args.repeat):  # alternating, so a busy moment of the shared machine hits both
            best["plain"] = min(best["plain"], cpu_seconds(plain, texts))
            best["windowed"] = min(best["windowed"], cpu_seconds(scan, texts))
            best["apply"] = min(best["apply"], cpu_seconds(lambda t: apply_policies(t, settings), texts))
        mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
        if kind == PII_TEST_DATA:
            row("vs_datatrove docs", int(totals["docs"]), totals["mb"], totals)
        else:
            totals["docs"] += len(texts)
            totals["mb"] += mb
            for key, value in best.items():
                totals[key] += value
        row(kind, len(texts), mb, best, sum(map(len, found)), "yes" if equal else "NO")
    if unequal:
        print(f"the windowed scan differs from the plain one on: {', '.join(unequal)}")
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of span-labelled *.jsonl")
    parser.add_argument("--presidio-threshold", type=float, default=0.0,
                        help="minimum Presidio score kept (0.0 = AnalyzerEngine's default)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--speed", action="store_true", help="time the windowed scan against the plain one instead")
    parser.add_argument("--share", type=float, default=0.25, help="--speed: share of vs_datatrove.py's documents")
    parser.add_argument("--repeat", type=int, default=3, help="--speed: passes of each, the best counts")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gristmill-vs-datatrove"),
                        help="--speed: where vs_datatrove.py caches the HTML main text")
    args = parser.parse_args(argv)
    if args.speed:
        return speed(args)

    forbid_downloads()
    docs = load(args.corpus)
    results = [evaluate("gristmill", gristmill_detect, docs),
               evaluate(f"presidio(score>={args.presidio_threshold})", presidio_detector(args.presidio_threshold), docs)]
    ours, theirs = results

    print(f"{len(docs)} documents from {args.corpus}")
    print(f"{'type':<12} {'gold':>5} | {'gristmill P':>11} {'R':>6} | {'presidio P':>10} {'R':>6} | targets")
    failures = []
    for kind in TYPES:
        a, b = ours["per_type"][kind], theirs["per_type"][kind]
        ok = []
        if a["recall"] is None or a["recall"] < TARGET_RECALL[kind]:
            failures.append(f"{kind} recall {fmt(a['recall'])} < {TARGET_RECALL[kind]}")
            ok.append("R below target")
        if a["precision"] is None or a["precision"] < TARGET_PRECISION:
            failures.append(f"{kind} precision {fmt(a['precision'])} < {TARGET_PRECISION}")
            ok.append("P below target")
        for metric in ("precision", "recall"):
            if b[metric] is not None and (a[metric] or 0) < b[metric]:
                failures.append(f"{kind} {metric} below Presidio's")
                ok.append(f"{metric} < presidio")
        print(f"{kind:<12} {a['gold']:>5} | {fmt(a['precision']):>11} {fmt(a['recall']):>6} | "
              f"{fmt(b['precision']):>10} {fmt(b['recall']):>6} | {', '.join(ok) or 'met'}")
    for r in results:
        print(f"{r['name']}: {r['docs_per_cpu_s']:.0f} docs per CPU-second (wall {r['wall_s']:.1f} s)")
    print(f"throughput ratio gristmill/presidio: {ours['docs_per_cpu_s'] / theirs['docs_per_cpu_s']:.2f}x")
    for kind in TYPES:
        for r in results:
            if r["per_type"][kind]["false_positives"]:
                print(f"  {r['name']} {kind} false positives (first 5): {r['per_type'][kind]['false_positives']}")
    print(f"network connection attempts: {len(NETWORK_ATTEMPTS)}")
    if NETWORK_ATTEMPTS:
        failures.append(f"tried to reach the network: {NETWORK_ATTEMPTS[:3]}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print("all targets met" if not failures else "targets missed: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
