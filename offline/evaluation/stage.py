"""Stage / command `evaluate`: the three-pick protocol of docs/EVALUATION.md.

Users are split into folds by a seeded permutation. For each fold, every stage the recommendations
depend on (popular -> movie_stats + pools, knn, implicit ALS, NeuMF; explicit ALS for the fold-in
comparison) is trained on the other folds' users by the same stage functions as the real build.
Each test user with at least 4 ratings >= 4.0 is simulated once per variant: three picks drawn with
a seed derived from the user id (variant A: any liked movie; variant B: liked movies of the fold's
picker catalog), and the ten are exactly what `webapp.recommend.Recommender.recommend_for_picks`
returns over the fold's tables. Baselines and ablations run on the same cases.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from offline.evaluation import metrics as m
from webapp.recommend import PICKS_REQUIRED, BlendWeights, Recommender

if TYPE_CHECKING:
    from offline.build import BuildContext, StageResult
    from offline.data.loader import Dataset

LIKED_RATING = 4.0
K = 10
HALF = 5
VARIANTS = {"A": "any picks", "B": "catalog picks"}
MAIN = "recommender (knn + als + neumf)"
Progress = Callable[[str], None]


# ---------------------------------------------------------------------- stage functions
@dataclass(frozen=True)
class FoldStages:
    """The stage functions a fold trains with (the real ones by default; injectable for tests)."""

    compute_popular: Callable[..., dict[str, pd.DataFrame]]
    compute_neighbors: Callable[..., pd.DataFrame]
    train_als_implicit: Callable[..., pd.DataFrame]
    train_neumf: Callable[..., tuple[dict[str, pd.DataFrame], dict[str, Any]]]
    fit_als_explicit: Callable[..., pd.DataFrame] | None = None  # (spark, ratings, rank, reg, cfg)
    train_als: Callable[..., tuple[dict[str, pd.DataFrame], dict[str, Any]]] | None = None


def default_stages() -> FoldStages:
    """The build's own stage functions."""
    from offline.stages import als, knn, neumf, popular

    def fit_explicit(spark: Any, ratings: pd.DataFrame, rank: int, reg: float,
                     cfg: BuildConfig) -> pd.DataFrame:
        return als.fit_factors(spark, ratings, rank, reg, cfg)[1]

    return FoldStages(compute_popular=popular.compute_popular,
                      compute_neighbors=knn.compute_neighbors,
                      train_als_implicit=als.train_als_implicit,
                      train_neumf=neumf.train_neumf,
                      fit_als_explicit=fit_explicit,
                      train_als=als.train_als)


# ---------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One simulated visitor: three picks and what they liked besides."""

    user_id: int
    fold: int
    variant: str
    picks: tuple[int, ...]
    relevant: frozenset[int]
    relevant_less_known: frozenset[int]


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


def build_cases(test_ratings: pd.DataFrame, fold: int, catalog: set[int],
                less_known: set[int], cfg: BuildConfig) -> list[Case]:
    """Cases of one fold's test users: variant A for users with >= 4 liked, B with >= 3 in catalog."""
    liked = test_ratings[test_ratings["rating"] >= LIKED_RATING]
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
            cases.append(Case(int(user_id), fold, variant, picks, relevant,
                              frozenset(relevant & less_known)))
    return cases


# ---------------------------------------------------------------------- fold training
def train_fold_tables(spark: Any, train: pd.DataFrame, dataset: "Dataset", cfg: BuildConfig,
                      stages: FoldStages, explicit: tuple[int, float] | None = None,
                      ) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The fold's trained_data tables from its training users' ratings, and seconds per stage.

    `explicit` = (rank, reg) of an explicit ALS fit for the fold-in comparison (None: skip it).
    """
    seconds: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {"movies": dataset.movies}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        out = fn()
        seconds[name] = round(time.perf_counter() - start, 2)
        return out

    tables.update(timed("popular", lambda: stages.compute_popular(spark, train, dataset.movies, cfg)))
    pools = tables["movie_stats"][["movie_id", "vote_count", "pool"]]
    tables["knn_neighbors"] = timed(
        "knn", lambda: stages.compute_neighbors(train, dataset.movies, dataset.tags, cfg))
    tables["als_implicit_item_factors"] = timed(
        "als_implicit", lambda: stages.train_als_implicit(spark, train, cfg))
    neumf_tables, _ = timed("neumf", lambda: stages.train_neumf(train, pools, cfg))
    tables.update(neumf_tables)
    if explicit is not None and stages.fit_als_explicit is not None:
        tables["als_item_factors"] = timed(
            "als_explicit", lambda: stages.fit_als_explicit(spark, train, *explicit, cfg))
    return tables, seconds


def explicit_params(cfg: BuildConfig, als_metrics: Mapping[str, Any] | None) -> tuple[int, float]:
    """(rank, reg) for the explicit fold-in: the als stage's grid choice, else the grid's middle."""
    if als_metrics and "rank" in als_metrics and "reg_param" in als_metrics:
        return int(als_metrics["rank"]), float(als_metrics["reg_param"])
    return cfg.als.ranks[-1], cfg.als.reg_params[len(cfg.als.reg_params) // 2]


# ---------------------------------------------------------------------- methods
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
    stats = tables["movie_stats"].sort_values(["vote_count", "movie_id"],
                                              ascending=[False, True], kind="mergesort")
    less_known = stats[(stats["pool"] == "less_known")
                       & (stats["vote_count"] >= cfg.pools.less_known_min_count)]
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
    """The product: the ten of recommend_for_picks, halves as displayed."""
    def method(case: Case) -> Shown:
        result = rec.recommend_for_picks(list(case.picks))
        return Shown(tuple(r.movie_id for r in result.popular),
                     tuple(r.movie_id for r in result.less_known))
    return method


def baseline_methods(view: FoldView, tables: Mapping[str, pd.DataFrame],
                     cfg: BuildConfig) -> dict[str, Method]:
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
        return Shown(_first_n(view.most_rated_popular, HALF, exclude),
                     _first_n(view.most_rated_less_known, HALF, exclude))

    return {"most rated top 10": most_rated,
            "weighted-average catalog top 10": catalog_top,
            "random from the catalog": random_catalog,
            "long-tail popularity (most rated 5 + 5)": long_tail,
            "reference (random kNN + random two-hop NeuMF)": reference_method(tables, view, cfg)}


def reference_method(tables: Mapping[str, pd.DataFrame], view: FoldView,
                     cfg: BuildConfig) -> Method:
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
        first += list(_first_n(hop_pool + view.most_rated, HALF - len(first),
                               exclude | set(first) | set(second)))
        second += list(_first_n(knn_pool + view.most_rated, HALF - len(second),
                                exclude | set(first) | set(second)))
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


def model_methods(tables: Mapping[str, pd.DataFrame], cfg: BuildConfig) -> dict[str, Method]:
    """The product, the product with each model removed, and each model alone."""
    min_count = cfg.pools.less_known_min_count
    rec = Recommender.from_tables(tables, less_known_min_count=min_count)
    methods: dict[str, Method] = {MAIN: recommender_method(rec)}
    for source in ("knn", "als", "neumf", "popularity"):
        label = "without popularity prior" if source == "popularity" else f"without {source}"
        methods[label] = recommender_method(rec.with_weights(rec.weights.without(source)))
    only = {"knn only": "knn", "implicit ALS fold-in only": "als", "NeuMF two-hop only": "neumf"}
    for name, source in only.items():
        weights = BlendWeights(popular={source: 1.0}, less_known={source: 1.0})
        methods[name] = recommender_method(rec.with_weights(weights))
    if "als_item_factors" in tables:
        explicit = Recommender.from_tables(
            tables, less_known_min_count=min_count, als_mode="explicit",
            weights=BlendWeights(popular={"als": 1.0}, less_known={"als": 1.0}))
        methods["explicit ALS fold-in only"] = recommender_method(explicit)
    return methods


# ---------------------------------------------------------------------- scoring
def score_case(shown: Shown, case: Case) -> dict[str, float]:
    """Per-case figures of one method."""
    ten = shown.ten
    row = {
        "hr_at_10": m.hit_rate_at_k(ten, case.relevant, K),
        "precision_at_10": m.precision_at_k(ten, case.relevant, K),
        "recall_at_10": m.recall_at_k(ten, case.relevant, K),
        "ndcg_at_10": m.ndcg_at_k(ten, case.relevant, K),
        "popular_hr_at_5": m.hit_rate_at_k(list(shown.first) or [-1], case.relevant, HALF),
        "less_known_hr_at_5": np.nan,
    }
    if case.relevant_less_known:
        row["less_known_hr_at_5"] = m.hit_rate_at_k(list(shown.second) or [-1],
                                                    case.relevant_less_known, HALF)
    return row


@dataclass
class Tally:
    """Per-case figures and shown lists of every (method, variant), gathered over the folds."""

    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    shown: dict[tuple[str, str], list[Shown]] = dataclasses.field(default_factory=dict)
    counts: dict[tuple[str, str], list[float]] = dataclasses.field(default_factory=dict)
    placements: dict[str, list[int]] = dataclasses.field(
        default_factory=lambda: {"popular": [], "less_known": []})

    def add(self, name: str, case: Case, result: Shown, view: FoldView) -> None:
        """Score one method's output for one case."""
        key = (name, case.variant)
        self.rows.append({"method": name, "variant": case.variant, "user_id": case.user_id,
                          "fold": case.fold, **score_case(result, case)})
        self.shown.setdefault(key, []).append(result)
        self.counts.setdefault(key, []).extend(view.vote_count.get(x, 0.0) for x in result.second)
        if name == MAIN and case.variant == "A":
            last = len(view.popularity_rank) + 1
            self.placements["popular"].extend(view.popularity_rank.get(x, last)
                                              for x in result.first)
            self.placements["less_known"].extend(view.popularity_rank.get(x, last)
                                                 for x in result.second)

    def frame(self) -> pd.DataFrame:
        """The per-case figures."""
        return pd.DataFrame(self.rows)

    def summary(self) -> list[dict[str, Any]]:
        """One row per (method, variant): means of the per-case figures, coverage, obscurity."""
        frame = self.frame()
        return [summarize_group(method, variant, group, self.shown[(method, variant)],
                                self.counts[(method, variant)])
                for (method, variant), group in frame.groupby(["method", "variant"], sort=False)]


def summarize_group(method: str, variant: str, group: pd.DataFrame, shown: list[Shown],
                    counts: list[float]) -> dict[str, Any]:
    """The figures of one (method, variant)."""
    lk = group["less_known_hr_at_5"].dropna()
    return {
        "method": method, "variant": variant, "users": int(len(group)),
        "hr_at_10": float(group["hr_at_10"].mean()),
        "precision_at_10": float(group["precision_at_10"].mean()),
        "recall_at_10": float(group["recall_at_10"].mean()),
        "ndcg_at_10": float(group["ndcg_at_10"].mean()),
        "coverage": m.coverage(s.ten for s in shown),
        "popular_hr_at_5": float(group["popular_hr_at_5"].mean()),
        "less_known_hr_at_5": float(lk.mean()) if len(lk) else None,
        "less_known_users": int(len(lk)),
        "less_known_median_count": float(np.median(counts)) if counts else None,
    }


# ---------------------------------------------------------------------- the run
def run_evaluation(dataset: "Dataset", cfg: BuildConfig, spark: Any,
                   progress: Progress | None = None, *, stages: FoldStages | None = None,
                   stage_metrics: Mapping[str, Mapping[str, Any]] | None = None,
                   explicit_als: bool = True, rating_models: bool = True) -> dict[str, Any]:
    """The whole evaluation: k-fold three-pick protocol, baselines, ablations, rating error."""
    say = progress or (lambda _msg: None)
    stages = stages or default_stages()
    start = time.perf_counter()
    rating = rating_prediction(dataset, cfg, spark, stages, stage_metrics) if rating_models else {}
    explicit = explicit_params(cfg, rating.get("als")) if explicit_als else None
    folds = assign_folds(dataset.ratings["user_id"].to_numpy(), cfg.eval_folds,
                         cfg.seed_for("evaluate:folds"))
    tally = Tally()
    fold_info = [evaluate_fold(fold, folds, dataset, cfg, spark, stages, explicit, tally, say)
                 for fold in range(cfg.eval_folds)]
    summary = tally.summary()
    ablations = ablation_table(tally.frame())
    report = {
        "protocol": protocol_description(cfg),
        "methods": summary,
        "main_method": MAIN,
        "ablations": ablations,
        "folds": fold_info,
        "rating_prediction": rating,
        "long_tail": long_tail_curve(dataset.ratings, tally.placements),
        "goals": check_goals(summary, ablations),
        "seconds": round(time.perf_counter() - start, 1),
    }
    say(f"evaluation done in {report['seconds']} s")
    return report


def evaluate_fold(fold: int, folds: pd.Series, dataset: "Dataset", cfg: BuildConfig, spark: Any,
                  stages: FoldStages, explicit: tuple[int, float] | None, tally: Tally,
                  say: Progress) -> dict[str, Any]:
    """Train one fold's tables on the other folds' users, simulate its users, tally every method."""
    start = time.perf_counter()
    ratings = dataset.ratings
    in_fold = folds.reindex(ratings["user_id"].to_numpy()).to_numpy() == fold
    train, test = ratings[~in_fold], ratings[in_fold]
    say(f"fold {fold + 1}/{cfg.eval_folds}: training on {train['user_id'].nunique()} users")
    tables, seconds = train_fold_tables(spark, train, dataset, cfg, stages, explicit)
    view = fold_view(tables, cfg)
    cases = build_cases(test, fold, set(view.catalog), set(view.most_rated_less_known), cfg)
    methods = {**model_methods(tables, cfg), **baseline_methods(view, tables, cfg)}
    say(f"fold {fold + 1}/{cfg.eval_folds}: {len(cases)} cases x {len(methods)} methods")
    sim_start = time.perf_counter()
    for name, method in methods.items():
        for case in cases:
            tally.add(name, case, method(case), view)
    seconds["simulate"] = round(time.perf_counter() - sim_start, 2)
    return {"fold": fold, "train_users": int(train["user_id"].nunique()),
            "test_users": int(test["user_id"].nunique()),
            "cases": {v: sum(c.variant == v for c in cases) for v in VARIANTS},
            "seconds": seconds, "total_seconds": round(time.perf_counter() - start, 2)}


def protocol_description(cfg: BuildConfig) -> dict[str, Any]:
    """The settings a reader needs to reproduce the figures."""
    return {"folds": cfg.eval_folds, "seed": cfg.seed, "liked_rating": LIKED_RATING,
            "picks": PICKS_REQUIRED, "k": K,
            "pools": dataclasses.asdict(cfg.pools),
            "catalog_size": cfg.popular.catalog_size,
            "variants": VARIANTS}


def long_tail_curve(ratings: pd.DataFrame, placements: Mapping[str, list[int]],
                    points: int = 400) -> dict[str, Any]:
    """Rating count by popularity rank (log-spaced sample), and where each half's movies fall."""
    counts = np.sort(ratings.groupby("movie_id").size().to_numpy())[::-1]
    ranks = np.unique(np.geomspace(1, len(counts), num=min(points, len(counts))).astype(int))
    return {"rank": ranks.tolist(), "count": counts[ranks - 1].astype(int).tolist(),
            "placements": {k: _quantiles(v) for k, v in placements.items()},
            "placement_ranks": {k: np.sort(np.asarray(v, dtype=int))[::max(1, len(v) // 500)].tolist()
                                for k, v in placements.items()}}


def _quantiles(values: Sequence[int]) -> dict[str, float]:
    """Median and the 10th/90th percentiles (empty dict for no values)."""
    if not len(values):
        return {}
    q = np.percentile(np.asarray(values, dtype=float), [10, 50, 90])
    return {"p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}


def rating_prediction(dataset: "Dataset", cfg: BuildConfig, spark: Any, stages: FoldStages,
                      stage_metrics: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    """RMSE/MAE of the bias baseline, ALS and NeuMF on the build's seeded held-out split."""
    from offline.stages.baselines import evaluate_baselines
    from offline.split import TEST, split_ratings

    ratings = dataset.ratings
    seed = cfg.seed_for("split")  # the build's split (BuildContext.split)
    split = split_ratings(ratings, cfg.split_fractions, seed)
    out: dict[str, Any] = {"split_seed": seed, "fractions": list(cfg.split_fractions)}
    # fitted on train + validation, scored on test: the rows the als stage reports its test error on
    out["bias"] = evaluate_baselines(ratings[split != TEST], ratings[split == TEST])
    given = dict(stage_metrics or {})
    if "als" not in given and stages.train_als is not None:
        _, given["als"] = stages.train_als(spark, ratings, split, cfg)
    out["als"] = dict(given.get("als", {}))
    out["neumf"] = dict(given.get("neumf", {}))
    return out


def rating_rows(rating: Mapping[str, Any]) -> list[dict[str, Any]]:
    """RMSE/MAE per model; the baselines as the als stage reported them when it did."""
    als = rating.get("als", {})
    own = rating.get("bias", {})
    rows = []
    for label, prefix in (("global mean", "global_mean"), ("user+item bias", "bias")):
        found = _find_error({k.replace(f"{prefix}_", "", 1): v for k, v in als.items()
                             if k.startswith(f"{prefix}_test_")})
        if not found and f"{prefix}_rmse" in own:
            found = {"rmse": own[f"{prefix}_rmse"], "mae": own.get(f"{prefix}_mae")}
        if found:
            rows.append({"model": label, **found})
    for model, label in (("als", "ALS (explicit)"), ("neumf", "NeuMF")):
        found = _find_error(rating.get(model, {}))
        if found:
            rows.append({"model": label, **found})
    return rows


def _find_error(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The test RMSE/MAE in a stage's metrics, whatever the key's prefix ('test_rmse', 'rmse')."""
    found = {}
    for key in ("rmse", "mae"):
        for name in (f"test_{key}", key):
            value = metrics.get(name)
            if isinstance(value, (int, float)) and value == value:
                found[key] = float(value)
                break
    return found if "rmse" in found else {}


ABLATION_KEYS = ("hr_at_10", "ndcg_at_10", "less_known_hr_at_5")
ABLATIONS = {"knn": "without knn", "als": "without als", "neumf": "without neumf",
             "popularity prior": "without popularity prior"}
SIGNIFICANT_Z = 2.0  # a paired difference counts when it is at least two standard errors
COVERAGE_GAIN = 0.10  # ... or when the model widens coverage by at least this share


def paired_differences(rows: pd.DataFrame, method: str, other: str,
                       variant: str = "A") -> dict[str, dict[str, float]]:
    """Per figure: mean per-user difference method - other, its standard error, z and users."""
    def per_user(name: str) -> pd.DataFrame:
        return rows[(rows["method"] == name) & (rows["variant"] == variant)].set_index("user_id")

    a, b = per_user(method), per_user(other)
    out = {}
    for key in ABLATION_KEYS:
        diff = (a[key] - b[key].reindex(a.index)).dropna()
        mean = float(diff.mean()) if len(diff) else 0.0
        se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else 0.0
        z = mean / se if se > 0 else 0.0
        out[key] = {"diff": mean, "se": se, "z": z, "users": int(len(diff))}
    return out


def ablation_table(rows: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """The product against each of its ablations (variant A), paired per user."""
    present = set(rows["method"])
    return {source: paired_differences(rows, MAIN, name)
            for source, name in ABLATIONS.items() if name in present and MAIN in present}


def check_goals(summary: Sequence[Mapping[str, Any]],
                ablations: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
                ) -> list[dict[str, Any]]:
    """The goals of the brief for variant A: each with the figures compared and pass/fail."""
    by = {r["method"]: r for r in summary if r["variant"] == "A"}
    if MAIN not in by:
        return []
    main = by[MAIN]
    goals = [
        _goal("HR@10 >= 0.82", main["hr_at_10"], 0.82),
        _goal("coverage >= 1000 distinct movies", main["coverage"], 1000),
    ]
    tail = by.get("long-tail popularity (most rated 5 + 5)")
    if tail and tail["less_known_hr_at_5"] is not None and main["less_known_hr_at_5"] is not None:
        goals.append(_goal("less-known HR@5 >= 2x long-tail popularity",
                           main["less_known_hr_at_5"], 2 * tail["less_known_hr_at_5"]))
    top = by.get("most rated top 10")
    if top:
        goals.append(_goal("popular HR@5 >= most rated top 5", main["popular_hr_at_5"],
                           top["popular_hr_at_5"]))
    for source in ("knn", "als", "neumf"):
        ablation = by.get(ABLATIONS[source])
        if ablations and source in ablations and ablation:
            goals.append(_ablation_goal(source, ablations[source], main["coverage"],
                                        ablation["coverage"]))
    return goals


def _goal(name: str, value: float, bar: float) -> dict[str, Any]:
    """One goal: value >= bar."""
    return {"goal": name, "value": value, "bar": bar, "met": bool(value >= bar)}


def _ablation_goal(source: str, paired: Mapping[str, Mapping[str, float]], coverage: int,
                   ablation_coverage: int) -> dict[str, Any]:
    """Removing a model must cost something real and gain nothing real.

    Real = a paired z of at least 2 on HR@10, NDCG@10 or less-known HR@5, or a coverage loss of
    at least COVERAGE_GAIN; and no figure may improve with z >= 2 when the model is removed.
    """
    better = [k for k, d in paired.items() if d["z"] >= SIGNIFICANT_Z]
    worse = [k for k, d in paired.items() if d["z"] <= -SIGNIFICANT_Z]
    wider = coverage >= (1 + COVERAGE_GAIN) * ablation_coverage
    value = {k: f"{d['diff']:+.3f} (z {d['z']:+.1f})" for k, d in paired.items()}
    return {"goal": f"{source} earns its place (removing it costs a figure at z >= 2 or "
                    f">= {COVERAGE_GAIN:.0%} coverage, and gains nothing at z >= 2)",
            "value": {**value, "coverage": coverage},
            "bar": {"coverage without it": ablation_coverage},
            "met": bool(better or wider) and not worse}


# ---------------------------------------------------------------------- stage wrapper
def headline(report: Mapping[str, Any]) -> dict[str, Any]:
    """The few figures that go into the manifest's metrics."""
    main = next((r for r in report["methods"] if r["method"] == MAIN and r["variant"] == "A"), {})
    keys = ("hr_at_10", "precision_at_10", "ndcg_at_10", "coverage", "popular_hr_at_5",
            "less_known_hr_at_5", "less_known_median_count", "users")
    return {**{k: main.get(k) for k in keys},
            "goals_met": sum(g["met"] for g in report["goals"]),
            "goals": len(report["goals"]), "seconds": report["seconds"]}


def run(ctx: "BuildContext") -> "StageResult":
    """Stage `evaluate`: no tables; headline metrics, and report.json + report.html as files."""
    from offline.build import StageResult
    from offline.evaluation.report import report_files, summary_rows

    report = run_evaluation(ctx.data, ctx.config, ctx.spark, progress=ctx.progress,
                            stage_metrics=published_stage_metrics(ctx.config))
    metrics = {**headline(report), "summary": summary_rows(report)}
    return StageResult(tables={}, metrics=metrics, files=report_files(report))


def published_stage_metrics(cfg: BuildConfig) -> dict[str, Any]:
    """The als/neumf metrics of the published build, when it was built with this configuration."""
    from offline import publish
    from offline.build import config_fingerprint, input_fingerprint_of

    manifest = publish.read_manifest(Path(cfg.out_dir)) or {}
    same_input = manifest.get("input", {}).get("fingerprint") == input_fingerprint_of(cfg)
    if not same_input or manifest.get("config_fingerprint") != config_fingerprint(cfg):
        return {}
    metrics = manifest.get("metrics", {})
    return {name: metrics[name] for name in ("als", "neumf") if name in metrics}


def write_report_files(report: Mapping[str, Any], out_dir: Path | str) -> list[Path]:
    """Write report.json and report.html into out_dir (see offline.evaluation.report)."""
    from offline.evaluation.report import write_report

    return write_report(report, out_dir)
