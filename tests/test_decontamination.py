"""Decontamination (quality.decontamination): n-gram index over eval sets, the judge, the counters."""

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gristmill.config import ConfigError
from pipelines.config import CurateConfig, load_config
from pipelines.stage import add_nested
from quality.decontamination import (
    DecontaminationSettings,
    EvalSetError,
    build_index,
    decontamination_section,
    rejection_counts,
    load_index,
    make_decontamination_judge,
    words,
)

ITEM = ("The committee concluded that the northern bridge would need to be rebuilt entirely before "
        "the spring floods arrived in the valley")  # 21 words
FILLER = "Our local paper ran a long story this week about the weather and about road works near the school."


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def settings(tmp_path, rows, name="evalset", **kw):
    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    fields = kw.pop("fields", ["text"])
    return DecontaminationSettings(sets=[{"name": name, "path": path, "fields": fields}], **kw)


def judge_of(s):
    return make_decontamination_judge(s)


def verdict(s, text):
    return judge_of(s)({"id": "d", "text": text})[1]


def test_normalisation_folds_case_punctuation_and_spacing():
    assert words("Hello,  WORLD!\n\tIt's   ok_ish — “yes”") == ["hello", "world", "its", "okish", "yes"]


def test_thirteen_shared_words_reject_and_twelve_do_not(tmp_path):
    s = settings(tmp_path, [{"text": ITEM}])
    item_words = ITEM.split()
    thirteen = " ".join(item_words[3:16])
    twelve = " ".join(item_words[3:15])
    assert verdict(s, f"{FILLER} {thirteen} {FILLER}") == ("decontamination:evalset", '{"evalset":["0"]}')
    assert verdict(s, f"{FILLER} {twelve} and then something else entirely. {FILLER}") is None
    # The twelve words with the 13th changed are a near-miss too.
    assert verdict(s, f"{FILLER} {twelve} afterwards {FILLER}") is None


def test_recased_respaced_and_repunctuated_items_are_found(tmp_path):
    s = settings(tmp_path, [{"text": ITEM}])
    variant = ITEM.upper().replace(" ", " \n  ").replace("bridge", "bridge,").replace("spring", "“spring”")
    assert verdict(s, FILLER + "\n\n" + variant) is not None


def test_list_valued_fields_contribute_each_element(tmp_path):
    ctx = "A man is standing on a ladder in front of a house holding a bucket of paint"
    endings = ["then he climbs down the ladder and walks back into the house to find a brush",
               "he starts painting the wooden window frames with long and careful strokes of the brush"]
    s = settings(tmp_path, [{"ind": 7, "ctx": ctx, "endings": endings}], name="hellaswag", fields=["ctx", "endings"])
    s.sets[0].id_field = "ind"
    assert verdict(s, f"{FILLER} {endings[1]}.")[1] == '{"hellaswag":["7"]}'
    assert verdict(s, f"{FILLER} {ctx}.") is not None
    # No n-gram runs across two segments: the end of ctx plus the start of an ending is not an item's n-gram.
    across = " ".join(ctx.split()[-6:] + endings[0].split()[:7])
    assert verdict(s, f"{FILLER} {across}.") is None


def test_item_shorter_than_n_is_matched_whole_or_one_word_edit_away(tmp_path):
    short = "Which planet in the solar system has the most moons"  # 10 words
    s = settings(tmp_path, [{"question": short}], fields=["question"])
    assert verdict(s, f"Quiz night. {short}? Saturn, it turns out.") is not None
    one_edit = ["Which planet in the solar system has the most rings",  # substituted
                "Which planet in our solar system has the most moons",
                "Which planet in the whole solar system has the most moons",  # inserted
                "Which planet in solar system has the most moons"]  # deleted
    for text in one_edit:
        assert verdict(s, f"Quiz night. {text}? Saturn.") == ("decontamination:evalset", '{"evalset":["0"]}'), text
    two_edits = ["Which moon in the solar system has the most rings",
                 "Which planet in our solar system has the most rings",
                 "Which planet in the whole solar system has the largest moons",
                 "planet in the solar system has the most"]  # both ends cut
    for text in two_edits:
        assert verdict(s, f"Quiz night. {text}? Saturn.") is None, text
    exact_only = s.model_copy(update={"near_match_min_words": None})
    assert verdict(exact_only, f"Quiz night. {short}?") is not None
    assert verdict(exact_only, f"Quiz night. {one_edit[0]}?") is None


def test_one_edit_near_match_for_items_under_two_n_words(tmp_path):
    """An item of 13-25 words can lose every 13-gram to one changed word; it is found, two changes are not."""
    item = ITEM.split()  # 21 words: every 13-gram covers words 8 to 12
    s = settings(tmp_path, [{"text": ITEM}])
    changed = " ".join(item[:10] + ["eventually"] + item[11:])
    assert verdict(s, f"{FILLER} {changed}. {FILLER}") == ("decontamination:evalset", '{"evalset":["0"]}')
    twice = " ".join(item[:5] + ["soon"] + item[6:15] + ["eventually"] + item[16:])
    assert verdict(s, f"{FILLER} {twice}. {FILLER}") is None
    # Only the whole item one edit away counts: the changed item without its last two words is three edits away.
    assert verdict(s, f"{FILLER} {' '.join(changed.split()[:19])} and then {FILLER}") is None
    assert verdict(s.model_copy(update={"near_match_min_words": None}), f"{FILLER} {changed}.") is None
    # An item of 26 words or more keeps an intact 13-gram after one edit: no near-match segment.
    long_item = ITEM + " and the mayor signed the order"
    assert build_index(settings(tmp_path, [{"text": long_item}], name="long")).set_stats["long"]["near_match_segments"] == 0
    assert build_index(s).set_stats["evalset"]["near_match_segments"] == 1


def test_a_near_matched_segment_counts_as_all_its_ngrams(tmp_path):
    item = ITEM.split()  # 21 words, 9 thirteen-grams
    other = "Seven wooden boats were anchored in the harbour while the storm passed slowly over the island"  # 16: 4
    changed = " ".join(item[:10] + ["eventually"] + item[11:])
    s = settings(tmp_path, [{"q": ITEM, "a": other}], fields=["q", "a"], min_matches=9)
    assert verdict(s, f"{FILLER} {changed}.") is not None  # 9 of the item's 13 n-grams
    s10 = s.model_copy(update={"min_matches": 10})
    assert verdict(s10, f"{FILLER} {changed}.") is None
    assert verdict(s10, f"{FILLER} {changed}. {other.replace('harbour', 'bay')}.") is not None  # 9 + 4


def test_segments_below_min_item_words_are_counted_not_indexed(tmp_path):
    s = settings(tmp_path, [{"q": "Paris", "choices": ["London", "Rome"]}, {"q": ITEM, "choices": ["yes", "no"]}],
                 fields=["q", "choices"])
    index = build_index(s)
    assert index.set_stats["evalset"] == {"items_read": 2, "items_indexed": 1, "items_too_short": 1, "ngrams": 9,
                                         "near_match_segments": 1}
    assert verdict(s, "I flew from Paris to Rome and then to London.") is None
    lowered = s.model_copy(update={"min_item_words": 1})
    assert verdict(lowered, "I flew from Paris to Rome and then to London.")[0] == "decontamination:evalset"


def test_min_matches(tmp_path):
    s = settings(tmp_path, [{"text": ITEM}], min_matches=2)
    item_words = ITEM.split()
    assert verdict(s, " ".join(item_words[0:13])) is None  # one n-gram
    assert verdict(s, " ".join(item_words[0:14])) is not None  # two
    # An item with a single n-gram needs only that one.
    single = " ".join(item_words[:13])
    s1 = settings(tmp_path, [{"text": single}], name="single", min_matches=5)
    assert verdict(s1, f"{FILLER} {single}") is not None


def test_several_sets_reason_names_the_first_detail_lists_all(tmp_path):
    other = "Seven wooden boats were anchored in the harbour while the storm passed slowly over the island"
    a = write_jsonl(tmp_path / "a.jsonl", [{"text": other}, {"text": ITEM}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"text": ITEM, "id": "b-1"}])
    s = DecontaminationSettings(sets=[{"name": "alpha", "path": a}, {"name": "beta", "path": b, "id_field": "id"}])
    judge = judge_of(s)
    doc = {"id": "x", "text": f"{FILLER} {ITEM} {other}"}
    out, rejection = judge(doc)
    assert out is doc
    assert rejection == ("decontamination:alpha", '{"alpha":["0","1"],"beta":["b-1"]}')
    assert judge({"id": "y", "text": FILLER})[1] is None
    rejections = [rejection, judge({"id": "z", "text": ITEM})[1], ("length:too_short", "3")]
    sums: dict = {}
    for reason, detail in rejections:
        add_nested(sums, {reason: rejection_counts(reason, detail) or {}})
    section = decontamination_section(build_index(s), sums)
    assert section["sets"]["alpha"] == {"items_read": 2, "items_indexed": 2, "items_too_short": 0,
                                        "ngrams": 9 + 4, "near_match_segments": 2, "items_found": 2,
                                        "docs_removed": 2}
    assert section["sets"]["beta"]["items_found"] == 1 and section["sets"]["beta"]["docs_removed"] == 0


def test_empty_and_tiny_sets(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    s = DecontaminationSettings(sets=[{"name": "empty", "path": str(empty)}])
    index = build_index(s)
    assert len(index.hashes) == 0 and index.set_stats["empty"]["items_read"] == 0
    assert verdict(s, ITEM) is None
    assert decontamination_section(index, {})["sets"]["empty"]["items_found"] == 0
    assert verdict(DecontaminationSettings(), ITEM) is None  # no sets at all
    tiny = settings(tmp_path, [{"text": ITEM}])
    assert len(build_index(tiny).hashes) == len(ITEM.split()) - 13 + 1


@pytest.mark.parametrize("line, message", [
    ('{"text": "fine"', "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"other": "x"}', "no field 'text'"),
    ('{"text": ["ok", 3]}', "must be a string or a list of strings"),
    ('{"text": null}', "must be a string or a list of strings"),
])
def test_malformed_line_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": ITEM}) + "\n\n" + line + "\n", encoding="utf-8")
    s = DecontaminationSettings(sets=[{"name": "bad", "path": str(path)}])
    with pytest.raises(EvalSetError, match=rf"bad\.jsonl:3: .*{message}"):
        make_decontamination_judge(s)


def test_missing_file_and_unknown_format_stop(tmp_path):
    with pytest.raises(EvalSetError, match="file not found"):
        build_index(DecontaminationSettings(sets=[{"name": "x", "path": str(tmp_path / "nope.jsonl")}]))
    (tmp_path / "x.csv").write_text("text\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match="unsupported eval set format"):
        build_index(DecontaminationSettings(sets=[{"name": "x", "path": str(tmp_path / "x.csv")}]))


def test_parquet_set_and_saved_index_give_the_same_verdicts(tmp_path):
    rows = {"question": [ITEM, "Seven wooden boats were anchored in the harbour while the storm passed"],
            "choices": [["a", "b"], ["c", "d"]], "qid": ["q1", "q2"]}
    pq.write_table(pa.table(rows), tmp_path / "mmlu.parquet")
    s = DecontaminationSettings(sets=[{"name": "mmlu", "path": str(tmp_path / "mmlu.parquet"),
                                       "fields": ["question", "choices"], "id_field": "qid"}])
    index = build_index(s)
    index.save(tmp_path / "index")
    loaded = load_index(tmp_path / "index")
    assert isinstance(loaded.hashes, np.memmap)
    texts = [FILLER, f"{FILLER} {ITEM}", "seven wooden boats were anchored in the harbour while the storm passed!"]
    assert [index.matched_items(t) for t in texts] == [loaded.matched_items(t) for t in texts] == [
        {}, {"mmlu": ["q1"]}, {"mmlu": ["q2"]}]
    judge = make_decontamination_judge(s, index_path=str(tmp_path / "index"))
    assert judge({"text": texts[1]})[1][0] == "decontamination:mmlu"


def test_index_is_deterministic_and_the_same_in_small_batches(tmp_path, monkeypatch):
    import quality.decontamination as decont

    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(200)]
    rows = [{"text": " ".join(rng.choice(vocab) for _ in range(rng.randrange(8, 40)))} for _ in range(60)]
    a_path = write_jsonl(tmp_path / "a.jsonl", rows[:30])
    b_path = write_jsonl(tmp_path / "b.jsonl", rows[30:])
    s = DecontaminationSettings(sets=[{"name": "a", "path": a_path}, {"name": "b", "path": b_path, "ngram": 10}])
    a, b = build_index(s), build_index(s)
    monkeypatch.setattr(decont, "_BATCH_WORDS", 50)  # a batch every two or three items
    batched = build_index(s)
    assert len(a.seed_hashes) and len(a.segment_items)
    for name in a._ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert np.array_equal(getattr(a, name), getattr(batched, name)), name
    assert np.all(a.hashes[:-1] <= a.hashes[1:]) and np.all(a.seed_hashes[:-1] <= a.seed_hashes[1:])
    a.save(tmp_path / "index")
    loaded = load_index(tmp_path / "index")
    # Each set's items one word edit away (a word changed near the middle), found with the right set and id.
    texts = []
    for row in rows[25:35]:
        tokens = row["text"].split()
        tokens[len(tokens) // 2] = "changed"
        texts.append(f"{FILLER} {' '.join(tokens)}. {FILLER}")
    found = [loaded.matched_items(t) for t in texts]
    assert found == [a.matched_items(t) for t in texts] == [batched.matched_items(t) for t in texts]
    for k, matched in zip(range(25, 35), found):
        name, item = ("a", str(k)) if k < 30 else ("b", str(k - 30))
        assert item in matched.get(name, []), (k, matched)


def test_saved_index_is_byte_identical_built_in_tiny_batches_and_sort_ranges(tmp_path, monkeypatch):
    import gc

    import quality.decontamination as decont

    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(300)]
    rows = [{"text": " ".join(rng.choice(vocab) for _ in range(rng.randrange(3, 50)))} for _ in range(120)]
    rows[7]["text"] = rows[8]["text"]  # two items sharing every n-gram
    a_path = write_jsonl(tmp_path / "a.jsonl", rows[:70])
    b_path = write_jsonl(tmp_path / "b.jsonl", rows[70:])
    s = DecontaminationSettings(sets=[{"name": "a", "path": a_path}, {"name": "b", "path": b_path, "ngram": 9}])
    one = build_index(s, tmp_path / "one")
    assert one.set_stats["a"]["items_too_short"] and len(one.seed_hashes)
    monkeypatch.setattr(decont, "_BATCH_WORDS", 40)  # a batch every one to ten items: ~60 runs
    monkeypatch.setattr(decont, "_MERGE_ENTRIES", 5)  # the runs merged a few entries at a time
    build_index(s, tmp_path / "tiny")
    in_memory = decont.DecontaminationIndex(**{name: np.array(value) if name in one._ARRAYS else value
                                              for name, value in vars(one).items()})
    in_memory.save(tmp_path / "np_save")  # every array written by np.save
    temporary = build_index(s)
    temporary.save(tmp_path / "copied")  # built in a temporary folder, saved as files
    expected = {f.name: f.read_bytes() for f in (tmp_path / "one").iterdir()}
    assert sorted(expected) == sorted([f"{name}.npy" for name in one._ARRAYS] + ["index.json"])  # no scratch left
    for folder in ("tiny", "np_save", "copied"):
        assert {f.name: f.read_bytes() for f in (tmp_path / folder).iterdir()} == expected, folder
    built_in = Path(temporary.hashes.filename).parent
    del temporary
    gc.collect()
    assert not built_in.exists()


def test_window_hashes_by_prefix_sums_equal_gram_hashes():
    from quality.decontamination import gram_hashes, window_hashes

    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 2**64 - 1, size=60, dtype=np.uint64)
    starts = np.array([0, 3, 10, 47, 59, 0])
    ends = np.array([13, 11, 22, 60, 60, 60])
    expected = [gram_hashes(hashes[lo:hi], hi - lo)[0] for lo, hi in zip(starts, ends)]
    assert window_hashes(hashes, starts, ends).tolist() == [int(e) for e in expected]


def test_config_section(tmp_path):
    assert CurateConfig.parse({}).decontamination.sets == []
    (tmp_path / "evals").mkdir()
    write_jsonl(tmp_path / "evals" / "e.jsonl", [{"text": ITEM}])
    cfg = tmp_path / "curate.yaml"
    cfg.write_text("decontamination:\n  ngram: 8\n  sets:\n    - {name: e, path: evals/e.jsonl}\n", encoding="utf-8")
    config = load_config(cfg)
    assert config.decontamination.ngram == 8
    assert config.decontamination.sets[0].path == str(tmp_path / "evals" / "e.jsonl")
    with pytest.raises(ConfigError, match="names must be unique"):
        CurateConfig.parse({"decontamination": {"sets": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]}})
    with pytest.raises(ConfigError, match="decontamination.sets.0.feilds"):
        CurateConfig.parse({"decontamination": {"sets": [{"name": "a", "path": "x", "feilds": ["t"]}]}})


def test_real_eval_set_planted_in_real_text(corpora, tmp_path):
    """HumanEval prompts as the eval set; WikiText articles stay clean, and one with a prompt planted is caught."""
    rows = [json.loads(line) for line in (corpora / "code" / "humaneval.jsonl").open(encoding="utf-8")]
    s = DecontaminationSettings(sets=[{"name": "humaneval", "path": str(corpora / "code" / "humaneval.jsonl"),
                                       "fields": ["prompt"], "id_field": "id"}])
    judge = judge_of(s)
    articles = [json.loads(line)["text"] for line in (corpora / "wiki" / "wikitext2_raw_test.jsonl").open(encoding="utf-8")]
    assert all(judge({"text": a})[1] is None for a in articles)
    prompt = rows[42]["prompt"]
    docstring = prompt.split('"""')[1] if '"""' in prompt else prompt
    planted = articles[0][:2000] + "\n" + docstring + "\n" + articles[0][2000:]
    reason, detail = judge({"text": planted})[1]
    assert reason == "decontamination:humaneval" and "HumanEval/42" in json.loads(detail)["humaneval"]


def test_incremental_grams_and_prefilter_keep_every_indexed_ngram():
    from quality.decontamination import _bitmap_bits, gram_hashes, grams_of_lengths, make_bitmap

    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, size=40, dtype=np.uint64)
    expected = np.concatenate([gram_hashes(hashes, 9), gram_hashes(hashes, 13)])
    assert np.array_equal(grams_of_lengths(hashes, [13, 9]), expected)
    assert len(grams_of_lengths(hashes[:5], [13, 9])) == 0
    entries = np.sort(rng.integers(0, 2**64 - 1, size=5000, dtype=np.uint64))
    bits = _bitmap_bits(len(entries))
    bitmap = make_bitmap(entries, bits)
    slots = (entries >> np.uint64(64 - bits)).astype(np.int64)
    assert ((bitmap[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1).all()
    others = rng.integers(0, 2**64 - 1, size=20000, dtype=np.uint64)
    oslots = (others >> np.uint64(64 - bits)).astype(np.int64)
    assert ((bitmap[oslots >> 3] >> (oslots & 7).astype(np.uint8)) & 1).mean() < 0.1


def test_number_runs_are_not_indexed(tmp_path):
    item = "Given a list such as 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 return the sum of the odd ones"
    s = settings(tmp_path, [{"text": item}])
    assert verdict(s, "Pages: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 next") is None
    assert verdict(s, "Hex digits a b c d e f 0 1 2 3 4 5 6 7") is None
    assert verdict(s, f"Homework: {item}.") is not None
    assert verdict(s, "such as 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and more") is not None  # has real words


def test_a_set_can_use_its_own_ngram(tmp_path):
    a = write_jsonl(tmp_path / "long.jsonl", [{"text": ITEM}])
    short = "Seven wooden boats were anchored in the harbour while the storm passed slowly over the island"
    b = write_jsonl(tmp_path / "short.jsonl", [{"text": short}])
    s = DecontaminationSettings(sets=[{"name": "long", "path": a}, {"name": "short", "path": b, "ngram": 8}])
    eight_of_short = " ".join(short.split()[4:12])
    eight_of_long = " ".join(ITEM.split()[4:12])
    assert verdict(s, f"{FILLER} {eight_of_short}.") == ("decontamination:short", '{"short":["0"]}')
    assert verdict(s, f"{FILLER} {eight_of_long}.") is None  # the other set keeps 13


def test_gate_flags_what_the_stage_rejects_near_matches_included(tmp_path):
    import pandas as pd

    from quality.report.decontamination_check import CONTAMINATED, contaminated_flags, decontamination_settings

    s = settings(tmp_path, [{"text": ITEM}])
    item = ITEM.split()
    texts = pd.Series([FILLER, f"{FILLER} {ITEM}", f"{FILLER} {' '.join(item[:10] + ['eventually'] + item[11:])}",
                       f"{FILLER} {' '.join(item[:12])} and so on"])
    flags = contaminated_flags(texts, decontamination_settings({"decontamination": s.model_dump()}))
    assert flags[CONTAMINATED].tolist() == [0, 1, 1, 0]
    assert flags[CONTAMINATED].tolist() == [int(verdict(s, t) is not None) for t in texts]
