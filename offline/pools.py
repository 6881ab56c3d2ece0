"""The one definition of the popular and less-known pools, by rating count."""

from __future__ import annotations

import math

import pandas as pd

from offline.config import PoolConfig

POPULAR = "popular"
LESS_KNOWN = "less_known"
RARE = "rare"


def assign_pools(vote_counts: pd.Series, cfg: PoolConfig) -> pd.Series:
    """Label each rated movie `popular`, `less_known` or `rare`.

    popular = the top `popular_share` of rated movies by rating count (ties broken by movie id,
    so the size is exactly ceil(share * n)); less known = the rest with at least
    `less_known_min_count` ratings; rare = everything else. Percentile-based, so the same
    definition carries over from ml-latest-small to ml-25m.
    """
    counts = vote_counts[vote_counts > 0]
    n_popular = math.ceil(cfg.popular_share * len(counts))
    order = pd.DataFrame({"movie_id": counts.index, "count": counts.to_numpy()}).sort_values(
        ["count", "movie_id"], ascending=[False, True], kind="mergesort"
    )
    popular_ids = set(order["movie_id"].iloc[:n_popular].tolist())
    labels = pd.Series(RARE, index=counts.index, name="pool", dtype=object)
    labels[counts >= cfg.less_known_min_count] = LESS_KNOWN
    labels[counts.index.isin(popular_ids)] = POPULAR
    return labels.sort_index()
