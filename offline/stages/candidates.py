"""NeuMF's candidates, bounded: which (user, movie) pairs the model scores, never users x movies.

A user's candidates are the less-known co-occurrence neighbours (binary cosine,
`candidate_neighbors` per movie) of the movies they rated, minus those rated, capped at
`candidate_cap` by summed neighbour similarity; a movie's candidate users are the users who rated
it or its neighbours (at most `rater_cap` raters of a movie, a seeded sample), capped the same
way. So memory and time grow with ratings x candidate_neighbors and (users + movies) x
candidate_cap. The products run a block of rows at a time.

Split out of `neumf.py` (the model and its training stay there); numpy, scipy and pandas only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from offline.config import NeumfConfig
from offline.stages import similarity

CANDIDATE_BLOCK = 2048  # users (or movies) per block of the candidate products


def top_per_row(matrix: sp.spmatrix, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n largest stored entries of each row of a sparse matrix, as row, col, value."""
    coo = matrix.tocoo()
    return top_per_group(coo.row, coo.col, coo.data, n)


def top_per_group(
    groups: np.ndarray, items: np.ndarray, values: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's n largest values (ties: lower item first), sorted by group then rank."""
    order = np.lexsort((items, -values, groups))
    groups, items, values = groups[order], items[order], values[order]
    starts = np.searchsorted(groups, groups, side="left")  # sorted, so: each group's first slot
    keep = np.arange(groups.size) - starts < n
    return groups[keep], items[keep], values[keep]


def neighbor_matrix(items: sp.csr_matrix, candidates: np.ndarray, k: int, workers: int = 1) -> sp.csr_matrix:
    """Movie x movie matrix of each movie's k nearest `candidates` (binary cosine similarity)."""
    return neighbor_matrices(items, candidates, [None], k, workers)[0]


def neighbor_matrices(
    items: sp.csr_matrix, candidates: np.ndarray, subsets: list[np.ndarray | None], k: int, workers: int = 1
) -> list[sp.csr_matrix]:
    """`neighbor_matrix` for several subsets of `candidates` (sorted index arrays; None for
    all of them) from one similarity pass."""
    n = items.shape[0]
    candidates = np.asarray(candidates)
    self_index = pd.Index(candidates).get_indexer(np.arange(n))  # -1: not a candidate
    masks = [None if sub is None else np.isin(candidates, sub) for sub in subsets]
    found = similarity.top_k_cosine(
        items, items[candidates], k, self_index=self_index, workers=workers, masks=masks
    )
    return [
        sp.csr_matrix((sims, (query, candidates[neighbour])), shape=(n, n))
        for query, neighbour, sims in found
    ]


def user_candidates(
    rated: sp.csr_matrix, seen: sp.csr_matrix, neighbors: sp.csr_matrix, cfg: NeumfConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(user, movie) index pairs: less-known neighbours (`neighbors`, movie x movie) of a user's
    movies, unseen, capped. A block of users at a time, so the user x movie score matrix never
    exists whole."""
    if neighbors.nnz == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    users, movies = [], []
    for start in range(0, rated.shape[0], CANDIDATE_BLOCK):
        stop = min(start + CANDIDATE_BLOCK, rated.shape[0])
        score = (rated[start:stop] @ neighbors).tocsr()
        score = score - score.multiply(seen[start:stop])  # drop movies the user rated
        score.eliminate_zeros()
        u, m, _ = top_per_row(score, cfg.candidate_cap)
        users.append(u + start)
        movies.append(m)
    return np.concatenate(users), np.concatenate(movies)


def capped_raters(items: sp.csr_matrix, cap: int, seed: int) -> sp.csr_matrix:
    """Each movie's row of raters, with at most `cap` of them kept (a seeded random choice)."""
    counts = np.diff(items.indptr)
    if counts.size == 0 or counts.max() <= cap:
        return items
    rng = np.random.default_rng(seed)
    # a random key per stored entry; within each row keep the `cap` smallest
    keys = rng.random(items.nnz)
    rows = np.repeat(np.arange(items.shape[0]), counts)
    order = np.lexsort((keys, rows))
    rank = np.arange(items.nnz) - np.repeat(items.indptr[:-1], counts)
    keep = np.zeros(items.nnz, dtype=bool)
    keep[order[rank < cap]] = True
    return sp.csr_matrix(
        (items.data[keep], items.indices[keep], np.r_[0, np.cumsum(np.minimum(counts, cap))]),
        shape=items.shape,
    )


def movie_candidates(
    items: sp.csr_matrix, neighbors: sp.csr_matrix, cfg: NeumfConfig, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(movie, user) index pairs: users who rated the movie or its `neighbors` (movie x movie,
    among supported movies), capped.

    At most `rater_cap` raters per movie take part (a seeded sample), so the work is bounded by
    movies x (neighbours + 1) x rater_cap, not by the raters of popular neighbours.
    """
    n = items.shape[0]
    neighbors = (neighbors + sp.identity(n, format="csr")).tocsr()  # its own raters count most
    raters = capped_raters(items, cfg.rater_cap, seed)
    movies, users = [], []
    for start in range(0, n, CANDIDATE_BLOCK):
        stop = min(start + CANDIDATE_BLOCK, n)
        score = (neighbors[start:stop] @ raters).tocsr()
        m, u, _ = top_per_row(score, cfg.candidate_cap)
        movies.append(m + start)
        users.append(u)
    return np.concatenate(movies), np.concatenate(users)


def ranked(
    first: np.ndarray, second: np.ndarray, scores: np.ndarray, n: int, names: tuple[str, str]
) -> pd.DataFrame:
    """Long table `names[0], names[1], score, rank` of each `first` index's top n by score."""
    rows, cols, values = top_per_group(first, second, scores, n)
    frame = pd.DataFrame({names[0]: rows, names[1]: cols, "score": values})
    frame["rank"] = frame.groupby(names[0]).cumcount().to_numpy() + 1
    return frame
