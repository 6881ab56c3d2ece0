"""Each user's top movies by a factor model, one user at a time (numpy and pandas only).

Run both on the driver and inside Spark's Python workers (`als.top_unseen_spark`), which import
this module: keep its imports light. One matrix-vector product per user, so a user's scores do
not depend on which other users share a batch (or an executor).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DECIMALS = 6
RATING_MIN, RATING_MAX = 0.5, 5.0
SCHEMA = "user_id int, movie_id int, score double, rank int"


def user_top(
    factor: np.ndarray, items: np.ndarray, item_ids: np.ndarray, seen: np.ndarray, top_n: int
) -> tuple[np.ndarray, np.ndarray]:
    """One user's top_n unseen items by predicted rating (ties: lower movie id first).

    `seen` holds item positions to leave out. Ranked on the raw prediction (rounded), so movies
    predicted above 5 keep their order; `top_frame` clips the published score.
    """
    scores = np.round(items @ factor, DECIMALS)
    scores[seen] = -np.inf
    n = min(top_n, int(np.isfinite(scores).sum()))
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    kth = -np.partition(-scores, n - 1)[n - 1]
    pool = np.flatnonzero(scores >= kth)  # every tie at the boundary, settled by id below
    order = np.lexsort((item_ids[pool], -scores[pool]))[:n]
    return pool[order], scores[pool[order]]


def top_frame(user_id: int, movie_ids: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Rows user_id, movie_id, score (clipped to the rating scale), rank 1.."""
    return pd.DataFrame(
        {
            "user_id": np.full(len(movie_ids), user_id, dtype=np.int32),
            "movie_id": np.asarray(movie_ids).astype(np.int32),
            "score": np.clip(np.asarray(scores, dtype=np.float64), RATING_MIN, RATING_MAX),
            "rank": np.arange(1, len(movie_ids) + 1, dtype=np.int32),
        }
    )


def rank_users(batch: pd.DataFrame, items: np.ndarray, item_ids: np.ndarray, top_n: int) -> pd.DataFrame:
    """Top lists of a batch of users given as user_id, features (a factor list), seen (ids)."""
    position = pd.Index(item_ids)
    users, movies, scores, ranks = [], [], [], []
    for user_id, features, seen in zip(batch["user_id"], batch["features"], batch["seen"]):
        factor = np.round(np.asarray(features, dtype=np.float64), DECIMALS)
        ids = np.asarray(seen if seen is not None else [], dtype=np.int64)
        pos = position.get_indexer(ids) if ids.size else ids
        picked, top = user_top(factor, items, item_ids, pos[pos >= 0], top_n)
        users.append(np.full(picked.size, int(user_id), dtype=np.int32))
        movies.append(item_ids[picked])
        scores.append(top)
        ranks.append(np.arange(1, picked.size + 1, dtype=np.int32))
    if not users:
        return top_frame(0, np.zeros(0, np.int64), np.zeros(0))
    # one frame per batch (a frame per user costs more than the ranking itself)
    return pd.DataFrame(
        {
            "user_id": np.concatenate(users),
            "movie_id": np.concatenate(movies).astype(np.int32),
            "score": np.clip(np.concatenate(scores), RATING_MIN, RATING_MAX),
            "rank": np.concatenate(ranks),
        }
    )
