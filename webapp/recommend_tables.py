"""The trained tables as the recommender's arrays: catalog ids, titles, pools, kNN lists, factors.

Each function turns one trained_data frame (or a few) into numpy arrays aligned with the
catalog's sorted movie ids, dropping ids the catalog does not know. numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from webapp.movies import display_title
from webapp.schema import LESS_KNOWN, POPULAR

if TYPE_CHECKING:  # only the annotations below need it
    from webapp.blend import BlendWeights


@dataclass(frozen=True)
class Csr:
    """Row-indexed sparse lists: row i's columns are cols[ptr[i]:ptr[i+1]]."""

    ptr: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    extra: np.ndarray | None = None  # per-entry tag (e.g. kNN kind: 0 = cf, 1 = content)
    counts: np.ndarray | None = None  # per-entry integer (kNN: users who rated both movies)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Columns and values of one row."""
        lo, hi = self.ptr[i], self.ptr[i + 1]
        return self.cols[lo:hi], self.vals[lo:hi]

    def rows(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Concatenated (row position in idx, columns, values) for several rows."""
        starts, ends = self.ptr[idx], self.ptr[idx + 1]
        lengths = ends - starts
        if lengths.sum() == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        owner = np.repeat(np.arange(len(idx)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos = np.repeat(starts, lengths) + offsets
        return owner, self.cols[pos], self.vals[pos]


class TrainedArrays:
    """What Recommender.__init__ sets that both halves of it read (webapp.sources.Sources and
    webapp.reasons.Reasons, its mixins): declared once, for the type checker."""

    movie_ids: np.ndarray
    knn: Csr | None
    ease: Csr | None
    als_factors: np.ndarray | None
    movie_users: Csr | None
    user_movies: Csr | None
    weights: BlendWeights


def build_csr(
    rows: np.ndarray,
    cols: np.ndarray,
    vals: np.ndarray,
    n_rows: int,
    extra: np.ndarray | None = None,
    counts: np.ndarray | None = None,
) -> Csr:
    """A CSR from coordinate triples (rows sorted stably, order within a row kept)."""
    order = np.argsort(rows, kind="stable")
    per_row = np.bincount(rows, minlength=n_rows)
    ptr = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int64)
    return Csr(
        ptr,
        cols[order].astype(np.int64),
        vals[order].astype(np.float64),
        None if extra is None else extra[order],
        None if counts is None else counts[order].astype(np.int64),
    )


def _ascii_digits(text: str) -> bool:
    """Only 0-9 (str.isdigit() also accepts "²", which int() rejects)."""
    return text.isascii() and text.isdigit()


def factor_matrix(
    frame: pd.DataFrame, prefix: str = "f", id_column: str = "movie_id"
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, factor matrix) from an <id_column>,f0..f{k-1} frame (movie or user factors)."""
    cols = sorted(
        (c for c in frame.columns if c.startswith(prefix) and _ascii_digits(c[len(prefix) :])),
        key=lambda c: int(c[len(prefix) :]),
    )
    return frame[id_column].to_numpy(np.int64), frame[cols].to_numpy(np.float64)


def catalog_ids(movies: pd.DataFrame | None, stats: pd.DataFrame) -> np.ndarray:
    """Sorted ids of every movie in movies or movie_stats."""
    parts = [stats["movie_id"].to_numpy(np.int64)]
    if movies is not None:
        parts.append(movies["movie_id"].to_numpy(np.int64))
    return np.unique(np.concatenate(parts))


def catalog_genres(movies: pd.DataFrame | None, ids: np.ndarray) -> list[tuple[str, ...]]:
    """Each catalog movie's genres as the pages show them (none for "(no genres listed)")."""
    if movies is None or "genres" not in movies.columns:
        return [() for _ in ids]
    frame = movies.drop_duplicates("movie_id").set_index("movie_id")
    lookup = dict(zip(frame.index.tolist(), frame["genres"].tolist()))
    out = []
    for m in ids.tolist():
        text = lookup.get(int(m))
        text = text if isinstance(text, str) else ""
        out.append(tuple(g for g in text.split("|") if g and g != "(no genres listed)"))
    return out


def catalog_titles(movies: pd.DataFrame | None, ids: np.ndarray) -> list[str]:
    """Each catalog movie's title as the pages show it (webapp.movies.display_title)."""
    if movies is None:
        return [display_title(None, int(m)) for m in ids]
    frame = movies.drop_duplicates("movie_id").set_index("movie_id")
    lookup = dict(zip(frame.index.tolist(), frame["title"].tolist()))
    return [display_title(lookup.get(int(m)), int(m)) for m in ids]


def stats_arrays(stats: pd.DataFrame, index: pd.Index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pool code, vote count, popularity prior in [0, 1]) aligned with the catalog."""
    frame = stats.drop_duplicates("movie_id").set_index("movie_id").reindex(index)
    codes = frame["pool"].map({POPULAR: 0, LESS_KNOWN: 1}).fillna(2).to_numpy(np.int8)
    counts = frame["vote_count"].fillna(0).to_numpy(np.float64)
    raw = frame["score"] if "score" in frame.columns else frame["vote_count"]
    prior = raw.astype(float).fillna(raw.min() if raw.notna().any() else 0.0).to_numpy()
    prior = rank01(prior)
    return codes, counts, prior


def rank01(values: np.ndarray) -> np.ndarray:
    """Values rescaled to [0, 1] by min-max (constant values give zeros)."""
    lo, hi = float(values.min()) if len(values) else 0.0, float(values.max()) if len(values) else 0.0
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def knn_csr(frame: pd.DataFrame | None, index: pd.Index) -> Csr | None:
    """movie -> neighbours (by rank), kind 0 = cf, 1 = content, with each pair's co-rater count
    (`counts`, when the table has `co_raters`); unknown ids dropped."""
    return _pair_csr(
        frame,
        index,
        lambda sub: sub["similarity"].to_numpy(np.float64),
        lambda sub: (
            (sub["kind"].astype(str).to_numpy() != "cf").astype(np.int8)
            if "kind" in sub.columns
            else np.zeros(len(sub), dtype=np.int8)
        ),
    )


def ease_csr(frame: pd.DataFrame | None, index: pd.Index) -> Csr | None:
    """movie -> its EASE weights (by rank, clipped at 0), with each pair's co-rater count
    (`counts`, when the table has `co_raters`); unknown ids dropped."""
    return _pair_csr(frame, index, lambda sub: np.maximum(sub["weight"].to_numpy(np.float64), 0.0))


def _pair_csr(
    frame: pd.DataFrame | None,
    index: pd.Index,
    values: Callable[[pd.DataFrame], np.ndarray],
    extra: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> Csr | None:
    """A (movie_id, neighbor_id, rank[, co_raters]) table as a CSR over the catalog index: rows
    in rank order, each pair's value (and tag) from the table, pairs with an unknown id dropped."""
    if frame is None or frame.empty:
        return None
    rows = index.get_indexer(frame["movie_id"])
    cols = index.get_indexer(frame["neighbor_id"])
    keep = (rows >= 0) & (cols >= 0)
    sub = frame.loc[keep]
    rank = sub["rank"].to_numpy() if "rank" in sub.columns else np.arange(len(sub))
    order = np.lexsort((rank, rows[keep]))
    co = sub["co_raters"].to_numpy(np.int64)[order] if "co_raters" in sub.columns else None
    return build_csr(
        rows[keep][order],
        cols[keep][order],
        values(sub)[order],
        len(index),
        None if extra is None else extra(sub)[order],
        co,
    )


def aligned_factors(frame: pd.DataFrame | None, index: pd.Index) -> np.ndarray | None:
    """Item factors in catalog order (zeros for movies without factors)."""
    if frame is None or frame.empty:
        return None
    ids, matrix = factor_matrix(frame)
    if matrix.shape[1] == 0:
        return None
    out = np.zeros((len(index), matrix.shape[1]))
    pos = index.get_indexer(ids)
    out[pos[pos >= 0]] = matrix[pos >= 0]
    return out


def neumf_csrs(
    movie_users: pd.DataFrame | None, user_top: pd.DataFrame | None, index: pd.Index
) -> tuple[Csr | None, Csr | None]:
    """movie -> top users and user -> top movies, users renumbered 0..n-1."""
    if movie_users is None or user_top is None or movie_users.empty or user_top.empty:
        return None, None
    users = pd.Index(
        np.unique(
            np.concatenate(
                [movie_users["user_id"].to_numpy(np.int64), user_top["user_id"].to_numpy(np.int64)]
            )
        )
    )
    m_rows = index.get_indexer(movie_users["movie_id"])
    keep = m_rows >= 0
    mu = build_csr(
        m_rows[keep],
        users.get_indexer(movie_users["user_id"])[keep],
        movie_users["score"].to_numpy(np.float64)[keep],
        len(index),
    )
    u_cols = index.get_indexer(user_top["movie_id"])
    keep = u_cols >= 0
    um = build_csr(
        users.get_indexer(user_top["user_id"])[keep],
        u_cols[keep],
        user_top["score"].to_numpy(np.float64)[keep],
        len(users),
    )
    return mu, um
