"""The build: one context (data, split, pools, Spark), a registry of stages, atomic publishing."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offline import publish
from offline.config import PROJECT_ROOT, BuildConfig
from offline.data import storage
from offline.data.loader import Dataset, load_dataset
from offline.pools import assign_pools
from offline.split import split_ratings

PACKAGES = ("pyspark", "pandas", "numpy", "pyarrow", "scikit-learn", "tensorflow-cpu", "keras")
ProgressFn = Callable[[str], None]
RECOMMENDER_MODULES = (
    "recommend.py",
    "blend.py",
    "sources.py",
    "sections.py",
    "reasons.py",
    "profile.py",
    "recommendation.py",
    "recommend_tables.py",
    "schema.py",
    "movies.py",
    "cache.py",  # Recommender.remember's memo
)


@dataclass
class StageResult:
    """What a stage produced: tables by name (file name without .csv) and metrics."""

    tables: dict[str, pd.DataFrame]
    metrics: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # extra files, e.g. report.html


@dataclass(frozen=True)
class Stage:
    name: str
    module: str  # imported on use, so one stage does not pull in every heavy library
    in_build: bool = True  # part of `build` (evaluate is run on its own)
    description: str = ""
    uses_spark: bool = False  # after the last stage that does, the JVM is stopped (its memory)

    def run(self, ctx: "BuildContext") -> StageResult:
        return importlib.import_module(self.module).run(ctx)


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage("movies", "offline.stages.movies", description="movie metadata, links and posters"),
        Stage(
            "popular",
            "offline.stages.popular",
            description="weighted-average catalog (Spark)",
            uses_spark=True,
        ),
        # right after `popular`: the JVM stays up for it and is stopped after `als`, the last Spark stage
        Stage(
            "insights",
            "offline.stages.insights",
            description="what is in the data, for /insights and the movie pages (Spark)",
            uses_spark=True,
        ),
        Stage("als", "offline.stages.als", description="ALS factors (Spark ML)", uses_spark=True),
        Stage("knn", "offline.stages.knn", description="item neighbours (scikit-learn)"),
        Stage("ease", "offline.stages.ease", description="EASE item weights (numpy, closed form)"),
        Stage("neumf", "offline.stages.neumf", description="neural MF (Keras)"),
        Stage(
            "evaluate",
            "offline.evaluation.stage",
            in_build=False,
            description="three-pick protocol report",
            uses_spark=True,
        ),
    )
}
BUILD_STAGES = [name for name, s in STAGES.items() if s.in_build]


class BuildContext:
    """Everything a stage may read: config, data, split, pools, one Spark session, progress.

    The ratings exist twice, both read on first use: `ratings_df`, the Spark DataFrame of the
    checked Parquet table that the Spark stages use (it may live on cluster storage), and
    `data.ratings`, a pandas frame on the driver for the stages that run there (kNN, NeuMF).
    """

    def __init__(
        self, config: BuildConfig, progress: ProgressFn | None = None, data: Dataset | None = None
    ) -> None:
        self.config = config
        self._progress = progress
        self._data = data
        self._spark = None
        self._checkpoints: str | None = None

    def progress(self, message: str) -> None:
        """Show what a long stage is doing now."""
        if self._progress:
            self._progress(message)

    @property
    def data(self) -> Dataset:
        if self._data is None:
            from offline.data.loader import check_local_inputs

            check_local_inputs(
                self.config.data_dir,
                self.config.posters_path,  # before the JVM
                self.config.feedback_ratings,
            )
            spark = self.spark
            self.progress("reading and checking the input (Spark)")
            self._data = load_dataset(
                self.config.data_dir,
                self.config.posters_path,
                self.config.max_bad_share,
                spark=spark,
                work_dir=self.config.work_dir,
                feedback_path=self.config.feedback_ratings,
            )
        return self._data

    @property
    def ratings_df(self):  # -> pyspark DataFrame: user_id, movie_id, rating, timestamp
        """The checked ratings as a Spark DataFrame (from Parquet; nothing passes the driver)."""
        if self.data.ratings_path is not None:
            return self.spark.read.parquet(self.data.ratings_path)
        from offline.sparkctx import spark_frame  # a Dataset built in memory (tests)

        return spark_frame(self.spark, self.data.ratings)

    @cached_property
    def split(self) -> pd.Series:
        return split_ratings(self.data.ratings, self.config.split_fractions, self.config.seed_for("split"))

    @cached_property
    def movie_counts(self) -> pd.Series:
        """Ratings per movie (index movie_id, sorted): from the frame on the driver when it is
        loaded, else aggregated by Spark."""
        if self.data._ratings is None and self._spark is not None:
            counts = self.ratings_df.groupBy("movie_id").count().toPandas()
            return counts.set_index("movie_id")["count"].astype(np.int64).sort_index()
        return self.data.ratings.groupby("movie_id").size().astype(np.int64)

    @cached_property
    def pools(self) -> pd.DataFrame:
        counts = self.movie_counts
        return pd.DataFrame(
            {
                "movie_id": counts.index,
                "vote_count": counts.to_numpy(),
                "pool": assign_pools(counts, self.config.pools).to_numpy(),
            }
        )

    @property
    def spark(self):  # -> SparkSession; typed loosely so this module stays free of pyspark
        if self._spark is None:
            from offline.sparkctx import spark_session

            self.progress("starting Spark")
            self._spark, self._checkpoints = spark_session(self.config)
        return self._spark

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng(self.config.seed_for(name))

    def release_spark(self) -> None:
        """Stop the JVM when no later stage needs it, so the driver-side stages get its memory.

        Kept when the ratings live on cluster storage: the driver reads them through Spark.
        """
        if self._spark is None:
            return
        if (
            self._data is not None
            and self._data.ratings_path is not None
            and storage.is_uri(self._data.ratings_path)
        ):
            self._data.ratings  # noqa: B018 (read them while Spark is there)
        self.close()

    def close(self) -> None:
        if self._spark is not None:
            if not getattr(self._spark, "_movierec_borrowed", False):
                from offline.sparkctx import stop_spark

                stop_spark(self._spark)
            self._spark = None
        if self._checkpoints is not None:
            storage_remove_quietly(self._checkpoints)
            self._checkpoints = None


def storage_remove_quietly(path: str) -> None:
    """Remove the build's Spark checkpoint folder (local; cluster storage keeps its own rules)."""
    if not storage.is_uri(path):
        storage.remove(None, path)


def input_paths(config: BuildConfig) -> dict[str, Any]:
    """The input files of a build, by name (as `load_dataset` reads them)."""
    from offline.data.loader import input_files

    return input_files(config.data_dir, config.posters_path, config.feedback_ratings)


def input_fingerprint(keys: dict[str, str]) -> dict[str, Any]:
    """The files' content keys (sha256, or a storage checksum) and one hash over them all."""
    files = dict(sorted(keys.items()))
    joined = "\n".join(f"{k}:{v}" for k, v in files.items())
    return {"files": files, "fingerprint": hashlib.sha256(joined.encode()).hexdigest()}


def input_fingerprint_of(config: BuildConfig) -> str:
    """The input fingerprint without loading the data (for the staleness check)."""
    from offline.data.loader import DataError, file_key

    try:
        paths = input_paths(config)
    except DataError:
        return "missing"
    spark = None
    if any(storage.is_uri(p) for p in paths.values()):
        from offline.sparkctx import spark_session

        spark = spark_session(config)[0]  # the build reuses this session (getOrCreate)
    keys = {
        name: file_key(spark, path)
        for name, path in paths.items()
        if storage.is_uri(path) or Path(path).is_file()
    }
    return input_fingerprint(keys)["fingerprint"]


def code_fingerprint() -> str:
    """Hash of the offline code and pinned requirements: a change means a rebuild."""
    digest = hashlib.sha256()
    paths = sorted((PROJECT_ROOT / "offline").rglob("*.py")) + [PROJECT_ROOT / "requirements.txt"]
    # the recommender the evaluation shares with the web app, and what it imports
    paths += [PROJECT_ROOT / "webapp" / name for name in RECOMMENDER_MODULES]
    for path in paths:
        if path.is_file():
            digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def config_fingerprint(config: BuildConfig) -> str:
    return hashlib.sha256(repr(sorted(config.model_dict().items())).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def stale_reason(config: BuildConfig) -> str | None:
    """Why trained_data/ must be rebuilt, or None when it is current."""
    try:
        manifest = publish.verify_tables(config.out_dir)
    except publish.ManifestError as exc:
        return str(exc)
    missing = [s for s in BUILD_STAGES if s not in manifest.get("stages", {})]
    if missing:
        return f"stages never built: {', '.join(missing)}"
    current = {
        "input data": input_fingerprint_of(config),
        "code": code_fingerprint(),
        "configuration": config_fingerprint(config),
    }
    top = {
        "input data": manifest.get("input", {}).get("fingerprint"),
        "code": manifest.get("code_fingerprint"),
        "configuration": manifest.get("config_fingerprint"),
    }
    # Each stage records what it was built from: a one-stage rebuild from other data or code
    # leaves the other stages' tables built from the old, and the whole is then not current.
    behind: dict[str, list[str]] = {}
    for stage in BUILD_STAGES:
        built_from = manifest["stages"][stage].get("fingerprints") or top
        for what, value in current.items():
            if built_from.get(what) != value:
                behind.setdefault(what, []).append(stage)
    if not behind:
        return None
    if all(len(stages) == len(BUILD_STAGES) for stages in behind.values()):
        return f"{' and '.join(behind)} changed since the last build"
    return "; ".join(
        f"{what} changed since stage(s) {', '.join(stages)} were built" for what, stages in behind.items()
    )


@dataclass
class StageRun:
    name: str
    rows: int
    seconds: float


def run_stages(
    config: BuildConfig,
    names: list[str],
    progress: ProgressFn | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[list[StageRun], dict]:
    """Run stages, write their tables into a staging folder, then publish it atomically.

    A full build starts from an empty folder; a partial one starts from a copy of the
    current tables and replaces only those of the stages it runs. On any failure the
    staging folder is removed and the published folder is untouched.
    """
    out_dir = Path(config.out_dir)
    partial = set(names) != set(BUILD_STAGES)
    ctx = BuildContext(config, progress)
    runs: list[StageRun] = []
    try:
        with publish.build_lock(out_dir), publish.staging_dir(out_dir, keep_previous=partial) as staging:
            # read under the lock: the previous build is complete and nobody else is writing
            previous = (publish.read_manifest(out_dir) or {}) if partial else {}
            if partial and not previous and any(name in BUILD_STAGES for name in names):
                raise publish.OutDirError(  # the rebuild would publish one stage's tables alone
                    f"{publish.real_target(out_dir)} holds no build to rebuild {', '.join(names)} into: "
                    f"run `python -m offline build` (with the same --out-dir), which builds every stage"
                )
            tables = dict(previous.get("tables", {}))
            stages_meta = dict(previous.get("stages", {}))
            metrics = dict(previous.get("metrics", {}))
            emit_event("input")
            started = time.perf_counter()
            ctx.data  # noqa: B018 (read and checked once, before the stages)
            input_seconds = round(time.perf_counter() - started, 2)
            built_from = {
                "input data": input_fingerprint(ctx.data.file_keys or {})["fingerprint"],
                "code": code_fingerprint(),
                "configuration": config_fingerprint(config),
            }
            for position, name in enumerate(names):
                if on_stage:
                    on_stage(name)
                if not any(STAGES[later].uses_spark for later in names[position:]):
                    ctx.movie_counts  # noqa: B018 (for the manifest's pools, while Spark is up)
                    ctx.release_spark()
                emit_event(name)
                start = time.perf_counter()
                result = STAGES[name].run(ctx)
                for table_name, frame in result.tables.items():
                    entry = publish.write_table(frame, staging / f"{table_name}.csv")
                    tables[table_name] = {**entry, "stage": name}
                _drop_unwritten(tables, staging, name, set(result.tables))
                for file_name, content in result.files.items():
                    (staging / file_name).write_bytes(content)
                seconds = round(time.perf_counter() - start, 2)
                rows = sum(len(f) for f in result.tables.values())
                stages_meta[name] = {"seconds": seconds, "rows": rows, "fingerprints": built_from}
                metrics[name] = result.metrics
                runs.append(StageRun(name, rows, seconds))
            emit_event("publish")
            manifest = make_manifest(ctx, tables, stages_meta, metrics)
            manifest["input"]["seconds"] = input_seconds
            publish.write_json(staging / publish.MANIFEST, manifest)
            publish.swap_into_place(staging, out_dir)
    finally:
        ctx.close()
        emit_event("end")
    return runs, manifest


def _drop_unwritten(tables: dict[str, dict[str, Any]], staging: Path, stage: str, written: set[str]) -> None:
    """Forget the tables an earlier run of `stage` wrote and this one did not (a table the code
    no longer makes, e.g. `neumf_movie_embeddings` before 2026-11-27): a one-stage rebuild copies
    the previous folder, and would otherwise publish the old file as this stage's output."""
    for table_name in [t for t, entry in tables.items() if entry.get("stage") == stage and t not in written]:
        (staging / tables.pop(table_name).get("file", f"{table_name}.csv")).unlink(missing_ok=True)


def emit_event(stage: str) -> None:
    """A stage boundary for `python -m offline benchmark` (a JSON line in $MOVIEREC_EVENTS)."""
    path = os.environ.get("MOVIEREC_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"stage": stage, "time": time.time()}) + "\n")


def make_manifest(ctx: BuildContext, tables: dict, stages: dict, metrics: dict) -> dict[str, Any]:
    """The manifest: tables, inputs, config, seed, versions, metrics, stage times."""
    data = ctx.data
    return {
        "format_version": publish.FORMAT_VERSION,
        "build_id": publish.build_id(tables),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": ctx.config.seed,
        "config": ctx.config.to_dict(),
        "config_fingerprint": config_fingerprint(ctx.config),
        "pools": {
            "popular_share": ctx.config.pools.popular_share,
            "less_known_min_count": ctx.config.pools.less_known_min_count,
            "counts": ctx.pools["pool"].value_counts().sort_index().to_dict(),
        },
        "input": {
            "data_dir": str(ctx.config.data_dir),
            **input_fingerprint(data.file_keys or {}),
            "rows": {"ratings": data.ratings_count, "movies": len(data.movies), "users": data.users_count},
        },
        "bad_rows": data.bad_rows.to_dict(),
        "code_fingerprint": code_fingerprint(),
        "versions": package_versions(),
        "tables": dict(sorted(tables.items())),
        "stages": stages,
        "metrics": metrics,
    }
