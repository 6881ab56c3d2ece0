"""EASE (Steck 2019) as a reference method: a closed-form item-item model in numpy (the
math is the product's own `ease` stage's, offline/stages/ease.py; here the full matrix B ranks).

X is the binary user x movie matrix of a fold's training ratings (any rating counts as 1), over
the movies with at least EASE_MIN_SUPPORT ratings, at most EASE_MAX_MOVIES of them (the most
rated: on the full releases this keeps the inverse affordable: 10,000^2 floats, about 1 TFLOP,
a minute or two on two cores; not yet run at that size in this project). Then

    P = (X^T X + lambda I)^-1,    B = I - P / diag(P)    (so B_jj = 0, B_ij = -P_ij / P_jj),

and a visitor's scores are the sum of their picks' rows of B. Like the other references, the
list is 5 + 5: the five best-scored movies of the popular pool and the five best of the
less-known pool (at least the pools' minimum count), never a pick.

lambda is chosen like the blend's weights (offline/evaluation/tuning.py): per fold, among
EASE_LAMBDAS, the one with the best HR@10 on the other folds' users (variants A and B together).
The two candidates are what suits each variant on ml-latest-small (about 1,000 for catalog picks,
about 4,000 for any picks; 50 to 500 and 8,000 were worse for both). With one fold evaluated (the
full releases) there is nothing to choose on, and EASE_LAMBDAS[0] is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from offline.stages.ease import ease_from_gram, gram_matrix, item_matrix

EASE_LAMBDAS = (1000.0, 4000.0)
EASE_LAMBDA = EASE_LAMBDAS[0]
EASE_MIN_SUPPORT = 5
EASE_MAX_MOVIES = 10_000


def ease_weights(x: np.ndarray, lam: float) -> np.ndarray:
    """B of EASE from a dense user x item matrix (or its Gram matrix is computed from it)."""
    gram = x.T @ x
    return ease_from_gram(np.asarray(gram, dtype=np.float64), lam)


class Ease:
    """EASE fitted on one fold's training ratings; `top(picks, pool_ids, n)` ranks a pool."""

    def __init__(
        self,
        train: pd.DataFrame,
        lam: float = EASE_LAMBDA,
        min_support: int = EASE_MIN_SUPPORT,
        max_movies: int = EASE_MAX_MOVIES,
    ) -> None:
        # the most rated first, ties by id: the item order, and the order ties are broken in
        # (the product's own stage, offline/stages/ease.py, makes the same matrix)
        self.movie_ids, x = item_matrix(train, min_support, max_movies)
        self.index = {int(m): i for i, m in enumerate(self.movie_ids)}
        n = len(self.movie_ids)
        self.gram: np.ndarray | None = gram_matrix(x)
        self.b = ease_from_gram(self.gram, lam) if n else np.zeros((0, 0))
        self.lam = lam

    def with_lambda(self, lam: float) -> "Ease":
        """The same items and Gram matrix, another lambda."""
        other = object.__new__(Ease)
        other.movie_ids, other.index, other.gram, other.lam = self.movie_ids, self.index, self.gram, lam
        assert self.gram is not None, "with_lambda needs the Gram matrix (it is dropped once chosen)"
        other.b = ease_from_gram(self.gram, lam) if len(self.movie_ids) else np.zeros((0, 0))
        return other

    def scores(self, picks: Sequence[int]) -> np.ndarray:
        """Every item's score for the picks (picks outside the model add nothing)."""
        idx = [self.index[p] for p in picks if p in self.index]
        out = self.b[idx].sum(axis=0) if idx else np.zeros(len(self.movie_ids))
        return np.asarray(out, dtype=np.float64)

    def top(self, scores: np.ndarray, pool: np.ndarray, n: int, exclude: set[int]) -> list[int]:
        """The n best-scored movies of a pool mask (over self.movie_ids), never one of exclude;
        ties go to the more-rated movie (the item order)."""
        if exclude:
            pool = pool.copy()
            pool[[self.index[m] for m in exclude if m in self.index]] = False
        cand = np.flatnonzero(pool)
        if not len(cand):
            return []
        order = np.argsort(-scores[cand], kind="stable")[:n]
        return [int(self.movie_ids[i]) for i in cand[order]]

    def masks(self, popular: Sequence[int], less_known: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Pool masks over the model's items."""
        pop, lk = set(popular), set(less_known)
        return (
            np.array([int(m) in pop for m in self.movie_ids], dtype=bool),
            np.array([int(m) in lk for m in self.movie_ids], dtype=bool),
        )
