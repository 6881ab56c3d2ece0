"""Top-k ranking metrics on plain lists: every metric is f(recommended, relevant, k) -> float.

`recommended` is a ranked sequence of movie ids (display order), `relevant` any collection of ids.
Only the first k recommendations count; duplicates in `recommended` count once (first position).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence


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
    dcg = sum(1.0 / math.log2(pos + 2) for pos, item in enumerate(_top_k(recommended, k)) if item in rel)
    ideal = sum(1.0 / math.log2(pos + 2) for pos in range(min(len(rel), k)))
    return dcg / ideal


def coverage(lists: Iterable[Sequence[int]]) -> int:
    """Number of distinct items across all recommendation lists."""
    return len({item for items in lists for item in items})
