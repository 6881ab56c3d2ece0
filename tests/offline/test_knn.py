"""Stage `knn`: checkerboard neighbours, content fallback, output contract, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from offline.config import BuildConfig, KnnConfig
from offline.stages.knn import COLUMNS, compute_neighbors, nearest_movies

BLOCK_A, BLOCK_B = [10, 11, 12], [20, 21, 22]
UNRATED, SCARCE = 30, 31


@pytest.fixture
def ratings() -> pd.DataFrame:
    """Users 1-4 rated exactly block A, users 5-8 exactly block B; one rating of movie 31."""
    rows = [(u, m, 4.0) for u in range(1, 5) for m in BLOCK_A]
    rows += [(u, m, 3.5) for u in range(5, 9) for m in BLOCK_B]
    rows += [(1, SCARCE, 5.0)]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    return frame.astype({"user_id": "int32", "movie_id": "int32", "rating": "float32"}).assign(
        timestamp=np.int64(0)
    )


@pytest.fixture
def movies() -> pd.DataFrame:
    """Block A are comedies, block B dramas; 30 (never rated) and 31 (rated once) are comedies."""
    ids = BLOCK_A + BLOCK_B + [UNRATED, SCARCE]
    genres = ["Comedy"] * 3 + ["Drama"] * 3 + ["Comedy", "Comedy|Romance"]
    return pd.DataFrame(
        {
            "movie_id": np.array(ids, dtype="int32"),
            "title": [f"Movie {i}" for i in ids],
            "year": pd.array([1990] * len(ids), dtype="Int16"),
            "genres": genres,
            "raw_title": [f"Movie {i} (1990)" for i in ids],
        }
    )


@pytest.fixture
def tags() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.array([5], dtype="int32"),
            "movie_id": np.array([20], dtype="int32"),
            "tag": ["slow burn"],
            "timestamp": np.array([0], dtype="int64"),
        }
    )


@pytest.fixture
def cfg() -> BuildConfig:
    return dataclasses.replace(BuildConfig(), knn=KnnConfig(k=5, min_support=2))


def test_checkerboard_neighbours_are_exactly_the_own_block(ratings, movies, tags, cfg):
    table = compute_neighbors(ratings, movies, tags, cfg)
    cf = table[table["kind"] == "cf"]
    for block in (BLOCK_A, BLOCK_B):
        for movie in block:
            rows = cf[cf["movie_id"] == movie]
            assert rows["neighbor_id"].tolist() == [m for m in block if m != movie]
            assert rows["similarity"].tolist() == [1.0, 1.0]
            assert rows["rank"].tolist() == [1, 2]


def test_movies_without_enough_ratings_get_content_neighbours(ratings, movies, tags, cfg):
    table = compute_neighbors(ratings, movies, tags, cfg)
    for movie in (UNRATED, SCARCE):
        rows = table[table["movie_id"] == movie]
        assert set(rows["kind"]) == {"content"}
        # the comedies of block A share its genre; rated movies only, so never 30 or 31
        assert rows["neighbor_id"].tolist()[:3] == BLOCK_A
        assert rows["similarity"].between(0, 1).all()
    assert set(table["movie_id"]) == set(movies["movie_id"])


def test_output_contract_order_and_determinism(ratings, movies, tags, cfg):
    before = (ratings.copy(), movies.copy(), tags.copy())
    first = compute_neighbors(ratings, movies, tags, cfg)
    second = compute_neighbors(ratings, movies, tags, cfg)
    assert list(first.columns) == COLUMNS
    assert first.to_csv(index=False) == second.to_csv(index=False)
    expected = first.sort_values(
        ["movie_id", "similarity", "neighbor_id"], ascending=[True, False, True], kind="mergesort"
    )
    assert first.index.equals(expected.index)
    assert (first["movie_id"] != first["neighbor_id"]).all()
    ranks = first.groupby("movie_id")["rank"].apply(list)
    assert all(r == list(range(1, len(r) + 1)) for r in ranks)
    assert first.groupby("movie_id").size().max() <= cfg.knn.k
    assert (first["similarity"] == first["similarity"].round(6)).all()
    for given, kept in zip((ratings, movies, tags), before):
        pd.testing.assert_frame_equal(given, kept)


def test_centred_weighting_and_unknown_weighting(ratings, movies, tags, cfg):
    centred = dataclasses.replace(cfg, knn=dataclasses.replace(cfg.knn, weighting="centred"))
    table = compute_neighbors(ratings, movies, tags, centred)
    # users 5-8 rated block B alike, so its centred vectors are zero: content neighbours instead
    assert set(table.loc[table["movie_id"].isin(BLOCK_B), "kind"]) == {"content"}
    assert set(table["movie_id"]) == set(movies["movie_id"])
    wrong = dataclasses.replace(cfg, knn=dataclasses.replace(cfg.knn, weighting="odd"))
    with pytest.raises(ValueError, match="weighting"):
        compute_neighbors(ratings, movies, tags, wrong)


def _brute_co_raters(ratings: pd.DataFrame, a: int, b: int) -> int:
    raters = ratings.groupby("movie_id")["user_id"].apply(set)
    return len(raters.get(a, set()) & raters.get(b, set()))


@pytest.mark.parametrize("weighting", ["binary", "centred"])
def test_co_raters_are_the_people_who_rated_both(weighting, movies, tags, cfg):
    """co_raters, the reasons' evidence, equals a brute-force count on every row (cf and
    content), and cosine = co_raters / sqrt(n_a n_b) on the binary cf rows."""
    rng = np.random.default_rng(5)
    ids = movies["movie_id"].to_numpy()
    rows = {(int(u), int(m)) for u in range(1, 30) for m in ids[:-2] if rng.random() < 0.4}
    rows |= {(3, SCARCE)}  # 31 rated once: content neighbours, yet a co-rater count
    ratings = (
        pd.DataFrame(sorted(rows), columns=["user_id", "movie_id"])
        .astype("int32")
        .assign(
            rating=rng.choice(np.arange(1, 11) / 2, size=len(rows)).astype("float32"), timestamp=np.int64(0)
        )
    )
    chosen = dataclasses.replace(cfg, knn=dataclasses.replace(cfg.knn, weighting=weighting))
    table = compute_neighbors(ratings, movies, tags, chosen)
    assert table["co_raters"].dtype == np.int32
    assert set(table["kind"]) == {"cf", "content"}
    brute = [_brute_co_raters(ratings, a, b) for a, b in zip(table["movie_id"], table["neighbor_id"])]
    assert table["co_raters"].tolist() == brute
    assert table.loc[table["movie_id"] == SCARCE, "co_raters"].max() == 1
    if weighting == "binary":
        counts = ratings.groupby("movie_id").size()
        cf = table[table["kind"] == "cf"]
        cosine = cf["co_raters"] / np.sqrt(
            counts[cf["movie_id"]].to_numpy() * counts[cf["neighbor_id"]].to_numpy()
        )
        assert np.allclose(cf["similarity"], cosine.round(6))


def test_a_tie_larger_than_k_is_settled_by_the_lowest_ids_whatever_the_candidate_order():
    """Content rows tie often (same genres and decade). Among equally similar candidates the
    lowest ids win, however many tie and in whatever order the candidates come; a k-nearest
    search kept whichever of a large tie its partition left in front, which NumPy orders
    differently on different CPUs (the same data gave different tables on two machines)."""
    query = [1.0, 1.0, 0.0]
    tied_ids = list(range(100, 0, -10))  # 100, 90, ..., 10: the lowest ids come last
    rows = [query] + [[1.0, 0.0, 0.0]] * len(tied_ids) + [[0.0, 0.0, 1.0], query]
    ids = [500] + tied_ids + [1, 7]  # 500: as similar as it gets; 1: not similar; 7: the query
    candidates = sp.csr_matrix(np.array(rows))
    found = nearest_movies(candidates, np.array(ids), sp.csr_matrix(np.array([query])), np.array([7]), k=3)
    assert found["neighbor_id"].tolist() == [500, 10, 20]
    assert found["rank"].tolist() == [1, 2, 3]
    assert found["similarity"].tolist() == [1.0, round(1 / np.sqrt(2), 6), round(1 / np.sqrt(2), 6)]
    # the same answer with the candidates in any other order
    shuffled = np.random.default_rng(0).permutation(len(ids))
    again = nearest_movies(
        candidates[shuffled], np.array(ids)[shuffled], sp.csr_matrix(np.array([query])), np.array([7]), k=3
    )
    pd.testing.assert_frame_equal(again, found)
