"""Top-k ranking metrics on plain lists: every metric is f(recommended, relevant, k) -> float.

`recommended` is a ranked sequence of movie ids (display order), `relevant` any collection of ids.
Only the first k recommendations count; duplicates in `recommended` count once (first position).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence

Metric = Callable[[Sequence[int], Collection[int], int], float]


def _top_k(recommended: Sequence[int], k: int) -> list[int]:
    """The first k distinct recommendations, in order."""
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    seen: set[int] = set()
    out: list[int] = []
    for item in recommended:
        if item not in seen:
            seen.add(item)
            out.append(item)
        if len(out) == k:
            break
    return out


def hit_rate_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    """1.0 if any of the top k is relevant, else 0.0."""
    rel = set(relevant)
    return float(any(item in rel for item in _top_k(recommended, k)))


def precision_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Relevant items among the top k, divided by k."""
    rel = set(relevant)
    return sum(item in rel for item in _top_k(recommended, k)) / k


def recall_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Relevant items among the top k, divided by the number of relevant items (0 if none)."""
    rel = set(relevant)
    if not rel:
        return 0.0
    return sum(item in rel for item in _top_k(recommended, k)) / len(rel)


def ndcg_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Binary-gain NDCG: DCG of the top k over the DCG of an ideal top k."""
    rel = set(relevant)
    if not rel:
        return 0.0
    dcg = sum(1.0 / math.log2(pos + 2) for pos, item in enumerate(_top_k(recommended, k))
              if item in rel)
    ideal = sum(1.0 / math.log2(pos + 2) for pos in range(min(len(rel), k)))
    return dcg / ideal


def average_precision_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    """Mean of precision at each relevant position in the top k, over min(|relevant|, k)."""
    rel = set(relevant)
    if not rel:
        return 0.0
    hits, total = 0, 0.0
    for pos, item in enumerate(_top_k(recommended, k)):
        if item in rel:
            hits += 1
            total += hits / (pos + 1)
    return total / min(len(rel), k)


def reciprocal_rank_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    """1 / position of the first relevant item in the top k (0 if none)."""
    rel = set(relevant)
    for pos, item in enumerate(_top_k(recommended, k)):
        if item in rel:
            return 1.0 / (pos + 1)
    return 0.0


RANKING_METRICS: dict[str, Metric] = {
    "hr": hit_rate_at_k,
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": average_precision_at_k,
    "mrr": reciprocal_rank_at_k,
}


def coverage(lists: Iterable[Sequence[int]]) -> int:
    """Number of distinct items across all recommendation lists."""
    return len({item for items in lists for item in items})


def catalog_coverage(lists: Iterable[Sequence[int]], catalog_size: int) -> float:
    """Share of a catalog of catalog_size items that appears in at least one list."""
    if catalog_size <= 0:
        raise ValueError(f"catalog_size must be positive, got {catalog_size}")
    return coverage(lists) / catalog_size


def mean_metric(metric: Metric, lists: Sequence[Sequence[int]],
                relevants: Sequence[Collection[int]], k: int) -> float:
    """The metric averaged over users (0.0 for no users)."""
    if len(lists) != len(relevants):
        raise ValueError(f"{len(lists)} lists but {len(relevants)} relevant sets")
    if not lists:
        return 0.0
    return sum(metric(r, rel, k) for r, rel in zip(lists, relevants)) / len(lists)
