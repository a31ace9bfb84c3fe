"""MinHash signatures end to end (text in, signature out, shingling included): gristmill against rensa and datasketch.

    .venv/bin/python benchmarks/minhash_signatures.py [--docs 3000] [--repeat 3]

The same real documents (book, wiki and web chunks of ~250 words, benchmarks/near_dup_data.py),
the same shingles (lower-cased `\\w+` words, 5-grams), at 128 and 256 permutations, one process:

- gristmill: `MinHasher.signatures` on batches of 512 documents.
- rensa `RMinHash` and `CMinHash` (Rust): the 5-gram shingle strings built in Python, as rensa's
  users do (rensa hashes strings itself), then `update(shingles)` and `digest()` per document;
  CMinHash also through its batch call `digests_from_token_sets`.
- rensa `digest_matrix_from_flat_token_hashes`: rensa's permutation step (num_perm hash functions
  over every shingle) on gristmill's own numpy shingle hashes (`batch_shingle_hashes`, batches of
  512), i.e. rensa's core in place of gristmill's one permutation hashing.
- datasketch `MinHash.bulk` (byte-string shingles built in Python).

Every peer times the whole path from text to signature. Passes alternate between peers and the
best of --repeat counts, so load from other processes hits all alike.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import machine, require_corpora  # noqa: E402
from benchmarks.near_dup_data import base_documents  # noqa: E402
from pipelines.minhash import MinHasher, batch_shingle_hashes  # noqa: E402

_WORD = re.compile(r"\w+")
NGRAM = 5


def shingle_strings(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    return [" ".join(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)]


def peers(num_perm: int) -> dict:
    import rensa
    from datasketch import MinHash

    hasher = MinHasher(num_perm=num_perm, seed=42, ngram=NGRAM)

    def gristmill(texts):
        for i in range(0, len(texts), 512):
            hasher.signatures(texts[i : i + 512])

    def rensa_r(texts):
        for text in texts:
            m = rensa.RMinHash(num_perm=num_perm, seed=42)
            m.update(shingle_strings(text))
            m.digest()

    def rensa_c(texts):
        for text in texts:
            m = rensa.CMinHash(num_perm=num_perm, seed=42)
            m.update(shingle_strings(text))
            m.digest()

    def rensa_c_batch(texts):
        for i in range(0, len(texts), 512):
            rensa.CMinHash.digests_from_token_sets([shingle_strings(t) for t in texts[i : i + 512]], num_perm, 42)

    def rensa_r_on_our_hashes(texts):
        for i in range(0, len(texts), 512):
            batch = texts[i : i + 512]
            hashes, doc = batch_shingle_hashes(batch, "word", NGRAM)
            offsets = np.concatenate(([0], np.cumsum(np.bincount(doc, minlength=len(batch))))).astype(np.uint64)
            rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, num_perm, 42)

    def datasketch_bulk(texts):
        MinHash.bulk(([s.encode() for s in shingle_strings(t)] for t in texts), num_perm=num_perm)

    return {
        "gristmill MinHasher": gristmill,
        "rensa RMinHash (update)": rensa_r,
        "rensa CMinHash (update)": rensa_c,
        "rensa CMinHash (batch)": rensa_c_batch,
        "rensa R core on gristmill hashes": rensa_r_on_our_hashes,
        "datasketch bulk": datasketch_bulk,
    }


def best_rates(fns: dict, texts: list[str], repeat: int) -> dict:
    best = dict.fromkeys(fns, float("inf"))
    names = list(fns)
    for round_ in range(repeat):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            start = time.process_time()
            fns[name](texts)
            best[name] = min(best[name], time.process_time() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    docs = base_documents(require_corpora())
    step = max(1, len(docs) // args.docs)
    texts = [d["text"] for d in docs[::step][: args.docs]]
    words = sum(len(_WORD.findall(t)) for t in texts) / len(texts)
    print(f"{machine()}; {len(texts)} documents, {words:.0f} words on average; CPU seconds, best of {args.repeat}")
    for num_perm in (128, 256):
        rates = best_rates(peers(num_perm), texts, args.repeat)
        ours = rates["gristmill MinHasher"]
        print(f"\nnum_perm={num_perm}")
        for name, value in rates.items():
            print(f"  {name:<34} {value:>9.0f} docs/s   gristmill = {ours / value:5.2f}x")


if __name__ == "__main__":
    main()
