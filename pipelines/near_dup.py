"""Near-duplicate removal: MinHash LSH candidates, verified edges, connected components, one survivor per cluster.

Document text never enters a shuffle. The s2 task of each unit wrote, for each
signed document k, its band hashes, signature, row, id, length and score to
sidecar files (`Signer`). Then:

  band tasks: one per range of hash values (`pipelines.sidecars`), sized from the number
       of band hashes; each reads every band's hashes in its range from every unit's
       sidecar, sorts them and finds each bucket of two or more (unit, k) members (documents
       under the classifier cut are left out); then, reading only those members' lines of
       `meta.jsonl` and their signatures (memory-mapped) from the same units' files, it
       makes each bucket's edges: a star to the smallest id (a bucket over `bucket_cap`
       members becomes a chain in id order), each verified by the signatures' estimated
       Jaccard. A node is the member's rank key followed by its unit and row, so the
       smallest node of a cluster is its survivor
  -> distinct candidate pairs (a pair found by several tasks counts once); the verified ones are the edges
  -> connected components: `ROUNDS` unrolled large-star / small-star rounds
       (Kiveris et al. 2014), then the edges still between different labels go to
       a single-worker union-find, which refuses more than `MAX_RESIDUAL_EDGES`
  -> check: both ends of every verified edge carry the same label, else the run fails
  -> members grouped by cluster: its smallest id (the cluster id) and size; each member's
       decision goes back to its unit as (unit, (row, (cluster, size, survivor id))).
"""

from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import fsspec

from pipelines.config import NearDupConfig
from pipelines.minhash import HASH_SCHEME, MinHasher, band_hashes, estimated_jaccard, optimal_bands
from pipelines.sidecars import SidecarWriter, equal_runs, hash_ranges, in_range, load_array
from pipelines.stage import Stage, Verdict
from pipelines.union_find import component_roots

# Large-star + small-star rounds unrolled into the graph. Random graphs settle in
# two or three; a chain of n ids halves per round, and what is left goes to union-find.
ROUNDS = 3
# The single-worker union-find takes at most this many edges; past it the run fails, naming the cause.
MAX_RESIDUAL_EDGES = 2_000_000
# (false-positive, false-negative) weights for choosing bands and rows. With verification
# an LSH false positive only costs one signature comparison, so missing pairs weighs more;
# without it a false positive goes straight into a cluster, so both weigh the same (datasketch's default).
WEIGHTS_VERIFIED = (0.2, 0.8)
WEIGHTS_UNVERIFIED = (0.5, 0.5)
SIGN_BATCH = 256
SIDECARS = {"rows": "rows.u32", "sig": "sig.u32", "bands": "bands.u64", "score": "score.f64", "meta": "meta.jsonl"}
_SIZE = "size"


def lsh_shape(config: NearDupConfig) -> tuple[int, int]:
    """(bands, rows): as configured, or minimising weighted false positives and negatives at the threshold."""
    if config.bands is not None:
        return config.bands, config.rows
    weights = WEIGHTS_VERIFIED if config.verify else WEIGHTS_UNVERIFIED
    return optimal_bands(config.threshold, config.num_perm, *weights)


def rank_key(doc_id: str, n_chars: int, score: float | None, keep: str) -> tuple:
    """Sort key of a cluster member: the smallest key survives. Every key ends in the id, so ties cannot happen.

    `quality`: highest `quality_score`; members without one (the classifier is off)
    rank after those with one, and among themselves by `longest`.
    """
    if keep == "smallest_id":
        return (doc_id,)
    longest = (-n_chars, doc_id)
    if keep == "longest":
        return longest
    return (1, 0.0, *longest) if score is None else (0, -float(score), *longest)


def node_id(node: tuple) -> str:
    return node[-3]


class NearDupStage(Stage):
    """s2 signs the documents it keeps (`Signer`), `NearDup` clusters them, s3 applies the decisions.

    Every document s3 judges gets `dup_cluster` (its own id when alone) and `dup_cluster_size`;
    all but the survivor of a cluster are rejected as `near_dup:duplicate` (detail: the cluster id).
    """

    name = "near_dup"
    cross_document = True

    def __init__(self, config: NearDupConfig):
        super().__init__()
        self._config = config
        self._signing = None  # (hasher, bands, rows), made once per worker by the first sidecar

    def sidecar(self, layout, unit: int) -> Signer:
        if self._signing is None:
            c = self._config
            hasher = MinHasher(num_perm=c.num_perm, seed=c.seed, shingle=c.shingle, ngram=c.ngram)
            self._signing = (hasher, *lsh_shape(c))
        return Signer(layout, unit, *self._signing)

    def decide(self, stats, layout, cut):
        result = stats | "NearDup" >> NearDup(self._config, layout, cut)
        return result["decisions"], result["section"]

    def apply(self, doc: dict, decision) -> Verdict:
        cluster, size, survivor = decision or (doc["id"], 1, doc["id"])
        doc = {**doc, "dup_cluster": cluster, "dup_cluster_size": size}
        return doc, (("near_dup:duplicate", cluster) if doc["id"] != survivor else None)


class Signer:
    """MinHash signatures and band hashes of a unit's surviving documents, streamed to sidecar files.

    Signed document k (a document too short for one shingle has none) has its row
    in `rows.u32`, its signature in `sig.u32`, its band hashes in `bands.u64`, its
    classifier score in `score.f64` (NaN: none), and id, length and score in `meta.jsonl`
    (what near-dup ranks survivors by).
    """

    def __init__(self, layout, unit: int, hasher: MinHasher, bands: int, rows: int):
        self._layout, self._unit, self._hasher, self._bands, self._rows = layout, unit, hasher, bands, rows
        self._pending: list[tuple[int, dict]] = []
        self._files = SidecarWriter(lambda name: layout.path("s2", unit, SIDECARS[name]))
        self.signed = self.unsigned = 0

    def add(self, row: int, doc: dict) -> None:
        self._pending.append((row, doc))
        if len(self._pending) >= SIGN_BATCH:
            self._sign()

    def _sign(self) -> None:
        signatures = self._hasher.signatures([doc["text"] for _, doc in self._pending])
        for (row, doc), signature in zip(self._pending, signatures):
            if signature is None:
                self.unsigned += 1
                continue
            self.signed += 1
            score = doc.get("quality_score")
            self._files.write("rows", np.uint32(row).tobytes())
            self._files.write("sig", signature.astype(np.uint32).tobytes())
            self._files.write("bands", band_hashes(signature, self._bands, self._rows).tobytes())
            self._files.write("score", np.float64(np.nan if score is None else score).tobytes())
            meta = [doc["id"], doc.get("n_chars") or len(doc["text"]), score]
            self._files.write("meta", (json.dumps(meta, ensure_ascii=False) + "\n").encode("utf-8"))
        self._pending = []

    def close(self) -> dict:
        """The counts for the unit's stats record (`NearDup` sizes its band tasks from `signed`)."""
        self._sign()
        self._files.close()
        return {"signed": self.signed, "unsigned": self.unsigned}


class _CandidatePairs(beam.DoFn):
    """(lo, hi) -> the candidate pairs of every bucket whose band hash lies in [lo, hi), over all bands:
    ((id_u, id_v), (node_u, node_v, verified)), each pair once per task.

    The task finds the buckets in the units' band sidecars, then reads what the pairs need
    straight from the same units' files: ids and rank keys from `meta.jsonl` (only the lines of
    members), signatures from `sig.u32` (memory-mapped). Signatures never enter a shuffle.
    """

    def __init__(self, layout, config: NearDupConfig, bands: int):
        self._layout, self._config, self._bands = layout, config, bands

    def process(self, task, units, cut):
        lo, hi = task
        parts = []
        for unit, _ in units:
            hashes = np.asarray(load_array(self._layout.path("s2", unit, SIDECARS["bands"]), np.uint64, self._bands))
            keep = in_range(hashes, lo, hi)
            if cut is not None:
                scores = load_array(self._layout.path("s2", unit, SIDECARS["score"]), np.float64)
                keep &= ~(scores < cut)[:, None]  # a document without a score (NaN) is never under the cut
            k, band = np.nonzero(keep)
            parts.append((unit, k, np.stack([band.astype(np.uint64), hashes[k, band]], axis=1)))
        buckets = set(equal_runs(parts))
        if not buckets:
            return
        nodes, signatures = self._look_up({member for bucket in buckets for member in bucket})
        c, seen = self._config, set()
        for bucket in buckets:
            ordered = sorted(bucket, key=lambda member: node_id(nodes[member]))
            for i, j in chain_or_star(len(ordered), c.bucket_cap):
                u, v = ordered[i], ordered[j]
                pair = node_id(nodes[u]), node_id(nodes[v])
                if pair not in seen:
                    seen.add(pair)
                    verified = not c.verify or estimated_jaccard(signatures[u], signatures[v]) >= c.threshold
                    yield pair, (nodes[u], nodes[v], verified)

    def _look_up(self, members: set) -> tuple[dict, dict]:
        """(unit, k) -> node, and (unit, k) -> signature, for the given members."""
        layout, keep = self._layout, self._config.keep
        by_unit: dict[int, set] = {}
        for unit, k in members:
            by_unit.setdefault(unit, set()).add(k)
        nodes, signatures = {}, {}
        for unit, needed in by_unit.items():
            sig = np.asarray(load_array(layout.path("s2", unit, SIDECARS["sig"]), np.uint32, self._config.num_perm))
            rows = np.asarray(load_array(layout.path("s2", unit, SIDECARS["rows"]), np.uint32))
            last = max(needed)
            with fsspec.open(layout.path("s2", unit, SIDECARS["meta"]), "rb") as handle:
                for k, line in enumerate(handle):
                    if k in needed:
                        doc_id, n_chars, score = json.loads(line)
                        nodes[unit, k] = (*rank_key(doc_id, n_chars, score, keep), unit, int(rows[k]))
                        signatures[unit, k] = sig[k]
                    if k == last:
                        break
        return nodes, signatures


def chain_or_star(count: int, cap: int):
    """Index pairs of a bucket of `count` members in id order: a star to the first, or a chain when over `cap`."""
    if count <= cap:
        return ((0, i) for i in range(1, count))
    return ((i, i + 1) for i in range(count - 1))


def _verified_edge(candidate):
    _, (node_u, node_v, verified) = candidate
    if verified:
        yield node_u, node_v


def _both_directions(edge):
    u, v = edge
    yield u, v
    yield v, u


def _large_star(item):
    """Every neighbour larger than u links to the smallest of u and its neighbours."""
    u, neighbours = item
    neighbours = set(neighbours)
    smallest = min(min(neighbours), u)
    for v in neighbours:
        if v > u:
            yield v, smallest


def _small_star(item):
    """u and its smaller neighbours all link to the smallest of them."""
    u, smaller = item
    smaller = set(smaller)
    smallest = min(smaller)
    yield u, smallest
    for v in smaller:
        if v != smallest:
            yield v, smallest


def _label_and_tell_neighbours(item):
    """(v, its label = min of v and its neighbours); tagged: (each neighbour, that label)."""
    v, neighbours = item
    label = min(min(neighbours), v)
    yield v, label
    for w in set(neighbours):
        yield beam.pvalue.TaggedOutput("told", (w, label))


def _residual_edges(item):
    """Pairs of different labels that touch through an edge: what the rounds did not merge."""
    _, grouped = item
    for own in grouped["label"]:
        for other in set(grouped["told"]):
            if other < own:
                yield other, own


def _resolve_residual(edges: list) -> dict:
    edges = set(edges)
    if len(edges) > MAX_RESIDUAL_EDGES:
        raise RuntimeError(
            f"near_dup: {len(edges)} edges are still unmerged after {ROUNDS} large-star/small-star rounds "
            f"(limit {MAX_RESIDUAL_EDGES} for the single-worker union-find); raise pipelines.near_dup.ROUNDS"
        )
    return component_roots(edges)


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> {"labels": (node, label) for every node in an edge, label = smallest node of its
    component; "residual": the edges the rounds left between different labels}."""

    def expand(self, edges):
        for i in range(ROUNDS):
            edges = (
                edges
                | f"LargeStar{i}/Both" >> beam.FlatMap(_both_directions)
                | f"LargeStar{i}/Group" >> beam.GroupByKey()
                | f"LargeStar{i}/Link" >> beam.FlatMap(_large_star)
                | f"SmallStar{i}/Group" >> beam.GroupByKey()
                | f"SmallStar{i}/Link" >> beam.FlatMap(_small_star)
            )
        labelled = (
            edges
            | "Final/Both" >> beam.FlatMap(_both_directions)
            | "Final/Group" >> beam.GroupByKey()
            | "Final/Label" >> beam.FlatMap(_label_and_tell_neighbours).with_outputs("told", main="label")
        )
        residual = (
            {"label": labelled["label"], "told": labelled["told"]}
            | "Residual/Join" >> beam.CoGroupByKey()
            | "Residual/Edges" >> beam.FlatMap(_residual_edges)
        )
        roots = (
            residual
            | "Residual/Gather" >> beam.combiners.ToList()
            | "Residual/UnionFind" >> beam.Map(_resolve_residual)
        )
        labels = labelled["label"] | "Relabel" >> beam.Map(
            lambda pair, roots: (pair[0], roots.get(pair[1], pair[1])), roots=beam.pvalue.AsSingleton(roots)
        )
        return {"labels": labels, "residual": residual}


def _label_first_end(item):
    _, grouped = item
    for label in grouped["label"]:
        for v in grouped["edge"]:
            yield v, label


def _check_second_end(item):
    v, grouped = item
    for label in grouped["label"]:
        for first_label in grouped["first"]:
            if first_label != label:
                raise RuntimeError(f"near_dup: edge ends disagree: {v!r} has cluster {label!r}, its neighbour {first_label!r}")
            yield 1


class CheckLabels(beam.PTransform):
    """Fails the run when the two ends of any edge carry different cluster labels; yields one element per edge checked."""

    def __init__(self, labels):
        super().__init__()
        self._labels = labels

    def expand(self, edges):
        first = (
            {"label": self._labels, "edge": edges}
            | "JoinFirstEnd" >> beam.CoGroupByKey()
            | "LabelFirst" >> beam.FlatMap(_label_first_end)
        )
        return (
            {"label": self._labels, "first": first}
            | "JoinSecondEnd" >> beam.CoGroupByKey()
            | "Compare" >> beam.FlatMap(_check_second_end)
        )


class _ClusterStats(beam.CombineFn):
    """Cluster sizes -> clusters, documents in them, duplicates removed, largest size."""

    def create_accumulator(self):
        return 0, 0, 0

    def add_input(self, acc, size):
        return acc[0] + 1, acc[1] + size, max(acc[2], size)

    def merge_accumulators(self, accs):
        accs = list(accs)
        return sum(a[0] for a in accs), sum(a[1] for a in accs), max((a[2] for a in accs), default=0)

    def extract_output(self, acc):
        clusters, docs, largest = acc
        return {"clusters": clusters, "docs_in_clusters": docs, "duplicates_removed": docs - clusters, "largest_cluster": largest}


def _cluster_decisions(item):
    """(label, members) -> each member's decision (unit, (row, cluster id, size, survivor id)); tagged: the size.

    The label is the component's smallest node, so its id is the survivor; the cluster id is the smallest id.
    """
    label, members = item
    members = list(members)
    cluster, size = min(node_id(node) for node in members), len(members)
    yield beam.pvalue.TaggedOutput(_SIZE, size)
    for node in members:
        yield node[-2], (node[-1], (cluster, size, node_id(label)))


COUNTED = ("docs_without_signature", "candidate_edges", "verified_edges", "residual_edges", "edges_label_checked")


def _section(parts, base: dict) -> dict:
    """The manifest section: parameters plus counts (zero where nothing was counted) and cluster statistics."""
    stats = {name: 0 for name in COUNTED}
    stats.update(_ClusterStats().extract_output(_ClusterStats().create_accumulator()))
    for name, value in parts:
        stats[name] = value
    return {**base, "stats": dict(sorted(stats.items()))}


class NearDup(beam.PTransform):
    """s2 stats -> {"decisions": (unit, (row, (cluster, size, survivor id))), "section": the manifest section,
    "edges": the verified (node, node) edges, "labels": (node, its cluster's smallest node)}.

    `cut` is a one-element PCollection with the classifier cut (documents under it are left
    out), or None.
    """

    def __init__(self, config: NearDupConfig, layout, cut=None):
        super().__init__()
        self._config, self._layout, self._cut = config, layout, cut
        self._bands, self._rows = lsh_shape(config)

    def expand(self, stats):
        c = self._config
        signed = stats | "SignedUnits" >> beam.FlatMap(lambda item: [(item[0], item[1]["signed"])] if item[1].get("signed") else [])
        units = signed | "UnitList" >> beam.combiners.ToList() | "Sorted" >> beam.Map(sorted)
        tasks = units | "BandTasks" >> beam.FlatMap(lambda us, bands: hash_ranges(bands * sum(n for _, n in us)), bands=self._bands)
        cut = beam.pvalue.AsSingleton(self._cut) if self._cut is not None else None
        candidates = (
            tasks
            | "SpreadTasks" >> beam.Reshuffle()
            | "CandidatePairs" >> beam.ParDo(_CandidatePairs(self._layout, c, self._bands), beam.pvalue.AsSingleton(units), cut)
            | "DistinctCandidates" >> beam.Distinct()
        )
        verified = candidates | "Verified" >> beam.FlatMap(_verified_edge)
        components = verified | "Components" >> ConnectedComponents()
        labels = components["labels"]
        checked = verified | "CheckLabels" >> CheckLabels(labels)

        clusters = (
            labels
            | "ByCluster" >> beam.Map(lambda pair: (pair[1], pair[0]))
            | "GroupByCluster" >> beam.GroupByKey()
            | "Decisions" >> beam.FlatMap(_cluster_decisions).with_outputs(_SIZE, main="decisions")
        )
        decisions = clusters.decisions

        unsigned = stats | "Unsigned" >> beam.Map(lambda item: ("docs_without_signature", item[1].get("unsigned", 0)))
        counted = zip(COUNTED[1:], (candidates, verified, components["residual"], checked))
        counts = [pcoll | f"Tally_{name}" >> beam.Map(lambda _, name=name: (name, 1)) for name, pcoll in counted]
        cluster_stats = (
            clusters[_SIZE]
            | "ClusterStats" >> beam.CombineGlobally(_ClusterStats())
            | "ClusterStatItems" >> beam.FlatMap(dict.items)
        )
        tallies = (unsigned, *counts) | "AllTallies" >> beam.Flatten() | "SumTallies" >> beam.CombinePerKey(sum)
        section = (
            (tallies, cluster_stats)
            | "StatsParts" >> beam.Flatten()
            # Never empty (the cluster statistics always give their items): no default to inject, one runner stage less.
            | "StatsList" >> beam.combiners.ToList().without_defaults()
            | "Section" >> beam.Map(_section, base=self.describe())
        )
        return {"decisions": decisions, "section": section, "edges": verified, "labels": labels}

    def describe(self) -> dict:
        """The parameters that define the clusters, as written to the manifest."""
        c = self._config
        return {
            "hash_scheme": HASH_SCHEME,
            "seed": c.seed,
            "num_perm": c.num_perm,
            "shingle": c.shingle,
            "ngram": c.ngram,
            "threshold": c.threshold,
            "bands": self._bands,
            "rows": self._rows,
            "bucket_cap": c.bucket_cap,
            "verify": c.verify,
            "keep": c.keep,
            "components_rounds": ROUNDS,
        }

