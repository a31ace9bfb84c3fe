"""Near-duplicate stage on the real DirectRunner: clusters, survivors, verification, components, determinism."""

from __future__ import annotations

import random

import apache_beam as beam
import pytest

from near_dup_support import read_jsonl, run_stages, write_jsonl
from pipelines.config import NearDupConfig
from pipelines.minhash import HASH_SCHEME, MinHasher, estimated_jaccard
from pipelines.near_dup import CheckLabels, ConnectedComponents, chain_or_star, lsh_shape
from pipelines.union_find import component_roots

VOCAB = [f"w{i}" for i in range(20_000)]


def words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def chain_texts(rng: random.Random) -> tuple[str, str, str]:
    """A~B and B~C at Jaccard ~0.85, A and C at ~0.72: windows of one word sequence shifted by 32 words."""
    seq = words(rng, 464)
    return " ".join(seq[0:400]), " ".join(seq[32:432]), " ".join(seq[64:464])


def scenario_docs() -> list[dict]:
    rng = random.Random(7)
    a, b, c = chain_texts(rng)
    docs = [{"id": "chain-a", "text": a}, {"id": "chain-b", "text": b}, {"id": "chain-c", "text": c}]
    docs += [
        {"id": "tiny-empty", "text": ""},
        {"id": "tiny-one", "text": "hello"},
        {"id": "tiny-four", "text": "one two three four"},
        {"id": "tiny-four-again", "text": "one two three four"},
    ]
    same = " ".join(words(rng, 300))
    docs += [{"id": f"same-{i:02d}", "text": same, "quality_score": 0.9 if i == 17 else 0.5} for i in range(40)]
    docs += [{"id": f"distinct-{i:02d}", "text": " ".join(words(rng, 200))} for i in range(30)]
    return docs


@pytest.fixture(scope="module")
def default_runs(tmp_path_factory):
    docs = scenario_docs()
    shuffled = list(docs)
    random.Random(3).shuffle(shuffled)
    config = NearDupConfig()
    return run_stages(tmp_path_factory.mktemp("near_dup"), {"first": (docs, config), "again": (shuffled, config)})


def test_chain_premise_holds_for_the_signatures():
    a, b, c = chain_texts(random.Random(7))
    config = NearDupConfig()
    sa, sb, sc = MinHasher(num_perm=config.num_perm, seed=config.seed).signatures([a, b, c])
    assert estimated_jaccard(sa, sb) >= config.threshold
    assert estimated_jaccard(sb, sc) >= config.threshold
    assert estimated_jaccard(sa, sc) < config.threshold


@pytest.mark.slow
def test_transitive_chain_is_one_cluster(default_runs):
    run = default_runs["first"]
    assert "chain-a" in run["kept"]  # quality ties (none) -> longest (equal) -> smallest id
    assert run["kept"]["chain-a"]["dup_cluster"] == "chain-a"
    assert run["kept"]["chain-a"]["dup_cluster_size"] == 3
    for other in ("chain-b", "chain-c"):
        row = run["rejected"][other]
        assert row["reason"] == "near_dup:duplicate"
        assert row["detail"] == "chain-a"
        assert row["dup_cluster_size"] == 3


@pytest.mark.slow
def test_tiny_and_empty_docs_are_kept_alone(default_runs):
    kept = default_runs["first"]["kept"]
    for doc_id in ("tiny-empty", "tiny-one", "tiny-four", "tiny-four-again"):
        assert kept[doc_id]["dup_cluster"] == doc_id
        assert kept[doc_id]["dup_cluster_size"] == 1


@pytest.mark.slow
def test_identical_docs_keep_the_best_quality_one(default_runs):
    run = default_runs["first"]
    same_kept = [d for d in run["kept"] if d.startswith("same-")]
    assert same_kept == ["same-17"]
    assert run["kept"]["same-17"]["dup_cluster"] == "same-00"
    assert run["kept"]["same-17"]["dup_cluster_size"] == 40
    same_rejected = [d for d in run["rejected"].values() if d["id"].startswith("same-")]
    assert len(same_rejected) == 39
    assert {d["detail"] for d in same_rejected} == {"same-00"}


@pytest.mark.slow
def test_distinct_docs_are_untouched(default_runs):
    kept = default_runs["first"]["kept"]
    distinct = [d for d in kept.values() if d["id"].startswith("distinct-")]
    assert len(distinct) == 30
    assert all(d["dup_cluster"] == d["id"] and d["dup_cluster_size"] == 1 for d in distinct)


@pytest.mark.slow
def test_every_doc_leaves_exactly_once(default_runs):
    run = default_runs["first"]
    ids = {d["id"] for d in scenario_docs()}
    assert set(run["kept"]) | set(run["rejected"]) == ids
    assert not set(run["kept"]) & set(run["rejected"])


@pytest.mark.slow
def test_same_input_in_another_order_gives_the_same_result(default_runs):
    first, again = default_runs["first"], default_runs["again"]
    assert first["kept"] == again["kept"]
    assert first["rejected"] == again["rejected"]


@pytest.mark.slow
def test_manifest_section(default_runs):
    (section,) = default_runs["first"]["section"]
    config = NearDupConfig()
    assert (section["bands"], section["rows"]) == lsh_shape(config)
    assert section["seed"] == config.seed and section["num_perm"] == config.num_perm
    assert section["hash_scheme"] == HASH_SCHEME
    stats = section["stats"]
    assert stats["clusters"] == 2
    assert stats["docs_in_clusters"] == 43
    assert stats["duplicates_removed"] == 41
    assert stats["largest_cluster"] == 40
    assert stats["docs_without_signature"] == 4
    assert stats["edges_label_checked"] == stats["verified_edges"] > 0


def test_bucket_over_cap_becomes_a_chain():
    assert list(chain_or_star(4, cap=4)) == [(0, 1), (0, 2), (0, 3)]
    assert list(chain_or_star(4, cap=3)) == [(0, 1), (1, 2), (2, 3)]
    assert list(chain_or_star(1, cap=3)) == []


@pytest.mark.slow
def test_configured_variants(tmp_path):
    rng = random.Random(11)
    # A pair at Jaccard ~0.3: with 64 one-row bands LSH almost surely pairs them; only verification separates them.
    seq = words(rng, 260)
    loose = [{"id": "p1", "text": " ".join(seq[:200])}, {"id": "p2", "text": " ".join(seq[60:260])}]
    permissive = dict(bands=64, rows=1)
    same = " ".join(words(rng, 300))
    identical = [{"id": f"id-{i:02d}", "text": same} for i in range(30)]
    identical.append({"id": "id-zz", "text": same + " plus one tail"})
    runs = run_stages(
        tmp_path,
        {
            "verified": (loose, NearDupConfig(**permissive)),
            "unverified": (loose, NearDupConfig(**permissive, verify=False, keep="smallest_id")),
            "capped": (identical, NearDupConfig(bucket_cap=2, keep="longest")),
        },
    )
    verified = runs["verified"]
    assert set(verified["kept"]) == {"p1", "p2"}
    stats = verified["section"][0]["stats"]
    assert stats["candidate_edges"] == 1 and stats["verified_edges"] == 0

    unverified = runs["unverified"]
    assert set(unverified["kept"]) == {"p1"} and unverified["rejected"]["p2"]["detail"] == "p1"

    capped = runs["capped"]
    assert set(capped["kept"]) == {"id-zz"}  # longest survives
    assert capped["kept"]["id-zz"]["dup_cluster"] == "id-00"
    assert capped["kept"]["id-zz"]["dup_cluster_size"] == 31
    assert len(capped["rejected"]) == 30


def family_docs(n_families: int, rng: random.Random) -> list[dict]:
    """Families of edited copies (0-5% of words substituted), so clusters of many sizes, some joined only transitively."""
    docs = []
    for f in range(n_families):
        base = words(rng, rng.randint(60, 160))
        for k in range(rng.choice([1, 1, 2, 3, 5])):
            rate = rng.choice([0.0, 0.005, 0.01, 0.02, 0.03, 0.05])
            text = [w if rng.random() > rate else rng.choice(VOCAB) for w in base]
            docs.append({"id": f"f{f:05d}-{k}-{rng.randint(0, 10**9)}", "text": " ".join(text)})
    return docs


def long_path(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """A path through n shuffled ids: longer than the unrolled rounds resolve, so the union-find finishes it."""
    ids = [f"n{i:06d}" for i in range(n)]
    rng.shuffle(ids)
    return [(min(a, b), max(a, b)) for a, b in zip(ids, ids[1:])]


@pytest.mark.slow
def test_beam_components_equal_union_find(tmp_path):
    rng = random.Random(5)
    docs = family_docs(1200, rng)
    assert len(docs) >= 2000
    path = long_path(3000, rng)
    run = run_stages(tmp_path, {"families": (docs, NearDupConfig())})["families"]
    edges = [tuple(map(tuple, e)) for e in run["edges"]]
    labels = {tuple(node): tuple(label) for node, label in run["labels"]}
    assert len(edges) > 500
    assert labels == component_roots(edges)
    assert len(set(labels.values())) > 100
    with beam.Pipeline() as p:
        path_labels = p | "Path" >> beam.Create(path) | "Path/CC" >> ConnectedComponents()
        write_jsonl(path_labels["labels"], tmp_path / "path.jsonl", "PathLabels")
    path_labels = dict(read_jsonl(tmp_path / "path.jsonl"))
    assert path_labels == component_roots(path) and set(path_labels.values()) == {"n000000"}


@pytest.mark.slow
def test_label_check_fails_loudly():
    with pytest.raises(Exception, match="edge ends disagree"):
        with beam.Pipeline() as p:
            labels = p | "Labels" >> beam.Create([("a", "a"), ("b", "b")])
            p | "Edges" >> beam.Create([("a", "b")]) | CheckLabels(labels)


def test_config_bands_and_rows_go_together():
    from gristmill.config import ConfigError
    from pipelines.config import CurateConfig

    with pytest.raises(ConfigError, match="bands and near_dup.rows go together"):
        CurateConfig.parse({"near_dup": {"bands": 10}})
    with pytest.raises(ConfigError, match="exceeds num_perm"):
        CurateConfig.parse({"near_dup": {"bands": 20, "rows": 10, "num_perm": 128}})
    assert lsh_shape(CurateConfig.parse({"near_dup": {"bands": 16, "rows": 8}}).near_dup) == (16, 8)
    assert lsh_shape(NearDupConfig()) == (21, 12)
    assert lsh_shape(NearDupConfig(verify=False)) == (17, 15)
