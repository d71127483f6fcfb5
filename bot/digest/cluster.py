"""Articles about the same story, grouped: near-duplicate text, embedding similarity and headline overlap.

The similarity of two articles is the cosine of their lead passages' stored vectors (the lead says what the story
is; later passages drift into background that neighbouring stories share), plus a small bonus for headlines that
share rare words. Texts that share at least 40% of their four-word shingles are the same story whatever their
vectors say (an AP story and a member paper's edit of it share 46% in the rtqa data: another byline, a sentence
added); Feedly's "duplicate" is 85% overlap, counted in the stats.

Grouping is agglomerative with average linkage, started from the shared-text groups: two groups merge while
their average pairwise similarity is at least ``ClusterParams.average`` *and* some pair of their articles links:
similarity at least ``ClusterParams.link``, and either the two leads share names and figures (Eastmark, Nordgrid,
220,000) or their vectors are nearly the same. Close vectors alone describe a topic, not an event: two storms, or
two court rulings on abortion a year apart, share few names. The link rule bounds every cluster inside a
single-linkage component, so the merging runs per component (small) instead of over all articles; the average
stops the chaining single linkage is known for (a storm story that mentions last week's blackout does not pull
the two stories together).

Everything is vectorised with numpy: the cosines in blocks of matrix products, the shingle overlap through
bottom-k sketches and an inverted index, exact Jaccard only for the few pairs the sketches flag.

One algorithm in one module (about 450 lines): the text overlap, the similarities and the merging share their
parameters and arrays, and read best together.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from index.terms import STOPWORDS, query_terms, stem

__all__ = ["ClusterParams", "Clustering", "cluster_articles", "jaccard", "shingles", "story_mates"]

_NAME = re.compile(r"(?<![\w'’])(?:[A-Z][\w'’-]+|\d[\d.,]*%?)")
NAMES_CHARS = 800
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd constants of splitmix64: cheap, well-spread 64-bit hashing
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)
_MIX3 = np.uint64(0x94D049BB133111EB)


@dataclass(frozen=True)
class ClusterParams:
    """The thresholds, calibrated on the demo corpus (see ``bench/digest_bench.py --calibrate``).

    Attributes:
        link: the similarity at least one pair of two merging groups must reach.
        average: the average pairwise similarity two merging groups must keep.
        title_weight: how much headline overlap (idf-weighted Jaccard of stemmed words, 0..1) adds.
        names: the overlap of names and numbers (capitalised words and figures of the headline and lead,
            idf-weighted, over the smaller set) a pair needs to link...
        strong: ...unless its cosine is at least this: different events on one topic (two storms, two rulings
            on abortion) have close vectors but share few names or figures.
        shared_text: shingle Jaccard from which two texts are one story regardless of their vectors.
        duplicate: shingle Jaccard from which two texts count as duplicates in the stats (Feedly's 85%).
        shingle_words: words per shingle.
        sketch: how many of an article's smallest shingle hashes find its shared-text candidates.
    """

    link: float = 0.60
    average: float = 0.55
    title_weight: float = 0.10
    names: float = 0.12
    strong: float = 0.80
    shared_text: float = 0.40
    duplicate: float = 0.85
    shingle_words: int = 4
    sketch: int = 64


@dataclass
class Clustering:
    """The result: ``clusters`` are lists of input indices; together they hold every index exactly once.

    Clusters are ordered by their first member, members ascending; ``medoids[k]`` is the member of
    ``clusters[k]`` most similar to the rest of it (the first one on ties).
    """

    clusters: list[list[int]]
    medoids: list[int]
    stats: dict[str, float] = field(default_factory=dict)


# --- text overlap ---------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads 64-bit values so that the smallest are a uniform sample."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _MIX2
        x = (x ^ (x >> np.uint64(27))) * _MIX3
        return x ^ (x >> np.uint64(31))


def shingles(text: str, k: int = 4, max_chars: int = 3000) -> np.ndarray:
    """The sorted unique 64-bit hashes of the ``k``-word shingles of the start of ``text``: case folded, words split
    at white space, the first ``max_chars`` characters (about 500 words: plenty to tell a copy from another
    article, and it bounds the cost of long roundups).

    A text shorter than ``k`` words is one shingle of all its words; a text without words has none. The hashes
    are well mixed, so the first few of the sorted array are a random sample of the shingles (a bottom-k sketch).
    """
    words = _fold(text[:max_chars]).split()
    if not words:
        return np.empty(0, dtype=np.uint64)
    # Python's str hash is stable within a process, which is all the comparison needs.
    h = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
    k = max(1, min(k, len(words)))
    n = len(words) - k + 1
    acc = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            acc = acc * _MIX + h[j : j + n]
    return np.unique(_mix(acc))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays (0.0 when either is empty)."""
    if a.size == 0 or b.size == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def _shared_text_pairs(
    sets: Sequence[np.ndarray], keys: Sequence[str], params: ClusterParams
) -> tuple[list[tuple[int, int, float]], int]:
    """Pairs ``(i, j, jaccard)`` with i < j whose texts share at least ``params.shared_text`` of their shingles.

    Identical texts always pair (Jaccard 1.0). Candidates are pairs whose bottom-k sketches (the
    ``params.sketch`` smallest shingle hashes) share at least a quarter of the smaller sketch, found through an
    inverted index in O(n k); their exact Jaccard decides. Also returns how many pairs were checked exactly.
    """
    pairs: dict[tuple[int, int], float] = {}
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key in first:
            pairs[(first[key], i)] = 1.0  # union-find joins the rest of a group of identical texts
        else:
            first[key] = i
    sketches = [s[: params.sketch] for s in sets]
    values = np.concatenate([np.empty(0, dtype=np.uint64), *sketches])
    owners = np.repeat(np.arange(len(sets)), [len(s) for s in sketches])
    order = np.argsort(values, kind="stable")
    values, owners = values[order], owners[order]
    repeated = np.flatnonzero(values[1:] == values[:-1])  # value at i+1 equals value at i
    shared: dict[tuple[int, int], int] = {}
    run: list[int] = []
    previous = -2
    for i in [*repeated.tolist(), -1]:
        if i != previous + 1 and run:  # a run of equal values ended: count its pairs of owners
            for a in range(len(run)):
                for b in range(a + 1, len(run)):
                    pair = (min(run[a], run[b]), max(run[a], run[b]))
                    shared[pair] = shared.get(pair, 0) + 1
            run = []
        if i >= 0:
            if not run:
                run.append(int(owners[i]))
            run.append(int(owners[i + 1]))
        previous = i
    checked = 0
    for (i, j), count in shared.items():
        if i == j or (i, j) in pairs or count < max(1, min(len(sketches[i]), len(sketches[j])) // 4):
            continue
        checked += 1
        similarity = jaccard(sets[i], sets[j])
        if similarity >= params.shared_text:
            pairs[(i, j)] = similarity
    return [(i, j, sim) for (i, j), sim in pairs.items()], checked


# --- headline overlap -----------------------------------------------------------------------------------------


def _idf(sets: Sequence[set[str]]) -> dict[str, float]:
    df: dict[str, int] = {}
    for terms in sets:
        for t in terms:
            df[t] = df.get(t, 0) + 1
    return {t: math.log(1 + len(sets) / d) for t, d in df.items()}


def _names(title: str, text: str) -> set[str]:
    """Capitalised words and figures of a headline and the start of its text: who, where, how many."""
    found = _NAME.findall(f"{title}\n{text[:NAMES_CHARS]}")
    return {w.lower().strip("'’") for w in found} - STOPWORDS


def _pair_overlaps(sets: Sequence[set[str]], idf: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """idf-weighted overlaps of every pair of ``sets``: (over the union: Jaccard, over the smaller set), m x m.

    Only terms held by two or more of the sets can meet, so the incidence matrix keeps just those columns.
    """
    m = len(sets)
    weight = np.array([sum(idf[t] for t in terms) for terms in sets])
    counts: dict[str, int] = {}
    for terms in sets:
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
    column = {t: k for k, t in enumerate(t for t, c in counts.items() if c > 1)}
    incidence = np.zeros((m, len(column)), dtype=np.float32)
    for row, terms in enumerate(sets):
        cols = [column[t] for t in terms if t in column]
        incidence[row, cols] = 1.0
    weights = np.array([idf[t] for t in column], dtype=np.float32)
    inter = (incidence * weights) @ incidence.T
    union = weight[:, None] + weight[None, :] - inter
    smaller = np.minimum(weight[:, None], weight[None, :])
    jac = np.divide(inter, union, out=np.zeros((m, m)), where=union > 0)
    over_smaller = np.divide(inter, smaller, out=np.zeros((m, m)), where=smaller > 0)
    return jac, over_smaller


# --- grouping -------------------------------------------------------------------------------------------------


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self, members: Sequence[int]) -> list[list[int]]:
        out: dict[int, list[int]] = {}
        for m in members:
            out.setdefault(self.find(m), []).append(m)
        return list(out.values())


def _components(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The connected component of each of ``n`` nodes (its smallest member) under the edges ``rows[k]-cols[k]``.

    Minimum-label propagation with pointer jumping, vectorised: a handful of passes over the edges.
    """
    labels = np.arange(n)
    while rows.size:
        low = np.minimum(labels[rows], labels[cols])
        new = labels.copy()
        np.minimum.at(new, rows, low)
        np.minimum.at(new, cols, low)
        new = new[new[new]]
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _average_linkage(
    sim: np.ndarray, linkable: np.ndarray, seeds: list[list[int]], params: ClusterParams
) -> list[list[int]]:
    """Merge ``seeds`` (lists of row indices of ``sim``) by average linkage: two groups merge when some linkable
    pair of theirs reaches ``params.link`` and their average similarity ``params.average``, best average first.

    Each group caches its best partner, so a merge costs O(groups) instead of a rescan of all pairs.
    """
    order = [i for seed in seeds for i in seed]
    starts = np.cumsum([0] + [len(seed) for seed in seeds[:-1]])
    permuted = sim[np.ix_(order, order)]
    sums = np.add.reduceat(np.add.reduceat(permuted, starts, axis=0), starts, axis=1)
    linked = np.where(linkable, sim, -np.inf)[np.ix_(order, order)]
    maxes = np.maximum.reduceat(np.maximum.reduceat(linked, starts, axis=0), starts, axis=1)
    c = len(seeds)
    sizes = np.array([len(seed) for seed in seeds], dtype=np.float64)
    alive = np.ones(c, dtype=bool)

    def scores(g: int) -> np.ndarray:
        avg = sums[g] / (sizes[g] * sizes)
        row = np.where((maxes[g] >= params.link) & (avg >= params.average) & alive, avg, -np.inf)
        row[g] = -np.inf
        return row

    score = np.stack([scores(g) for g in range(c)]) if c else np.zeros((0, 0))
    best = score.max(axis=1) if c else np.zeros(0)
    partner = score.argmax(axis=1) if c else np.zeros(0, dtype=np.int64)
    groups = [list(seed) for seed in seeds]
    while c and best.max() > -np.inf:
        g = int(np.argmax(best))
        h = int(partner[g])
        sums[g] += sums[h]
        sums[:, g] = sums[g]
        sizes[g] += sizes[h]
        maxes[g] = np.maximum(maxes[g], maxes[h])
        maxes[:, g] = maxes[g]
        alive[h] = False
        groups[g].extend(groups[h])
        groups[h] = []
        score[h] = score[:, h] = -np.inf
        best[h] = -np.inf
        score[g] = score[:, g] = scores(g)
        best[g], partner[g] = score[g].max(), score[g].argmax()
        for i in np.flatnonzero(alive & ((partner == g) | (partner == h))):
            if i != g:  # their best partner changed or is gone: look again
                best[i], partner[i] = score[i].max(), score[i].argmax()
        better = alive & (score[:, g] > best)
        best[better] = score[better, g]
        partner[better] = g
    return [sorted(grp) for grp, live in zip(groups, alive, strict=True) if live]


def _medoid(members: Sequence[int], sim: np.ndarray) -> int:
    """The member (a row of ``sim``) with the highest total similarity to the others; the first on ties."""
    idx = np.asarray(members)
    sub = sim[np.ix_(idx, idx)]
    return int(idx[int(np.argmax(sub.sum(axis=1)))])


def _edges(v: np.ndarray, gate: float, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``i < j`` with cosine at least ``gate``, computed a block of rows at a time (no n x n matrix)."""
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for start in range(0, v.shape[0], block):
        s = v[start : start + block] @ v.T
        r, c = np.nonzero(s >= gate)
        r = r + start
        keep = c > r
        rows.append(r[keep])
        cols.append(c[keep])
    return np.concatenate(rows), np.concatenate(cols)


def story_mates(vectors: np.ndarray, seeds: Sequence[int], params: ClusterParams | None = None) -> list[int]:
    """The rows that could share a story with ``seeds``: a topic brief clusters only these, so that a story keeps
    all its outlets even where one outlet's article never uses the topic's words.

    Args:
        vectors: one vector per article (n x d).
        seeds: the rows of the articles about the topic.
        params: thresholds (the defaults when None).

    Returns:
        ``seeds`` and every row whose cosine to a seed could reach ``params.link`` with the headline bonus,
        ascending.
    """
    params = params or ClusterParams()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    close = (unit[list(seeds)] @ unit.T >= params.link - params.title_weight).any(axis=0)
    return sorted(set(seeds) | set(np.flatnonzero(close).tolist()))


def cluster_articles(
    vectors: np.ndarray,
    texts: Sequence[str],
    titles: Sequence[str],
    params: ClusterParams | None = None,
) -> Clustering:
    """Group articles about the same story.

    Args:
        vectors: one vector per article (n x d), e.g. its lead passage's stored embedding; normalised here.
            A zero row (no vector) relies on shared text alone.
        texts: the articles' texts, for shared-text detection.
        titles: the articles' headlines.
        params: thresholds (the calibrated defaults when None).

    Returns:
        The clusters with their medoids, and stats (pairs compared, shared-text pairs, duplicates, seconds).

    Raises:
        ValueError: when the three inputs differ in length.
    """
    params = params or ClusterParams()
    n = len(texts)
    if len(titles) != n or vectors.shape[0] != n:
        raise ValueError(f"{vectors.shape[0]} vectors, {n} texts and {len(titles)} titles: one each per article")
    started = time.perf_counter()
    stats: dict[str, float] = {"articles": n}
    if n == 0:
        return Clustering([], [], stats)

    v = np.asarray(vectors, dtype=np.float32).reshape(n, -1)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    rows, cols = _edges(v, params.link - params.title_weight)
    t = time.perf_counter()
    stats["cosine_seconds"] = t - started

    sets = [shingles(text, params.shingle_words) for text in texts]
    keys = list(texts)
    shared, checked = _shared_text_pairs(sets, keys, params)
    stats["shingle_seconds"] = time.perf_counter() - t
    stats["shared_text_checked"] = checked
    stats["shared_text_pairs"] = len(shared)
    stats["duplicate_pairs"] = sum(1 for _, _, j in shared if j >= params.duplicate)

    t = time.perf_counter()
    texts_together = _UnionFind(n)
    for i, j, _ in shared:
        texts_together.union(i, j)
    pairs = np.array([(i, j) for i, j, _ in shared], dtype=np.int64).reshape(-1, 2)
    labels = _components(n, np.concatenate([rows, pairs[:, 0]]), np.concatenate([cols, pairs[:, 1]]))
    terms = [{stem(w) for w in query_terms(t)} for t in titles]
    idf = _idf(terms)
    names = [_names(title, text) for title, text in zip(titles, texts, strict=True)]
    names_idf = _idf(names)
    shared_in: dict[int, list[tuple[int, int]]] = {}
    for i, j, _ in shared:
        shared_in.setdefault(int(labels[i]), []).append((i, j))
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    found: list[tuple[list[int], int]] = []
    largest_component = 1
    for part in np.split(order, bounds):
        comp = part.tolist()
        if len(comp) == 1:
            found.append((comp, comp[0]))
            continue
        largest_component = max(largest_component, len(comp))
        sub = (v[comp] @ v[comp].T).astype(np.float64)
        linkable = sub >= params.strong
        title_jaccard, _ = _pair_overlaps([terms[i] for i in comp], idf)
        _, names_overlap = _pair_overlaps([names[i] for i in comp], names_idf)
        sub += params.title_weight * title_jaccard
        linkable |= names_overlap >= params.names
        position = {m: p for p, m in enumerate(comp)}
        for i, j in shared_in.get(int(labels[comp[0]]), []):
            a, b = position[i], position[j]
            sub[a, b] = sub[b, a] = 1.0
            linkable[a, b] = linkable[b, a] = True
        np.fill_diagonal(sub, 1.0)
        seeds = [[position[m] for m in grp] for grp in texts_together.groups(comp)]
        for grp in _average_linkage(sub, linkable, seeds, params):
            found.append(([comp[p] for p in grp], comp[_medoid(grp, sub)]))
    found.sort(key=lambda cm: cm[0][0])
    stats["cluster_seconds"] = time.perf_counter() - t
    stats["largest_component"] = largest_component
    stats["stories"] = len(found)
    stats["multi_article_stories"] = sum(1 for c, _ in found if len(c) > 1)
    stats["largest_story"] = max(len(c) for c, _ in found)
    stats["seconds"] = time.perf_counter() - started
    return Clustering([c for c, _ in found], [m for _, m in found], stats)
