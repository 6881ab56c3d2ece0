"""The methods compared on each case: the product, its ablations, each model alone, baselines.

A method maps a Case to what it shows (Shown: the popular half, then the less-known half).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from offline.evaluation.cases import HALF, MAIN, Case, K
from webapp.recommend import BlendWeights, Profile, Recommender

if TYPE_CHECKING:
    from offline.evaluation.ease import Ease


@dataclass(frozen=True)
class Shown:
    """One method's output for one case: the popular half then the less-known half."""

    first: tuple[int, ...]
    second: tuple[int, ...]

    @property
    def ten(self) -> list[int]:
        """All shown movies in display order."""
        return list(self.first + self.second)


Method = Callable[[Case], Shown]


@dataclass(frozen=True)
class FoldView:
    """Lookups over one fold's tables that the baselines need."""

    most_rated_popular: list[int]
    most_rated_less_known: list[int]
    most_rated: list[int]
    catalog: list[int]
    vote_count: dict[int, float]
    popularity_rank: dict[int, int]


def fold_view(tables: Mapping[str, pd.DataFrame], cfg: BuildConfig) -> FoldView:
    """Popularity orders, catalog and counts of one fold."""
    stats = tables["movie_stats"].sort_values(
        ["vote_count", "movie_id"], ascending=[False, True], kind="mergesort"
    )
    less_known = stats[
        (stats["pool"] == "less_known") & (stats["vote_count"] >= cfg.pools.less_known_min_count)
    ]
    catalog = tables["popular"].sort_values("rank", kind="mergesort")["movie_id"]
    return FoldView(
        most_rated_popular=stats.loc[stats["pool"] == "popular", "movie_id"].astype(int).tolist(),
        most_rated_less_known=less_known["movie_id"].astype(int).tolist(),
        most_rated=stats["movie_id"].astype(int).tolist(),
        catalog=catalog.astype(int).tolist()[: cfg.popular.catalog_size],
        vote_count={int(k): float(v) for k, v in zip(stats["movie_id"], stats["vote_count"])},
        popularity_rank={int(x): i + 1 for i, x in enumerate(stats["movie_id"])},
    )


def _first_n(order: Sequence[int], n: int, exclude: set[int]) -> tuple[int, ...]:
    """The first n ids of order not in exclude."""
    out: list[int] = []
    if n <= 0:
        return ()
    for item in order:
        if item not in exclude:
            out.append(item)
            if len(out) == n:
                break
    return tuple(out)


def _sample(pool: Sequence[int], n: int, exclude: set[int], rng: np.random.Generator) -> list[int]:
    """n distinct ids sampled from the sorted pool minus exclude."""
    candidates = sorted(set(pool) - exclude)
    if len(candidates) <= n:
        return list(rng.permutation(candidates).tolist()) if candidates else []
    return [int(x) for x in rng.choice(candidates, n, replace=False)]


def recommender_method(rec: Recommender) -> Method:
    """The product: the ten of the shared recommend function for the case's picks (any number
    of them), halves as displayed (the same movies as recommend_for_picks, without reasons)."""

    def method(case: Case) -> Shown:
        return Shown(*rec.recommend_ids(Profile.of_picks(case.picks)))

    return method


def baseline_methods(
    view: FoldView, tables: Mapping[str, pd.DataFrame], cfg: BuildConfig
) -> dict[str, Method]:
    """Most rated, weighted-average catalog, random catalog, long-tail popularity, reference."""

    def most_rated(case: Case) -> Shown:
        ten = _first_n(view.most_rated, K, set(case.picks))
        return Shown(ten[:HALF], ten[HALF:])

    def catalog_top(case: Case) -> Shown:
        ten = _first_n(view.catalog, K, set(case.picks))
        return Shown(ten[:HALF], ten[HALF:])

    def random_catalog(case: Case) -> Shown:
        rng = np.random.default_rng(cfg.seed_for(f"evaluate:random:{case.variant}:{case.user_id}"))
        ten = tuple(_sample(view.catalog, K, set(case.picks), rng))
        return Shown(ten[:HALF], ten[HALF:])

    def long_tail(case: Case) -> Shown:
        exclude = set(case.picks)
        return Shown(
            _first_n(view.most_rated_popular, HALF, exclude),
            _first_n(view.most_rated_less_known, HALF, exclude),
        )

    return {
        "most rated top 10": most_rated,
        "weighted-average catalog top 10": catalog_top,
        "random from the catalog": random_catalog,
        "long-tail popularity (most rated 5 + 5)": long_tail,
        "reference (random kNN + random two-hop NeuMF)": reference_method(tables, view, cfg),
    }


def reference_method(tables: Mapping[str, pd.DataFrame], view: FoldView, cfg: BuildConfig) -> Method:
    """The original write-up: picks' kNN neighbours at random + random two-hop NeuMF movies."""
    neighbours = _lists(tables.get("knn_neighbors"), "movie_id", "neighbor_id")
    top_users = _lists(tables.get("neumf_movie_top_users"), "movie_id", "user_id")
    users_top = _lists(tables.get("neumf_user_top"), "user_id", "movie_id")

    def method(case: Case) -> Shown:
        rng = np.random.default_rng(cfg.seed_for(f"evaluate:reference:{case.variant}:{case.user_id}"))
        exclude = set(case.picks)
        knn_pool = [n for p in case.picks for n in neighbours.get(p, [])]
        users = {u for p in case.picks for u in top_users.get(p, [])}
        hop_pool = [x for u in sorted(users) for x in users_top.get(u, [])]
        first = _sample(knn_pool, HALF, exclude, rng)
        second = _sample(hop_pool, HALF, exclude | set(first), rng)
        first += list(
            _first_n(hop_pool + view.most_rated, HALF - len(first), exclude | set(first) | set(second))
        )
        second += list(
            _first_n(knn_pool + view.most_rated, HALF - len(second), exclude | set(first) | set(second))
        )
        return Shown(tuple(first), tuple(second))

    return method


def _lists(frame: pd.DataFrame | None, key: str, value: str) -> dict[int, list[int]]:
    """{key: [values in table order]} of a two-column relation (empty for a missing table)."""
    if frame is None or frame.empty:
        return {}
    out: dict[int, list[int]] = {}
    for k, v in zip(frame[key].to_numpy(np.int64), frame[value].to_numpy(np.int64)):
        out.setdefault(int(k), []).append(int(v))
    return out


def single_model(source: str) -> BlendWeights:
    """One model alone in both halves, whatever the picks: no popularity prior, and none of the
    adaptations (after feedback, every pick popular) that would bring another model in."""
    return BlendWeights(
        popular={source: 1.0},
        less_known={source: 1.0},
        after_feedback={},
        popular_picks_prior=None,
        popular_picks={},
    )


def model_methods(
    tables: Mapping[str, pd.DataFrame],
    cfg: BuildConfig,
    weights: BlendWeights | None = None,
    base: Recommender | None = None,
) -> dict[str, Method]:
    """The product (at `weights`: the fold's held-out choice), the product with each model
    removed, and each model alone. `base`: the fold's Recommender, when already built."""
    min_count = cfg.pools.less_known_min_count
    base = base or Recommender.from_tables(tables, less_known_min_count=min_count)
    rec = base.with_weights(weights) if weights is not None else base
    methods: dict[str, Method] = {MAIN: recommender_method(rec)}
    for source in ("knn", "als", "ease", "neumf", "popularity"):
        label = "without popularity prior" if source == "popularity" else f"without {source}"
        methods[label] = recommender_method(rec.with_weights(rec.weights.without(source)))
    only = {
        "knn only": "knn",
        "implicit ALS fold-in only": "als",
        "EASE lists only": "ease",
        "NeuMF two-hop only": "neumf",
    }
    for name, source in only.items():
        methods[name] = recommender_method(rec.with_weights(single_model(source)))
    if "als_item_factors" in tables:
        explicit = Recommender.from_tables(
            tables,
            less_known_min_count=min_count,
            als_mode="explicit",
            weights=single_model("als"),
        )
        methods["explicit ALS fold-in only"] = recommender_method(explicit)
    return methods


EASE = "EASE (5 + 5)"
KNN_ONLY, ALS_ONLY = "knn only", "implicit ALS fold-in only"
# The plain 5 + 5 lists the ten must beat (docs/EVALUATION.md's goals).
REFERENCES = (KNN_ONLY, ALS_ONLY, EASE)


def ease_method(model: "Ease", view: FoldView) -> Method:
    """EASE's five best popular and five best less-known movies (topped up by rating count
    should a pool of the model run short)."""
    popular, less_known = model.masks(view.most_rated_popular, view.most_rated_less_known)

    def method(case: Case) -> Shown:
        return ease_shown(model, case.picks, popular, less_known, view)

    return method


def ease_shown(
    model: "Ease", picks: Sequence[int], popular: np.ndarray, less_known: np.ndarray, view: FoldView
) -> Shown:
    exclude = set(picks)
    scores = model.scores(picks)
    first = model.top(scores, popular, HALF, exclude)
    first += _first_n(view.most_rated_popular, HALF - len(first), exclude | set(first))
    second = model.top(scores, less_known, HALF, exclude | set(first))
    second += _first_n(view.most_rated_less_known, HALF - len(second), exclude | set(first) | set(second))
    return Shown(tuple(first), tuple(second))
