"""Near-duplicate removal: MinHash LSH candidates, verified edges, connected components, one survivor per cluster.

Every step is a Beam transform keyed by document id, band or cluster; no step
gathers all documents or all signatures in one process:

  docs -> signatures (batched numpy, `pipelines.minhash`) and band keys
       -> GroupByKey per (band, band hash) -> star edges to the bucket's smallest id
          (a bucket over `bucket_cap` ids becomes a chain of neighbours in id order)
       -> verification: each edge joins both ends' signatures (two CoGroupByKeys) and
          survives when their estimated Jaccard reaches the threshold
       -> connected components: `ROUNDS` unrolled large-star / small-star rounds
          (Kiveris et al. 2014), then the edges still between different labels go to
          a single-worker union-find, which refuses more than `MAX_RESIDUAL_EDGES`
       -> check: both ends of every verified edge carry the same label, else the run fails
       -> per cluster, the survivor by `keep`; the others are rejected as
          `near_dup:duplicate` with the cluster id (its smallest document id) as detail.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np

from pipelines.config import NearDupConfig
from pipelines.minhash import HASH_SCHEME, MinHasher, band_keys, estimated_jaccard, optimal_bands
from pipelines.stage import KEPT, REJECTED, reject
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

_BANDS = "bands"
_RANKS = "ranks"
_SHORT = "short"


def lsh_shape(config: NearDupConfig) -> tuple[int, int]:
    """(bands, rows): as configured, or minimising weighted false positives and negatives at the threshold."""
    if config.bands is not None:
        return config.bands, config.rows
    weights = WEIGHTS_VERIFIED if config.verify else WEIGHTS_UNVERIFIED
    return optimal_bands(config.threshold, config.num_perm, *weights)


def rank_key(doc: dict, keep: str) -> tuple:
    """Sort key of a cluster member: the smallest key survives. Every key ends in the id, so ties cannot happen.

    `quality`: highest `quality_score`; members without one (the classifier is off)
    rank after those with one, and among themselves by `longest`.
    """
    if keep == "smallest_id":
        return (doc["id"],)
    longest = (-len(doc["text"]), doc["id"])
    if keep == "longest":
        return longest
    score = doc.get("quality_score")
    return (1, 0.0, *longest) if score is None else (0, -float(score), *longest)


class _Sign(beam.DoFn):
    """Batches of docs -> (id, signature bytes); tagged band keys, rank keys and ids too short to sign."""

    def __init__(self, config: NearDupConfig, bands: int, rows: int):
        self._config, self._bands, self._rows = config, bands, rows
        self._hasher = None

    def setup(self):
        c = self._config
        self._hasher = MinHasher(num_perm=c.num_perm, seed=c.seed, shingle=c.shingle, ngram=c.ngram)

    def process(self, batch):
        signatures = self._hasher.signatures([doc["text"] for doc in batch])
        for doc, signature in zip(batch, signatures):
            doc_id = doc["id"]
            if signature is None:
                yield beam.pvalue.TaggedOutput(_SHORT, doc_id)
                continue
            yield doc_id, signature.tobytes()
            yield beam.pvalue.TaggedOutput(_RANKS, (doc_id, rank_key(doc, self._config.keep)))
            for key in band_keys(signature, self._bands, self._rows):
                yield beam.pvalue.TaggedOutput(_BANDS, (key, doc_id))


def bucket_edges(bucket, cap: int):
    """Edges (smaller id, larger id) of one LSH bucket: a star to its smallest id, or a chain when over `cap`."""
    _, ids = bucket
    ids = sorted(set(ids))
    if len(ids) <= cap:
        for other in ids[1:]:
            yield ids[0], other
    else:
        yield from zip(ids, ids[1:])


class CandidateEdges(beam.PTransform):
    """docs -> {"signatures": (id, bytes), "ranks": (id, key), "edges": distinct (u, v), u < v, "short": ids}."""

    def __init__(self, config: NearDupConfig, bands: int, rows: int):
        super().__init__()
        self._config, self._bands, self._rows = config, bands, rows

    def expand(self, docs):
        signed = (
            docs
            | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=512)
            | "Sign" >> beam.ParDo(_Sign(self._config, self._bands, self._rows)).with_outputs(_BANDS, _RANKS, _SHORT, main="sig")
        )
        edges = (
            signed[_BANDS]
            | "GroupByBand" >> beam.GroupByKey()
            | "BucketEdges" >> beam.FlatMap(bucket_edges, cap=self._config.bucket_cap)
            | "DistinctEdges" >> beam.Distinct()
        )
        return {"signatures": signed["sig"], "ranks": signed[_RANKS], "edges": edges, "short": signed[_SHORT]}


def _attach_first_signature(item):
    _, grouped = item
    for signature in grouped["sig"]:
        for v in grouped["edge"]:
            yield v, (item[0], signature)


def _verify(item, threshold: float):
    v, grouped = item
    for signature_v in grouped["sig"]:
        sv = np.frombuffer(signature_v, dtype=np.uint32)
        for u, signature_u in grouped["half"]:
            if estimated_jaccard(np.frombuffer(signature_u, dtype=np.uint32), sv) >= threshold:
                yield u, v


class VerifyEdges(beam.PTransform):
    """Keeps an edge (u, v) only when the signatures of u and v agree in at least `threshold` of positions."""

    def __init__(self, signatures, threshold: float):
        super().__init__()
        self._signatures, self._threshold = signatures, threshold

    def expand(self, edges):
        half = (
            {"sig": self._signatures, "edge": edges}
            | "JoinFirstEnd" >> beam.CoGroupByKey()
            | "AttachFirst" >> beam.FlatMap(_attach_first_signature)
        )
        return (
            {"sig": self._signatures, "half": half}
            | "JoinSecondEnd" >> beam.CoGroupByKey()
            | "Verify" >> beam.FlatMap(_verify, threshold=self._threshold)
        )


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
            f"(limit {MAX_RESIDUAL_EDGES} for the single-worker union-find); raise pipelines.neardup.ROUNDS"
        )
    return component_roots(edges)


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> (node, label) for every node in an edge; label = smallest id of its component."""

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
        self.residual_edges = residual
        return labelled["label"] | "Relabel" >> beam.Map(
            lambda pair, roots: (pair[0], roots.get(pair[1], pair[1])), roots=beam.pvalue.AsSingleton(roots)
        )


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


class _Survivor(beam.CombineFn):
    """(rank key, id) of the members -> (best rank, survivor id, cluster size)."""

    def create_accumulator(self):
        return None, 0

    def add_input(self, acc, member):
        best, size = acc
        return (member if best is None or member < best else best), size + 1

    def merge_accumulators(self, accs):
        best, size = None, 0
        for b, s in accs:
            if b is not None and (best is None or b < best):
                best = b
            size += s
        return best, size

    def extract_output(self, acc):
        best, size = acc
        return best[1], size


def _member_rank(item):
    doc_id, grouped = item
    for label in grouped["label"]:
        for rank in grouped["rank"]:
            yield label, (rank, doc_id)


def _tell_members(item):
    cluster, grouped = item
    for survivor, size in grouped["survivor"]:
        for member in grouped["member"]:
            yield member, (cluster, size, survivor)


class _Decide(beam.DoFn):
    def process(self, item):
        doc_id, grouped = item
        infos = list(grouped["info"])
        for doc in grouped["doc"]:
            if not infos:
                yield {**doc, "dup_cluster": doc_id, "dup_cluster_size": 1}
                continue
            cluster, size, survivor = infos[0]
            doc = {**doc, "dup_cluster": cluster, "dup_cluster_size": size}
            if doc_id == survivor:
                yield doc
            else:
                yield beam.pvalue.TaggedOutput(REJECTED, reject(doc, "near_dup:duplicate", cluster))


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


COUNTED = ("docs_without_signature", "candidate_edges", "verified_edges", "residual_edges", "edges_label_checked")


def _section(parts, base: dict) -> dict:
    """The manifest section: parameters plus counts (zero where nothing was counted) and cluster statistics."""
    stats = {name: 0 for name in COUNTED}
    stats.update(_ClusterStats().extract_output(_ClusterStats().create_accumulator()))
    for name, value in parts:
        stats[name] = value
    return {**base, "stats": dict(sorted(stats.items()))}


class NearDupStage(beam.PTransform):
    """The curate stage: near-duplicate clusters, one survivor each; `manifest_section` describes the run."""

    name = "near_dup"
    section_name = "near_dup"

    def __init__(self, config: NearDupConfig):
        super().__init__()
        self._config = config
        self._bands, self._rows = lsh_shape(config)
        self._section = None

    def expand(self, docs):
        c = self._config
        candidates = docs | "Candidates" >> CandidateEdges(c, self._bands, self._rows)
        signatures, edges = candidates["signatures"], candidates["edges"]
        verified = edges | "Verify" >> VerifyEdges(signatures, c.threshold) if c.verify else edges
        components = ConnectedComponents()
        labels = verified | "Components" >> components
        checked = verified | "CheckLabels" >> CheckLabels(labels)

        survivors = (
            {"label": labels, "rank": candidates["ranks"]}
            | "JoinRanks" >> beam.CoGroupByKey()
            | "MemberRank" >> beam.FlatMap(_member_rank)
            | "PickSurvivor" >> beam.CombinePerKey(_Survivor())
        )
        members = labels | "ByCluster" >> beam.Map(lambda pair: (pair[1], pair[0]))
        info = (
            {"survivor": survivors, "member": members}
            | "JoinClusters" >> beam.CoGroupByKey()
            | "TellMembers" >> beam.FlatMap(_tell_members)
        )
        by_id = docs | "KeyById" >> beam.Map(lambda doc: (doc["id"], doc))
        decided = (
            {"doc": by_id, "info": info}
            | "JoinDocs" >> beam.CoGroupByKey()
            | "Decide" >> beam.ParDo(_Decide()).with_outputs(REJECTED, main=KEPT)
        )

        # Counted in one keyed combine rather than one global combine each: fewer stages for the runner.
        counted = zip(COUNTED, (candidates["short"], edges, verified, components.residual_edges, checked))
        counts = [pcoll | f"Tally_{name}" >> beam.Map(lambda _, name=name: (name, 1)) for name, pcoll in counted]
        cluster_stats = (
            survivors
            | "ClusterSizes" >> beam.Map(lambda item: item[1][1])
            | "ClusterStats" >> beam.CombineGlobally(_ClusterStats())
            | "ClusterStatItems" >> beam.FlatMap(dict.items)
        )
        tallies = counts | "AllTallies" >> beam.Flatten() | "SumTallies" >> beam.CombinePerKey(sum)
        self._section = (
            (tallies, cluster_stats)
            | "StatsParts" >> beam.Flatten()
            | "StatsList" >> beam.combiners.ToList()
            | "Section" >> beam.Map(_section, base=self.describe())
        )
        return {KEPT: decided[KEPT], REJECTED: decided[REJECTED]}

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

    def manifest_section(self, kept, rejected):
        """Parameters and cluster statistics of this run (computed inside the stage)."""
        if self._section is None:
            raise RuntimeError("NearDupStage.manifest_section called before the stage was applied")
        return self._section
