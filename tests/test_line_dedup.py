"""Cross-document line dedup (quality.line_dedup): the per-document pieces and the in-memory reference."""

import json
import random

from quality.line_dedup import (
    LineDedupSettings,
    add_keeper,
    dedup_reference,
    hashes_to_remove,
    keeper_members,
    merge_keepers,
    remove_units,
    split_units,
    unit_hashes,
    unit_texts,
)

BANNER = "We use cookies to improve your experience. Accept all cookies"


def page(i, body):
    return {"id": f"doc-{i:03d}", "text": f"Home | News | Contact\n{body}\n{BANNER}\n© 2024 Example Media"}


def test_split_units_round_trips():
    text = "a\n\nb  \n \n\nc\nd\n"
    for unit in ("line", "paragraph"):
        assert "".join(u + s for u, s in split_units(text, unit)) == text
    assert [u for u, _ in split_units(text, "paragraph")] == ["a", "b  ", "c\nd\n"]


def test_unit_hashes_are_normalised_distinct_and_skip_short_units():
    s = LineDedupSettings(min_chars=5)
    hashes = unit_hashes("Hello   World\nhello world\nok\nHELLO WORLD ", s)
    assert len(hashes) == 1 and all(0 <= h < 2**64 for h in hashes)
    assert unit_hashes("ok\nno", s) == []
    assert unit_hashes("Hello world", s) == hashes


def test_repeated_lines_removed_everywhere_but_the_first_document():
    bodies = ["The council met on Tuesday to discuss the budget.", "Rain is expected across the north tonight.",
              "A new library opened downtown with ten thousand books."]
    docs = [page(i, b) for i, b in enumerate(bodies)]
    result = dedup_reference(list(reversed(docs)), LineDedupSettings())
    by_id = {doc["id"]: doc["text"] for doc, _ in result.docs}
    assert by_id["doc-000"] == docs[0]["text"]  # smallest id keeps its boilerplate, whatever the input order
    for i, body in enumerate(bodies[1:], 1):
        assert by_id[f"doc-{i:03d}"] == body
    assert result.units_removed == 3 * 2
    assert result.bytes_removed == 2 * len(("Home | News | Contact\n" + "\n" + BANNER + "\n© 2024 Example Media").encode())
    assert sorted(result.top_units) == sorted([("Home | News | Contact", 3), (BANNER, 3), ("© 2024 Example Media", 3)])
    assert [doc["id"] for doc, _ in result.docs] == [d["id"] for d in reversed(docs)]


def test_max_docs_and_keep_first():
    docs = [page(i, f"Unique body number {i} with its own words.") for i in range(6)]
    untouched = dedup_reference(docs, LineDedupSettings(max_docs=6))
    assert untouched.units_removed == 0 and [d["text"] for d, _ in untouched.docs] == [d["text"] for d in docs]
    s = LineDedupSettings(max_docs=5, keep_first=2)
    result = dedup_reference(docs, s)
    kept_banner = [doc["id"] for doc, _ in result.docs if BANNER in doc["text"]]
    assert kept_banner == ["doc-000", "doc-001"]
    none_kept = dedup_reference(docs, LineDedupSettings(keep_first=0))
    assert not any(BANNER in doc["text"] for doc, _ in none_kept.docs)


def test_paragraph_unit_and_min_chars():
    shared = "Subscribe to our newsletter\nfor weekly updates"
    docs = [{"id": str(i), "text": f"Story {i} begins here.\nIt goes on.\n\n{shared}\n\nOK"} for i in range(3)]
    s = LineDedupSettings(unit="paragraph", min_chars=3)
    result = dedup_reference(docs, s)
    assert [d["text"] for d, _ in result.docs][1] == "Story 1 begins here.\nIt goes on.\n\nOK"
    s1 = LineDedupSettings(unit="paragraph", min_chars=1)  # now "OK" counts too, and goes
    assert [d["text"] for d, _ in dedup_reference(docs, s1).docs][1] == "Story 1 begins here.\nIt goes on."
    lines = dedup_reference(docs, LineDedupSettings(min_chars=3))  # "It goes on." is a repeated line too
    assert [d["text"] for d, _ in lines.docs][2] == "Story 2 begins here.\n\nOK"  # blank lines left behind squeezed


def test_blank_lines_left_behind_are_squeezed_and_bytes_counted():
    s = LineDedupSettings()
    text = "\n  • Home\n\n  • News\n  \n\nThe article text.\n\n\n\nSecond paragraph.\n  • Home\n"
    h = set(unit_hashes("• Home\n• News", s))
    new, units, removed_bytes = remove_units(text, h, s)
    assert new == "The article text.\n\nSecond paragraph." and units == 3
    assert removed_bytes == len(text.encode()) - len(new.encode())
    assert remove_units(text, {12345}, s) == (text, 0, 0)  # nothing removed: unchanged, blank lines and all


def test_document_left_empty_is_rejected():
    docs = [{"id": "a", "text": BANNER}, {"id": "b", "text": BANNER + "\n" + BANNER}, {"id": "c", "text": "Fresh text."}]
    result = dedup_reference(docs, LineDedupSettings(), min_doc_chars=5)
    assert [r for _, r in result.docs] == [None, ("line_dedup:empty", "0"), None]
    assert result.docs[1][0]["text"] == ""


def test_distributed_pieces_agree_with_the_reference():
    """Hash per document, combine stats per hash in shuffled partial merges, remove per document."""
    rng = random.Random(7)
    boiler = [f"Boilerplate line {k} shown on many pages" for k in range(8)]
    docs = []
    for i in range(60):
        lines = [f"Original sentence {i}-{j} about topic {rng.randint(0, 999)}." for j in range(rng.randint(1, 5))]
        lines += rng.sample(boiler, rng.randint(0, 4))
        rng.shuffle(lines)
        docs.append({"id": f"{rng.randint(0, 10**6):07d}-{i}", "text": "\n".join(lines)})
    s = LineDedupSettings(max_docs=3, keep_first=2)
    reference = dedup_reference(docs, s)

    per_doc = {d["id"]: unit_hashes(d["text"], s) for d in docs}
    texts, partials = {}, [{}, {}, {}]  # three "workers", each combining the documents it saw
    for n, d in enumerate(docs):
        for h in per_doc[d["id"]]:
            texts.setdefault(h, set()).add(d["text"])
            add_keeper(partials[n % 3].setdefault(h, {}), hash(d["text"]), (d["id"],), s.keep_first)
    stats = {}
    for h in texts:
        keepers = {}
        for partial in partials:
            merge_keepers(keepers, partial.get(h, {}), s.keep_first)
        stats[h] = (len(texts[h]), tuple(m[0] for m in keeper_members(keepers)))
    frequent = {h: st for h, st in stats.items() if st[0] > s.max_docs}  # what a side input would carry
    assert len(frequent) < len(stats)
    texts = []
    for d in docs:
        remove = hashes_to_remove(d["id"], per_doc[d["id"]], frequent, s)
        texts.append(remove_units(d["text"], remove, s)[0])
    assert texts == [doc["text"] for doc, _ in reference.docs]
    assert reference.units_removed > 0


def test_exact_copies_count_once_and_keep_with_their_text():
    docs = [page(0, "Only body."), {**page(1, "Only body."), "id": "doc-001"}]
    docs[1]["text"] = docs[0]["text"]  # an exact copy: one distinct text, so nothing is repeated
    assert dedup_reference(docs, LineDedupSettings()).units_removed == 0
    docs.append(page(2, "Another body."))  # two distinct texts now: doc-000 keeps, its copy loses, doc-002 loses
    by_id = {d["id"]: d["text"] for d, _ in dedup_reference(docs, LineDedupSettings()).docs}
    assert BANNER in by_id["doc-000"] and BANNER not in by_id["doc-001"] and BANNER not in by_id["doc-002"]
    keepers = {}  # keep_first 2 keeps two distinct texts, never two copies of one
    for text_key, doc_id in [(1, "b"), (1, "a"), (2, "c"), (3, "d"), (2, "e")]:
        add_keeper(keepers, text_key, (doc_id,), 2)
    assert keeper_members(keepers) == [("a",), ("c",)]


def test_unit_texts_and_redacted_top_lines():
    s = LineDedupSettings()
    docs = [{"id": str(i), "text": f"Body {i}\nWrite to help@example.com for support"} for i in range(3)]
    result = dedup_reference(docs, s)
    assert result.top_units == [("Write to <EMAIL> for support", 3)]
    h = unit_hashes("write to HELP@example.com for support", s)[0]
    assert unit_texts(docs[0]["text"], {h}, s) == {h: "Write to help@example.com for support"}


def test_on_real_web_pages(corpora):
    """Dolma's Common Crawl sample: boilerplate repeated across pages goes, and nothing else changes."""
    import gzip

    docs = []
    for path in sorted((corpora / "web" / "cc_jsonl").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            docs += [{"id": r["id"], "text": r["text"]} for r in map(json.loads, handle)]
    s = LineDedupSettings(min_chars=10)
    result = dedup_reference(docs, s)
    for (after, _), before in zip(result.docs, docs):
        kept_lines = after["text"].split("\n")
        before_lines = before["text"].split("\n")
        it = iter(before_lines)
        assert all(line in it for line in kept_lines)  # an order-preserving subsequence: lines only removed
    assert result.bytes_removed <= result.bytes_in
    assert dedup_reference(docs, s).docs == result.docs  # deterministic
