"""The pool definition and the seeded rating split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offline.config import PoolConfig
from offline.pools import assign_pools
from offline.split import split_ratings


def test_pools_by_rating_count_percentile() -> None:
    # 20 rated movies with counts 1..20, one unrated; top 10% = the 2 most rated.
    counts = pd.Series(list(range(1, 21)) + [0], index=list(range(101, 122)))
    pools = assign_pools(counts, PoolConfig(popular_share=0.10, less_known_min_count=5))
    assert pools[pools == "popular"].index.tolist() == [119, 120]
    assert pools[pools == "less_known"].index.tolist() == list(range(105, 119))  # counts 5..18
    assert pools[pools == "rare"].index.tolist() == [101, 102, 103, 104]  # counts 1..4
    assert 121 not in pools.index  # unrated movies are in no pool


def test_pool_ties_broken_by_movie_id() -> None:
    counts = pd.Series([7, 7, 7, 7], index=[4, 3, 2, 1])
    pools = assign_pools(counts, PoolConfig(popular_share=0.5, less_known_min_count=1))
    assert pools[pools == "popular"].index.tolist() == [1, 2]


def ratings_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"user_id": rng.integers(0, 50, n), "movie_id": np.arange(n)})


def test_split_fractions_and_determinism() -> None:
    ratings = ratings_frame(1000)
    split = split_ratings(ratings, (0.8, 0.1, 0.1), seed=7)
    shares = split.value_counts(normalize=True)
    # hash-based: the fractions hold in expectation (binomial sd about 0.013 at n = 1000)
    assert abs(shares["train"] - 0.8) < 0.05 and abs(shares["test"] - 0.1) < 0.04
    assert split.equals(split_ratings(ratings, (0.8, 0.1, 0.1), seed=7))
    assert not split.equals(split_ratings(ratings, (0.8, 0.1, 0.1), seed=8))


def test_split_ignores_row_order() -> None:
    ratings = ratings_frame(500)
    shuffled = ratings.sample(frac=1.0, random_state=np.random.default_rng(1))
    a = split_ratings(ratings, (0.6, 0.2, 0.2), seed=3)
    b = split_ratings(shuffled, (0.6, 0.2, 0.2), seed=3)
    assert a.sort_index().equals(b.sort_index())


def test_split_fractions_at_scale() -> None:
    ratings = ratings_frame(200_000)
    shares = split_ratings(ratings, (0.7, 0.2, 0.1), seed=5).value_counts(normalize=True)
    assert abs(shares["train"] - 0.7) < 0.005
    assert abs(shares["validation"] - 0.2) < 0.005


def test_numpy_hash_is_sparks_xxhash64(spark) -> None:
    """The driver's labels are the ones Spark computes per row (bit-exact XXH64 of int columns)."""
    from pyspark.sql import functions as F

    from offline.split import spark_split, xxhash64_ints

    rng = np.random.default_rng(11)
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(-(2**31), 2**31 - 1, 3000).astype(np.int32),
            "movie_id": rng.integers(0, 300_000, 3000).astype(np.int32),
        }
    )
    out = (
        spark.createDataFrame(frame)
        .withColumn("h", F.xxhash64("user_id", "movie_id", F.lit(9).cast("int")))
        .withColumn("split", spark_split((0.8, 0.1, 0.1), 9))
        .toPandas()
    )
    seeds = np.full(len(frame), 9, dtype=np.int32)
    np.testing.assert_array_equal(
        out["h"].to_numpy(), xxhash64_ints(frame["user_id"], frame["movie_id"], seeds)
    )
    np.testing.assert_array_equal(
        out["split"].to_numpy(), split_ratings(frame, (0.8, 0.1, 0.1), 9).to_numpy()
    )


def test_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        split_ratings(ratings_frame(10), (0.5, 0.2, 0.2), seed=1)
