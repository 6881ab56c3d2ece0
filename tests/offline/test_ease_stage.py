"""Stage `ease`: the published top weights are EASE's closed form, computed by brute force here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offline.config import EaseConfig
from offline.stages.ease import COLUMNS, compute_ease, gram_matrix, item_matrix


def _ratings(seed: int = 3, users: int = 60, movies: int = 15) -> pd.DataFrame:
    """Seeded ratings; movie m is rated by about (m + 2) / (movies + 4) of the users."""
    rng = np.random.default_rng(seed)
    rows = [
        (u, 100 + m, float(rng.integers(1, 11)) / 2)
        for u in range(users)
        for m in range(movies)
        if rng.random() < (m + 2) / (movies + 4)
    ]
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])


def _brute_force(
    ratings: pd.DataFrame, lam: float, min_support: int
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(movie ids, B, X^T X) straight from the definition, over the movies with enough raters."""
    x = pd.crosstab(ratings["user_id"], ratings["movie_id"]).clip(upper=1)
    x = x.loc[:, x.sum() >= min_support]
    xm = x.to_numpy(float)
    gram = xm.T @ xm
    p = np.linalg.inv(gram + lam * np.eye(len(gram)))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return [int(m) for m in x.columns], b, gram


@pytest.mark.parametrize("k", [1, 4, 50])
def test_each_movie_gets_its_k_strongest_positive_weights(k: int) -> None:
    ratings = _ratings()
    table = compute_ease(ratings, EaseConfig(lam=3.0, min_support=12, max_movies=1000, k=k))
    ids, b, gram = _brute_force(ratings, 3.0, 12)
    assert list(table.columns) == COLUMNS
    assert 5 < len(ids) < 15  # the support filter leaves some movies out
    assert set(table["movie_id"]) | set(table["neighbor_id"]) <= set(ids)
    for i, movie in enumerate(ids):
        mine = table[table["movie_id"] == movie]
        positive = [j for j in np.argsort(-b[i], kind="stable") if b[i, j] > 0][:k]
        assert mine["neighbor_id"].tolist() == [ids[j] for j in positive]
        np.testing.assert_allclose(mine["weight"].to_numpy(), b[i, positive], rtol=1e-5)
        assert mine["rank"].tolist() == list(range(1, len(positive) + 1))
        assert mine["co_raters"].tolist() == [int(gram[i, j]) for j in positive]  # rated both
    assert (table["weight"] > 0).all()


def test_max_movies_keeps_the_most_rated() -> None:
    ratings = _ratings()
    ids, x = item_matrix(ratings, min_support=1, max_movies=4)
    counts = ratings.groupby("movie_id").size().sort_values(ascending=False, kind="mergesort")
    assert ids.tolist() == sorted(counts.index[:4], key=lambda m: (-counts[m], m))
    dense = pd.crosstab(ratings["user_id"], ratings["movie_id"]).clip(upper=1)[ids]
    dense = dense[dense.sum(axis=1) > 0]  # the users who rated one of them, in id order
    assert x.shape == (len(dense), 4)
    np.testing.assert_array_equal(gram_matrix(x), dense.to_numpy().T @ dense.to_numpy())


def test_no_movie_with_enough_ratings_gives_an_empty_table() -> None:
    table = compute_ease(_ratings(), EaseConfig(min_support=10_000))
    assert table.empty and list(table.columns) == COLUMNS


def test_blocks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Gram matrix and the top lists are made a block at a time: any block size, same table."""
    import offline.stages.ease as ease

    ratings = _ratings(users=80, movies=30)
    cfg = EaseConfig(lam=5.0, min_support=1, k=6)
    whole = compute_ease(ratings, cfg)
    monkeypatch.setattr(ease, "BLOCK", 7)
    pd.testing.assert_frame_equal(compute_ease(ratings, cfg), whole)
