"""Rows, config and manifest sections of the report tests' datasets (written by `dataset_fixtures.write_dataset`)."""

from __future__ import annotations

from pipelines.config import CurateConfig

SENTENCES = [
    "The river mill ground wheat for the whole valley, and farmers came from three villages to use it.",
    "In spring the water ran high, so the miller opened the sluice gate and let the wheel turn faster.",
    "A good dataset is counted twice: once by the pipeline that writes it and once by the report that reads it.",
    "Bread made from stone-ground flour keeps its flavour longer than bread from roller-milled flour.",
    "The old ledger recorded every sack of grain, the name of its owner and the price paid for grinding.",
    "Children watched the great wheel from the bridge while ducks paddled in the calm water of the pond.",
]


def kept_rows() -> list[dict]:
    rows = []
    for i, sentence in enumerate(SENTENCES):
        text = f"{sentence} Record {i}: please write to the office for details, <EMAIL> answers within a week."
        rows.append({"id": f"doc-{i:03d}", "text": text, "source": "fixture", "n_chars": len(text),
                     "lang": "en", "lang_score": 0.9 + i / 100, "dup_cluster": f"doc-{i:03d}", "dup_cluster_size": 1})
    return rows


def rejected_rows() -> list[dict]:
    return [
        {"id": "rej-000", "text": "", "source": "fixture", "n_chars": 0, "reason": "length:too_short", "detail": "0"},
        {"id": "rej-001", "text": "Der Müller mahlt das Korn, und das Wasser treibt das große Rad.", "source": "fixture",
         "n_chars": 63, "lang": "de", "lang_score": 0.97, "reason": "language:not_allowed", "detail": "de"},
        {"id": "rej-002", "text": "Call me at 555-123-4567 or write to someone@example.org about the mill.", "source": "fixture",
         "n_chars": 72, "lang": "en", "lang_score": 0.4, "reason": "language:low_score", "detail": "0.4000"},
    ]


def config() -> dict:
    data = CurateConfig().model_dump(mode="json")
    data["language"].update(allowed=["en"], min_score=0.65)
    data["length"].update(min_chars=10, max_chars=10_000)
    return data


# The sections the near-dup and bias stages add to the manifest.
SECTIONS = {
    "near_dup": {"clusters": 0, "removed": 0, "threshold": 0.8},
    "bias": {"terms": [{"group": "example", "kept_docs": 1, "rate_per_1k_words": 0.5}]},
}

ERRORS = [{"source_path": "in.jsonl", "offset": 7, "offset_unit": "line", "message": "not JSON", "excerpt": "{oops"}]
