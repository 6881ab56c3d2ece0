"""Every setting of an offline build, in one frozen dataclass that goes into the manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "ml-latest-small"
DEFAULT_POSTERS = PROJECT_ROOT / "data" / "posters" / "movies_with_posters.csv"
DEFAULT_OUT_DIR = PROJECT_ROOT / "trained_data"
# The checked ratings as Parquet (reused while the input is unchanged) and Spark's checkpoints;
# on a cluster, a folder every executor can reach (`--work-dir hdfs://...`).
DEFAULT_WORK_DIR = PROJECT_ROOT / ".cache"
# Where `export-feedback` writes the visitors' ratings and `build --include-feedback` reads them.
DEFAULT_FEEDBACK_RATINGS = PROJECT_ROOT / "var" / "feedback-ratings.csv"


@dataclass(frozen=True)
class PoolConfig:
    """The one definition of the popular and less-known pools (by rating count)."""

    popular_share: float = 0.10  # popular = the top 10% of rated movies by rating count
    less_known_min_count: int = 5  # less known = the rest with at least this many ratings


@dataclass(frozen=True)
class PopularConfig:
    catalog_size: int = 100
    vote_quantile: float = 0.90  # m in the weighted rating = this quantile of per-movie counts


@dataclass(frozen=True)
class InsightsConfig:
    """Stage `insights`: what is in the data, as small tables for the /insights and movie pages."""

    # Polarising movies are ranked among movies with at least N ratings, where
    # N = total ratings / polarising_ratings_per_count, kept within [floor, cap]: 20 on the bundled
    # ml-latest-small (100k ratings), 50 at 5M, 250 on the full releases (25M and more). A standard
    # deviation from N ratings is uncertain by about 1/sqrt(2N) of itself (16% at 20, 4.5% at 250).
    polarising_ratings_per_count: int = 100_000
    polarising_floor: int = 20
    polarising_cap: int = 250
    polarising_top: int = 20
    low_rating: float = 2.0  # "1-2 stars": 0.5 to 2.0
    high_rating: float = 4.5  # "4.5-5 stars"
    long_tail_points: int = 300  # log-spaced ranks of the ratings-per-movie curve (plus the top 100)

    def polarising_min_ratings(self, total_ratings: int) -> int:
        """N for a data set of this many ratings (the rule above)."""
        scaled = round(total_ratings / self.polarising_ratings_per_count)
        return int(min(self.polarising_cap, max(self.polarising_floor, scaled)))


@dataclass(frozen=True)
class AlsConfig:
    ranks: tuple[int, ...] = (8, 12)
    reg_params: tuple[float, ...] = (0.1, 0.15, 0.2)  # Spark scales regParam by each row's count
    max_iter: int = 10
    top_n: int = 10
    implicit_rank: int = 32
    implicit_reg_param: float = 0.1
    implicit_alpha: float = 10.0
    implicit_max_iter: int = 15
    # Above this many ratings, the grid search and the held-out error figures use a seeded
    # sample of users holding about this many ratings; the exported fits use all of them.
    sample_ratings: int = 2_000_000


@dataclass(frozen=True)
class KnnConfig:
    k: int = 30
    min_support: int = 5  # movies with fewer ratings get content (genre/tag) neighbours
    weighting: str = "binary"  # item vectors: "binary" (who rated what) or "centred" ratings
    workers: int = 2  # processes for the blockwise similarity (results do not depend on it)


@dataclass(frozen=True)
class EaseConfig:
    # EASE (stages/ease.py): the L2 weight lambda, the movies it covers (at least min_support
    # ratings, at most max_movies of the most rated: max_movies^2 floats are inverted) and the
    # strongest weights kept per movie (on ml-latest-small's catalog picks, HR@10 with 100 and
    # 200 within 0.004 of the full matrix's; 50 lost 0.015)
    lam: float = 1000.0
    min_support: int = 5
    max_movies: int = 10_000
    k: int = 100


@dataclass(frozen=True)
class NeumfConfig:
    gmf_dim: int = 16
    mlp_dims: tuple[int, ...] = (64, 32, 16)  # MLP input (user + movie embeddings), then layers
    epochs: int = 12
    batch_size: int = 8192  # large batches: fewer steps on 2 CPU cores, same HR@10 (stages/neumf.py)
    max_batch_size: int = 32768  # on large data the batch grows to keep ~400 steps per epoch
    # The step budget: training stops after this many examples (positives + sampled negatives),
    # whatever the epochs say. ml-latest-small needs under 5 M; 25 M ratings would want 1.2 G.
    max_train_examples: int = 120_000_000
    negatives: int = 4  # sampled unrated movies per rating (implicit feedback, as in the paper)
    learning_rate: float = 0.008
    top_n: int = 20  # per user (less-known) and per movie (users)
    candidate_neighbors: int = 20  # co-occurrence neighbours per movie that make candidates
    candidate_cap: int = 200  # scored candidates per user and per movie (bounds the work)
    # raters per movie that make a movie's candidate users (a seeded sample where there are more):
    # bounds the two-hop work by movies x neighbours x rater_cap on any data size
    rater_cap: int = 300
    predict_batch_size: int = 16384


@dataclass(frozen=True)
class BuildConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    posters_path: Path | None = DEFAULT_POSTERS
    # visitors' ratings from `python -m offline export-feedback` (build --include-feedback), or None
    feedback_ratings: Path | None = None
    out_dir: Path = DEFAULT_OUT_DIR
    work_dir: Path | str = DEFAULT_WORK_DIR
    seed: int = 42
    spark_master: str = field(default_factory=lambda: os.environ.get("SPARK_MASTER", "local[*]"))
    max_bad_share: float = 0.01
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    pools: PoolConfig = PoolConfig()
    popular: PopularConfig = PopularConfig()
    insights: InsightsConfig = InsightsConfig()
    als: AlsConfig = AlsConfig()
    knn: KnnConfig = KnnConfig()
    ease: EaseConfig = EaseConfig()
    neumf: NeumfConfig = NeumfConfig()
    eval_folds: int = 5
    # Above this many ratings the evaluation runs one fold and simulates at most
    # eval_max_test_users of its users (retraining every stage per fold dominates at full size).
    eval_full_size_ratings: int = 2_000_000
    eval_max_test_users: int = 5_000

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings; paths as strings."""

        def convert(value: Any) -> Any:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [convert(v) for v in value]
            return value

        return convert(dataclasses.asdict(self))

    def model_dict(self) -> dict[str, Any]:
        """The settings that change the tables (no paths, no Spark master)."""
        d = self.to_dict()
        for key in (
            "data_dir",
            "posters_path",
            "out_dir",
            "spark_master",
            "work_dir",
            "feedback_ratings",
        ):  # paths: their content is in the input fingerprint
            d.pop(key)
        return d

    def seed_for(self, name: str) -> int:
        """A stable seed for one named random choice, derived from the build seed."""
        digest = hashlib.sha256(f"{self.seed}:{name}".encode()).digest()
        return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
