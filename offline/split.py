"""Seeded train/validation/test split of the ratings, shared by every rating model."""
from __future__ import annotations

import numpy as np
import pandas as pd

TRAIN, VALIDATION, TEST = "train", "validation", "test"


def split_ratings(
    ratings: pd.DataFrame, fractions: tuple[float, float, float], seed: int
) -> pd.Series:
    """Assign each rating row to train/validation/test with the given fractions.

    Rows are shuffled by a generator seeded from `seed` after sorting by (user_id, movie_id),
    so the split depends only on the data and the seed, not on file order or partitioning.
    """
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    order = np.lexsort((ratings["movie_id"].to_numpy(), ratings["user_id"].to_numpy()))
    rng = np.random.default_rng(seed)
    permuted = order[rng.permutation(len(order))]
    n = len(order)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    labels = np.empty(n, dtype=object)
    labels[permuted[:n_train]] = TRAIN
    labels[permuted[n_train:n_train + n_val]] = VALIDATION
    labels[permuted[n_train + n_val:]] = TEST
    return pd.Series(labels, index=ratings.index, name="split")
