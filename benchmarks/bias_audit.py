"""The removal audit on real English text: what the flagged-words list would remove if rejection were on.

Documents: the English Universal Dependencies sentences and the WikiText-2 raw
test articles split into paragraphs (../shared/corpora). The rule under audit
rejects any document with a flagged word (ratio > 0, the C4 setting); the audit
compares the share of documents mentioning each identity axis among those it
removes with the base rate.

    .venv/bin/python benchmarks/bias_audit.py [--corpora DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from quality.bias import AXES, BiasSettings, add_counts, doc_counts, flagged_words_ratio, removal_audit  # noqa: E402


def documents(corpora: Path) -> list[str]:
    docs = [json.loads(line)["text"] for line in (corpora / "multilingual" / "en.jsonl").open(encoding="utf-8")]
    for line in (corpora / "wiki" / "wikitext2_raw_test.jsonl").open(encoding="utf-8"):
        docs += [p.strip() for p in json.loads(line)["text"].split("\n") if len(p.strip()) > 40]
    return docs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", type=Path, default=REPO.parent / "shared" / "corpora")
    args = parser.parse_args(argv)
    kept, removed = {}, {}
    for text in tqdm(documents(args.corpora), desc="audit", unit="doc"):
        add_counts(removed if flagged_words_ratio(text, "en") > 0 else kept, doc_counts(text))
    audit = removal_audit(kept, {"bias:flagged_words": removed}, BiasSettings())
    rule = audit["rules"]["bias:flagged_words"]
    print(f"{audit['docs']} documents; the flagged-words rule would remove {rule['docs']} "
          f"({rule['docs'] / audit['docs']:.2%})")
    print(f"{'axis':<22} {'base rate':>9} {'removed':>8} {'ratio':>6}")
    for axis in AXES:
        ratio = rule["ratio_to_base"][axis]
        print(f"{axis:<22} {audit['base_rate'][axis]:>9.4f} {rule['axis_share'][axis]:>8.4f} "
              f"{'n/a' if ratio is None else f'{ratio:.2f}':>6}")
    print("flagged:", [(f["axis"], f["ratio"]) for f in audit["flagged"]] or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
