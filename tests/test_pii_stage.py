"""The PII and bias stages: redaction, rejection, manifest sections, the audit; and curate end to end."""

import json

import pyarrow.parquet as pq
import pytest

from gristmill.cli import main
from pipelines.bias import BiasStage
from pipelines.pii import PiiStage
from pipelines.stage import Stage
from quality.bias import BiasSettings
from quality.pii import PiiSettings
from stage_support import run_stage, section_of

SECRETS = ["jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "GB82WEST12345698765432", "460-89-9847"]


def test_pii_stage_redacts_counts_and_rejects_without_leaking():
    docs = [
        {"id": "a", "text": f"Write to {SECRETS[0]} or call {SECRETS[1]}.", "n_chars": 0},
        {"id": "b", "text": f"Card {SECRETS[2]}, IBAN {SECRETS[3]}, SSN {SECRETS[4]}.", "n_chars": 0},
        {"id": "c", "text": "Nothing personal here.", "n_chars": 0},
    ]
    config = PiiSettings.model_validate({"credit_card": {"action": "reject"}})
    stage = PiiStage(config)
    kept, rejected = run_stage(stage, docs)
    assert [(d["id"], d["text"], d["pii_email"], d["pii_phone"], d["n_chars"]) for d in kept] == [
        ("a", "Write to <EMAIL> or call <PHONE>.", 1, 1, len("Write to <EMAIL> or call <PHONE>.")),
        ("c", "Nothing personal here.", 0, 0, len("Nothing personal here.")),
    ]
    assert [(d["id"], d["text"], d["reason"], json.loads(d["detail"])) for d in rejected] == [
        ("b", "Card <CREDIT_CARD>, IBAN <IBAN>, SSN <US_SSN>.", "pii:credit_card",
         {"pii_credit_card": 1, "pii_iban": 1, "pii_us_ssn": 1}),
    ]
    s = section_of(stage, kept, rejected)
    assert (s["docs"], s["docs_with_pii"], s["entities"]["pii_email"], s["policies"]["credit_card"]["action"]) == (
        2, 1, 1, "reject"
    )


def _reject_religion(doc):
    """A rule built to remove one group: any document mentioning a place of worship."""
    if any(w in doc["text"].lower() for w in ("church", "mosque", "synagogue")):
        return doc, ("test:religion", "worship")
    return doc, None


def _reject_short(doc):
    return (doc, ("length:too_short", str(len(doc["text"])))) if len(doc["text"]) < 12 else (doc, None)


def test_bias_stage_signal_optional_rejection_and_audit_flags_the_biased_rule():
    texts = [f"Report {i} on the harvest and the weather." for i in range(40)]
    texts += [f"The church {i} and the mosque held a fair." for i in range(12)]
    texts += [f"tiny {i}" for i in range(12)]
    texts += ["What a load of shit, this is shit."]  # flagged ratio 2/8
    docs = [{"id": str(i), "text": t, "lang": "en"} for i, t in enumerate(texts)]
    bias = BiasStage(BiasSettings.model_validate({"max_flagged_ratio": 0.2}))
    all_rejected = []
    for rule in (_reject_religion, _reject_short):
        docs, rejected = run_stage(Stage(lambda rule=rule: rule), docs)
        all_rejected += rejected
    kept, rejected = run_stage(bias, docs)
    all_rejected += rejected

    assert [(d["reason"], d["detail"]) for d in rejected] == [("bias:flagged_words", "0.250000")]
    assert [d["flagged_words_ratio"] for d in kept] == [0.0] * 40

    s = section_of(bias, kept, all_rejected)
    audit = s["removal_audit"]
    assert audit["docs"] == len(texts)
    assert audit["kept_share"]["religion"] == 0.0
    assert audit["rules"]["test:religion"]["docs"] == 12
    assert [(f["rule"], f["axis"]) for f in audit["flagged"]] == [("test:religion", "religion")]
    assert s["representation"]["docs"] == 40
    assert s["flagged_words"]["kept_scored"] == 40


@pytest.mark.slow
def test_curate_end_to_end_writes_no_pii_anywhere(tmp_path):
    src = tmp_path / "in.jsonl"
    paragraphs = [
        "The old mill stood by the river for three hundred years. Farmers brought their grain in carts along the "
        "muddy lane, and the miller ground it into flour that fed the whole valley through the long winters. When "
        "the great flood came, the wheel was torn away, yet the people rebuilt it within a single summer, working "
        "from dawn until the light failed over the western hills.",
        "Our village library opens early on weekdays and closes at noon on Saturdays. Volunteers sort the donated "
        "books by subject, repair worn covers with cloth tape, and keep a small corner for children who come after "
        "school. Last spring they started an evening reading circle that now meets every second Thursday, with tea "
        "and biscuits provided by the bakery across the square.",
        "Walking the coastal path takes most of a day if you stop to watch the seabirds. The trail climbs past a "
        "lighthouse, drops into two sheltered coves, and ends at a harbour where fishing boats unload their catch "
        "each afternoon. Bring water, sturdy shoes and a warm jacket, because the wind off the sea can turn cold "
        "very quickly even in the middle of August.",
    ]
    p1 = f"Contact {SECRETS[0]} or {SECRETS[1]} about the mill. " + paragraphs[0]
    rows = [
        {"id": "p1", "text": p1},
        {"id": "p1-copy", "text": p1},  # rejected by exact dedup, before the PII stage
        {"id": "p2", "text": paragraphs[1] + f" Members pay the yearly fee with {SECRETS[2]} to the account {SECRETS[3]},"
         f" quoting SSN {SECRETS[4]}, when they renew their membership at the front desk of the library next month."},
        {"id": "p3", "text": "She and he went to the mosque by the harbour. " + paragraphs[2]},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    config = tmp_path / "c.yaml"
    out = tmp_path / "out"
    config.write_text(
        f"inputs: [{src}]\noutput: {{dir: {out}}}\nlanguage: {{enabled: false}}\n"
        "pii: {us_ssn: {action: reject}}\n"
    )
    assert main(["curate", "--config", str(config), "--", "--direct_running_mode=in_memory", "--direct_num_workers=1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["rejected_by_reason"].get("pii:us_ssn") == 1
    assert manifest["pii"]["entities"]["pii_email"] == 1 and manifest["pii"]["entities"]["pii_phone"] == 1
    assert manifest["bias"]["representation"]["pronoun_doc_share"]["she"] == 0.5
    kept = [r for s in manifest["shards"]["data"] for r in pq.read_table(out / s["path"]).to_pylist()]
    rejected = [r for s in manifest["shards"]["rejected"] for r in pq.read_table(out / s["path"]).to_pylist()]
    assert {r["id"].split("/")[-1] for r in kept} == {"p1", "p3"}
    by_id = {r["id"].split("/")[-1]: r for r in rejected}
    assert {k: r["reason"] for k, r in by_id.items()} == {"p2": "pii:us_ssn", "p1-copy": "exact_dedup:duplicate"}
    everything = json.dumps([kept, rejected, manifest])
    for value in SECRETS:
        assert value not in everything
    assert "with <CREDIT_CARD> to the account <IBAN>, quoting SSN <US_SSN>, when" in by_id["p2"]["text"]
    assert by_id["p1-copy"]["text"] == next(r["text"] for r in kept if r["id"].endswith("p1"))
