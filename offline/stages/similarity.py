"""Blockwise top-k cosine neighbours over binary vectors (who rated what), in bounded memory.

The similarity of movies a and b is |raters(a) & raters(b)| / sqrt(|raters(a)| |raters(b)|).
Co-occurrence counts come from a sparse product of the binary movie x user matrix with its
transpose, one block of query movies at a time: memory is bounded by `block x candidates`
(never movies x movies), and counts are exact integers in float32 (below 2^24), so the
similarities do not depend on summation order, block size or the number of processes.
Blocks run in `workers` forked processes (scipy's sparse product holds the GIL).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

DECIMALS = 6
BLOCK_CELLS = 16_000_000  # query rows x candidates per block (a dense float32 block: 64 MB)

_shared: dict[str, Any] = {}  # the matrices, inherited by forked workers


def binary_matrix(row_codes: np.ndarray, col_codes: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A 0/1 float32 CSR matrix with a one at each (row, col) given (duplicates count once)."""
    matrix = sp.csr_matrix((np.ones(row_codes.size, dtype=np.float32), (row_codes, col_codes)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def top_k_block(start: int, stop: int) -> list[tuple[np.ndarray, ...]]:
    """Per candidate mask: (query index, candidate index, similarity) of each query row's top k
    in one block (and each pair's co-occurrence count when asked for: `with_counts`)."""
    queries: sp.csr_matrix = _shared["queries"]
    candidates_t: sp.csr_matrix = _shared["candidates_t"]
    q_norm: np.ndarray = _shared["q_norm"]
    c_norm: np.ndarray = _shared["c_norm"]
    self_index: np.ndarray = _shared["self_index"]
    masks: list[np.ndarray | None] = _shared["masks"]
    k: int = _shared["k"]
    counts = (queries[start:stop] @ candidates_t).toarray()
    sims = np.round(counts / (q_norm[start:stop, None] * c_norm[None, :]), DECIMALS)
    drop_self(sims, self_index[start:stop])
    found: list[tuple[np.ndarray, ...]] = [
        top_k_rows(np.where(mask[None, :], sims, 0.0) if mask is not None else sims, k, start)
        for mask in masks
    ]
    if not _shared.get("with_counts"):
        return found
    # the exact co-occurrence count of each pair kept (an integer below 2^24 in float32)
    return [(r, c, v, counts[r - start, c].astype(np.int64)) for r, c, v in found]


def drop_self(sims: np.ndarray, own: np.ndarray) -> None:
    """Zero each row's own column (own: the query's position among the candidates, -1 when it
    is not one): a movie is not its own neighbour, and top_k_rows keeps positive entries only."""
    rows = np.flatnonzero(own >= 0)
    sims[rows, own[rows]] = 0.0


def top_k_rows(sims: np.ndarray, k: int, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's k largest positive entries (ties: lower column first), rows offset by start."""
    n_cand = sims.shape[1]
    if n_cand == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    kk = min(k, n_cand)
    # the k-th largest similarity of each row; every candidate at or above it is kept, so ties
    # at the boundary are settled by candidate index below, not by argpartition's order
    kth = -np.partition(-sims, kk - 1, axis=1)[:, kk - 1]
    keep = (sims >= kth[:, None]) & (sims > 0)
    r, c = np.nonzero(keep)
    v = sims[r, c]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    first = np.searchsorted(r, r, side="left")
    top = np.arange(r.size) - first < kk
    return r[top] + start, c[top], v[top]


def top_k_cosine(
    queries: sp.csr_matrix,
    candidates: sp.csr_matrix,
    k: int,
    self_index: np.ndarray | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    masks: list[np.ndarray | None] | None = None,
    with_counts: bool = False,
) -> tuple[np.ndarray, ...] | list[tuple[np.ndarray, ...]]:
    """Each query row's k most similar candidate rows (binary cosine, similarity > 0).

    `self_index[i]` is the candidate index of query i itself (-1 if none), which is skipped.
    Returns (query index, candidate index, similarity), sorted by query, similarity desc,
    candidate index asc; with `with_counts`, a fourth array: each pair's co-occurrence count
    (how many columns, users, the two rows share), exact, as the product gave it. With `masks`
    (boolean arrays over the candidates, None for all), one such tuple per mask from a single
    pass: the product, the costly part, is shared.
    """
    n_q = queries.shape[0]
    if self_index is None:
        self_index = np.full(n_q, -1, dtype=np.int64)
    _shared.update(
        queries=queries.tocsr(),
        candidates_t=candidates.T.tocsr(),
        q_norm=np.sqrt(np.asarray(queries.getnnz(axis=1), dtype=np.float64)).clip(min=1.0),
        c_norm=np.sqrt(np.asarray(candidates.getnnz(axis=1), dtype=np.float64)).clip(min=1.0),
        self_index=np.asarray(self_index, dtype=np.int64),
        k=int(k),
        masks=list(masks) if masks is not None else [None],
        with_counts=bool(with_counts),
    )
    block = max(1, BLOCK_CELLS // max(1, candidates.shape[0]))
    bounds = [(s, min(s + block, n_q)) for s in range(0, n_q, block)]
    parts = []
    try:
        if workers > 1 and len(bounds) > 1:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                for i, part in enumerate(pool.map(_run_block, bounds)):
                    parts.append(part)
                    if progress:
                        progress(i + 1, len(bounds))
        else:
            for i, bound in enumerate(bounds):
                parts.append(_run_block(bound))
                if progress:
                    progress(i + 1, len(bounds))
    finally:
        n_masks = len(_shared.get("masks", [None]))
        _shared.clear()
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)) + (
        (np.zeros(0, np.int64),) if with_counts else ()
    )
    results = [
        tuple(np.concatenate([p[i][j] for p in parts]) for j in range(len(empty))) if parts else empty
        for i in range(n_masks)
    ]
    return results if masks is not None else results[0]


def _run_block(bound: tuple[int, int]) -> list[tuple[np.ndarray, ...]]:
    return top_k_block(*bound)
