"""Each movie's nearest neighbours (table `knn_neighbors`) for its page, found by binary search."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Neighbours:
    """knn_neighbors as arrays sorted by (movie_id, kind, rank)."""

    movie_ids: np.ndarray
    neighbor_ids: np.ndarray
    similarity: np.ndarray
    kinds: np.ndarray  # 'cf' (rated by the same people) or 'content' (genres and tags)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "Neighbours":
        ordered = frame.sort_values(["movie_id", "kind", "rank"], kind="mergesort")
        return cls(
            ordered["movie_id"].to_numpy(np.int64),
            ordered["neighbor_id"].to_numpy(np.int64),
            ordered["similarity"].to_numpy(np.float64),
            ordered["kind"].astype(str).to_numpy(),
        )

    def of(self, movie_id: int) -> dict[str, list[tuple[int, float]]]:
        """{kind: [(neighbour id, similarity), ...] best first} for one movie."""
        lo = int(np.searchsorted(self.movie_ids, movie_id, "left"))
        hi = int(np.searchsorted(self.movie_ids, movie_id, "right"))
        out: dict[str, list[tuple[int, float]]] = {}
        for n, s, k in zip(self.neighbor_ids[lo:hi], self.similarity[lo:hi], self.kinds[lo:hi]):
            out.setdefault(str(k), []).append((int(n), float(s)))
        return out
