"""Seeded train/validation/test split of the ratings, shared by every rating model.

A rating's part is a pure function of (user_id, movie_id, seed): Spark's `xxhash64` of the three,
taken modulo `BUCKETS`. So Spark computes it per row on any cluster, in any partitioning, with no
shuffle and no driver-side state, and numpy computes the very same labels on the driver
(`hash_buckets` is a bit-exact copy of Spark's XXH64 for int columns, checked by the tests). The
fractions hold in expectation (to about 1/sqrt(n)), not to the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import Column

TRAIN, VALIDATION, TEST = "train", "validation", "test"
BUCKETS = 1_000_000
SPARK_HASH_SEED = 42  # Spark's xxhash64 seed (fixed by Spark)

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P5 = np.uint64(0x27D4EB2F165667C5)
_MASK32 = np.uint64(0xFFFFFFFF)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


def _hash_int(values: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Spark's XxHash64Function.hashInt, vectorised (uint64 arithmetic wraps like Java longs)."""
    h = seed + _P5 + np.uint64(4)
    h ^= (values.astype(np.int64).astype(np.uint64) & _MASK32) * _P1
    h = _rotl(h, 23) * _P2 + _P3
    h ^= h >> np.uint64(33)
    h *= _P2
    h ^= h >> np.uint64(29)
    h *= _P3
    h ^= h >> np.uint64(32)
    return h


def xxhash64_ints(*columns: np.ndarray) -> np.ndarray:
    """`F.xxhash64(c1, c2, ...)` of int32 columns, as int64 (Spark's value, bit for bit)."""
    with np.errstate(over="ignore"):
        h = np.full(len(columns[0]), SPARK_HASH_SEED, dtype=np.uint64)
        for column in columns:
            h = _hash_int(np.asarray(column), h)
    return h.view(np.int64)


def hash_buckets(user_ids: np.ndarray, movie_ids: np.ndarray, seed: int) -> np.ndarray:
    """Bucket 0..BUCKETS-1 of each (user, movie) pair under `seed` (numpy side)."""
    seeds = np.full(len(user_ids), seed, dtype=np.int32)
    return np.mod(xxhash64_ints(user_ids, movie_ids, seeds), BUCKETS)


def spark_buckets(user_col: str, movie_col: str, seed: int) -> "Column":
    """The same bucket as a Spark column expression."""
    from pyspark.sql import functions as F

    return F.pmod(
        F.xxhash64(F.col(user_col).cast("int"), F.col(movie_col).cast("int"), F.lit(int(seed)).cast("int")),
        F.lit(BUCKETS),
    )


def bounds(fractions: tuple[float, float, float]) -> tuple[int, int]:
    """Bucket bounds: train below the first, validation below the second, test above."""
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    return int(round(fractions[0] * BUCKETS)), int(round((fractions[0] + fractions[1]) * BUCKETS))


def split_ratings(ratings: pd.DataFrame, fractions: tuple[float, float, float], seed: int) -> pd.Series:
    """`train` / `validation` / `test` per rating row (the same labels `spark_split` gives)."""
    train_below, validation_below = bounds(fractions)
    bucket = hash_buckets(ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy(), seed)
    labels = np.where(
        bucket < train_below, TRAIN, np.where(bucket < validation_below, VALIDATION, TEST)
    ).astype(object)
    return pd.Series(labels, index=ratings.index, name="split")


def spark_split(
    fractions: tuple[float, float, float], seed: int, user_col: str = "user_id", movie_col: str = "movie_id"
) -> "Column":
    """The split label as a Spark column (for `withColumn("split", ...)` or a filter)."""
    from pyspark.sql import functions as F

    train_below, validation_below = bounds(fractions)
    bucket = spark_buckets(user_col, movie_col, seed)
    return (
        F.when(bucket < train_below, F.lit(TRAIN))
        .when(bucket < validation_below, F.lit(VALIDATION))
        .otherwise(F.lit(TEST))
    )
