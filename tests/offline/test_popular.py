"""Stage `popular`: weighted ratings checked on paper, catalog order, pools."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pandas as pd
import pytest

from offline.config import BuildConfig, PoolConfig, PopularConfig
from offline.stages.popular import POPULAR_COLUMNS, STATS_COLUMNS, compute_popular, run, score_movies


def ratings_of(per_movie: dict[int, list[float]]) -> pd.DataFrame:
    rows = [(user, movie, r) for movie, values in per_movie.items() for user, r in enumerate(values, start=1)]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    frame["timestamp"] = 0
    return frame.astype({"user_id": "int32", "movie_id": "int32", "rating": "float32", "timestamp": "int64"})


def movies_of(ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "movie_id": pd.array(ids, dtype="int32"),
            "title": [f"Movie {i}" for i in ids],
            "year": pd.array([2000 + i for i in ids], dtype="Int16"),
            "genres": ["Drama"] * len(ids),
            "raw_title": [f"Movie {i} ({2000 + i})" for i in ids],
        }
    )


def config(catalog_size: int, quantile: float = 0.9) -> BuildConfig:
    return dataclasses.replace(
        BuildConfig(),
        popular=PopularConfig(catalog_size=catalog_size, vote_quantile=quantile),
        pools=PoolConfig(popular_share=1 / 3, less_known_min_count=2),
    )


# counts 1, 2, 3 with means 4, 4, 2
THREE = {1: [4.0], 2: [3.0, 5.0], 3: [1.0, 2.0, 3.0]}


def test_weighted_rating_matches_hand_computation(spark) -> None:
    ratings, movies = ratings_of(THREE), movies_of([1, 2, 3])
    before = ratings.copy(), movies.copy()
    stats = compute_popular(spark, ratings, movies, config(3))["movie_stats"]
    c = (4 + 4 + 2) / 3
    m = 2 + 0.8 * (3 - 2)  # 0.9 quantile of [1, 2, 3]: position 0.9 * 2 = 1.8, linear
    expected = {
        v_id: v / (v + m) * r + m / (v + m) * c for v_id, v, r in ((1, 1, 4.0), (2, 2, 4.0), (3, 3, 2.0))
    }
    assert list(stats.columns) == STATS_COLUMNS
    assert stats["movie_id"].tolist() == [1, 2, 3]
    assert stats["vote_count"].tolist() == [1, 2, 3]
    assert stats["vote_mean"].tolist() == pytest.approx([4.0, 4.0, 2.0], abs=1e-9)
    assert stats["score"].tolist() == pytest.approx([expected[i] for i in (1, 2, 3)], abs=1e-9)
    pd.testing.assert_frame_equal(ratings, before[0])
    pd.testing.assert_frame_equal(movies, before[1])


def test_metrics_report_c_and_m(spark) -> None:
    _, metrics = score_movies(spark, ratings_of(THREE), config(3, quantile=0.5))
    assert metrics["C"] == pytest.approx(10 / 3, abs=1e-9)
    assert metrics["m"] == pytest.approx(2.0, abs=1e-9)  # median of [1, 2, 3]
    assert metrics["movies"] == 3


def test_pool_column(spark) -> None:
    tables = compute_popular(spark, ratings_of(THREE), movies_of([1, 2, 3]), config(3))
    stats = tables["movie_stats"]
    # top third by count (1 movie) is popular; the rest with >= 2 ratings less known
    assert stats.set_index("movie_id")["pool"].to_dict() == {1: "rare", 2: "less_known", 3: "popular"}


def test_catalog_order_and_ties(spark) -> None:
    # every mean is 3 = C, so every score is 3: order by vote_count desc, then movie_id asc
    per_movie = {9: [2.0, 4.0, 3.0, 3.0], 5: [3.0, 3.0], 7: [3.0], 4: [3.0, 3.0], 8: [1.0, 5.0]}
    ids = sorted(per_movie)
    popular = compute_popular(spark, ratings_of(per_movie), movies_of(ids), config(4))["popular"]
    assert list(popular.columns) == POPULAR_COLUMNS
    assert popular["movie_id"].tolist() == [9, 4, 5, 8]
    assert popular["rank"].tolist() == [1, 2, 3, 4]
    assert popular["score"].tolist() == pytest.approx([3.0] * 4, abs=1e-9)
    assert popular["title"].tolist() == ["Movie 9", "Movie 4", "Movie 5", "Movie 8"]
    assert popular["year"].tolist() == [2009, 2004, 2005, 2008]


def test_catalog_ranks_by_score(spark) -> None:
    popular = compute_popular(spark, ratings_of(THREE), movies_of([1, 2, 3]), config(2))["popular"]
    # movie 2 (two 4-star-mean votes) beats movie 1 (one), movie 3 (mean 2) is cut
    assert popular["movie_id"].tolist() == [2, 1]
    assert popular["rank"].tolist() == [1, 2]


def test_run_wraps_compute(spark) -> None:
    data = SimpleNamespace(movies=movies_of([1, 2, 3]))
    messages: list[str] = []
    ctx = SimpleNamespace(
        spark=spark,
        data=data,
        config=config(2),
        progress=messages.append,
        ratings_df=spark.createDataFrame(ratings_of(THREE)),
    )
    result = run(ctx)
    assert messages and "Spark" in messages[0]
    assert set(result.tables) == {"movie_stats", "popular"}
    assert result.metrics["m"] == pytest.approx(2.8, abs=1e-9)
    assert result.metrics["catalog_size"] == 2
