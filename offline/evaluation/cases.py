"""Simulated visitors: users in folds, three seeded picks each, one Case per user and variant.

Also the protocol's constants that the other evaluation modules share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from webapp.recommend import PICKS_REQUIRED

LIKED_RATING = 4.0
K = 10
HALF = 5
VARIANTS = {"A": "any picks", "B": "catalog picks"}
MAIN = "recommender (knn + als + ease + neumf)"  # the product: the method every other is compared with


@dataclass(frozen=True)
class Case:
    """One simulated visitor: three picks and what they liked besides."""

    user_id: int
    fold: int
    variant: str
    picks: tuple[int, ...]
    relevant: frozenset[int]
    relevant_less_known: frozenset[int]
    # held-out movies the user rated below LIKED_RATING: a simulated "not for me" in the second
    # round (offline/evaluation/rounds.py); shown movies they never rated are "not interested"
    rated_below: frozenset[int] = frozenset()


def assign_folds(user_ids: np.ndarray, n_folds: int, seed: int) -> pd.Series:
    """Fold number per user (index user_id), from a seeded permutation of the sorted ids."""
    users = np.unique(user_ids)
    order = np.random.default_rng(seed).permutation(len(users))
    folds = np.empty(len(users), dtype=np.int64)
    folds[order] = np.arange(len(users)) % n_folds
    return pd.Series(folds, index=pd.Index(users, name="user_id"), name="fold")


def draw_picks(liked: Sequence[int], seed: int) -> tuple[int, ...]:
    """Three of the sorted liked ids, drawn with the given seed."""
    pool = np.sort(np.asarray(liked, dtype=np.int64))
    chosen = np.random.default_rng(seed).choice(pool, PICKS_REQUIRED, replace=False)
    return tuple(int(x) for x in chosen)


def pick_seed(cfg: BuildConfig, variant: str, user_id: int) -> int:
    """The seed of one user's picks, derived from the build seed and the user id."""
    return cfg.seed_for(f"evaluate:picks:{variant}:{int(user_id)}")


def build_cases(
    test_ratings: pd.DataFrame, fold: int, catalog: set[int], less_known: set[int], cfg: BuildConfig
) -> list[Case]:
    """Cases of one fold's test users: variant A for users with >= 4 liked, B with >= 3 in catalog."""
    liked = test_ratings[test_ratings["rating"] >= LIKED_RATING]
    below = test_ratings[test_ratings["rating"] < LIKED_RATING]
    disliked = {int(u): frozenset(g["movie_id"].astype(int)) for u, g in below.groupby("user_id")}
    cases = []
    for user_id, group in liked.groupby("user_id", sort=True):
        movies = sorted(set(group["movie_id"].astype(int)))
        if len(movies) < PICKS_REQUIRED + 1:
            continue
        in_catalog = [x for x in movies if x in catalog]
        choices = {"A": movies, "B": in_catalog if len(in_catalog) >= PICKS_REQUIRED else None}
        for variant, pool in choices.items():
            if pool is None:
                continue
            picks = draw_picks(pool, pick_seed(cfg, variant, int(user_id)))
            relevant = frozenset(movies) - set(picks)
            cases.append(
                Case(
                    int(user_id),
                    fold,
                    variant,
                    picks,
                    relevant,
                    frozenset(relevant & less_known),
                    disliked.get(int(user_id), frozenset()),
                )
            )
    return cases
