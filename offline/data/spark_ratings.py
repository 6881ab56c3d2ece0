"""ratings.csv -> a clean Parquet table, read and checked by Spark (so the input may live on
cluster storage: a local path, `file://`, `hdfs://`, `s3a://`).

The driver never holds the ratings here: Spark reads the file as text, parses and checks every
line, and writes the rows that pass as Parquet (`user_id int, movie_id int, rating float,
timestamp bigint`), which the Spark stages read back. Malformed rows are accounted for exactly as
`offline.data.loader` does for the small files: a count per kind and the first example line
numbers, in the same order of checks:

    wrong_field_count -> non_numeric_value -> rating_out_of_range -> unknown_movie
    -> duplicate_user_movie (the first occurrence in the file is kept)

Line numbers without a sequential read: each line carries the start offset of the file split it
came from (`input_file_block_start`) and `monotonically_increasing_id`, which counts up by one
within a split. Lines per split (one small aggregation) give each split's first line number, so a
line's number is that plus its distance from the split's first id. Physical lines are counted
(header and blank lines included), as `csv.reader.line_num` does.

Fields are split on commas after removing double quotes: MovieLens ratings files never quote
their numeric fields, and a quoted comma inside a ratings row makes it a wrong-width row.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from offline.data import storage
from offline.data.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

HEADER = ["userId", "movieId", "rating", "timestamp"]
KINDS = (
    "wrong_field_count",
    "non_numeric_value",
    "rating_out_of_range",
    "unknown_movie",
    "duplicate_user_movie",
)
MAX_EXAMPLES = 5
INT_MAX = 2**31 - 1
_INT = r"^\s*[+-]?[0-9]+(\.0*)?\s*$"  # ASCII digits only: "²" is no digit here
_NUMBER = r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
COLUMNS = ("user_id", "movie_id", "rating", "timestamp")
# Bump when the conversion's output or accounting changes: cached tables of older code are rebuilt.
CONVERTER_VERSION = 1
ACCOUNTING = "_accounting.json"  # inside the Parquet folder; Spark skips files starting with "_"
KEEP_CACHED = 3  # cached conversions kept per work folder (the newest: data set, feedback, both)


@dataclass
class RatingsAccounting:
    """What the conversion kept and skipped: rows per kind with example line numbers."""

    rows: int  # data rows in the file (header and blank lines not counted)
    kept: int
    users: int = 0
    bad: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> count, example_lines

    def to_json(self) -> str:
        return json.dumps(
            {"rows": self.rows, "kept": self.kept, "users": self.users, "bad": self.bad}, sort_keys=True
        )

    @classmethod
    def from_json(cls, text: str) -> "RatingsAccounting":
        data = json.loads(text)
        return cls(int(data["rows"]), int(data["kept"]), int(data["users"]), dict(data["bad"]))


def numbered_lines(spark: "SparkSession", path: str) -> "DataFrame":
    """The file's lines with the split offset and id that give each its line number."""
    from pyspark.sql import functions as F

    return spark.read.text(path).select(
        F.col("value"),
        F.input_file_block_start().alias("block"),
        F.monotonically_increasing_id().alias("mid"),
    )


def split_starts(lines: "DataFrame") -> pd.DataFrame:
    """Per file split (sorted by offset): its first id, its line count and its first line number."""
    from pyspark.sql import functions as F

    stats = (
        lines.groupBy("block")
        .agg(F.min("mid").alias("first_mid"), F.count(F.lit(1)).alias("lines"))
        .toPandas()
        .sort_values("block", kind="mergesort", ignore_index=True)
    )
    stats["first_line"] = 1 + np.r_[0, np.cumsum(stats["lines"].to_numpy())[:-1]]
    return stats


def line_numbers(rows: pd.DataFrame, starts: pd.DataFrame) -> list[int]:
    """Line numbers of rows given as (block, mid)."""
    info = starts.set_index("block")
    first_mid = info["first_mid"].reindex(rows["block"]).to_numpy()
    first_line = info["first_line"].reindex(rows["block"]).to_numpy()
    return [int(x) for x in first_line + (rows["mid"].to_numpy() - first_mid)]


def check_header_line(lines: "DataFrame", block: int, mid: int, path: str) -> None:
    """Fail with one clear line when the file's first line is not the ratings header."""
    from pyspark.sql import functions as F

    row = lines.where((F.col("block") == block) & (F.col("mid") == mid)).first()
    found = (row.value if row else "").lstrip("\ufeff").strip()
    if [h.strip() for h in next(csv.reader([found]), [])] != HEADER:  # a quoted header is valid CSV
        raise DataError(
            f"{path}: wrong header {found or '(empty file)'}; expected columns {','.join(HEADER)}"
        )


def classify(lines: "DataFrame", header: tuple[int, int], movies: "DataFrame") -> "DataFrame":
    """Data lines parsed into typed columns plus `kind`: null for a good row, else the first
    check it fails (before the duplicate check, which needs the whole file)."""
    from pyspark.sql import functions as F

    header_block, header_mid = header
    data = lines.where(
        ~((F.col("block") == header_block) & (F.col("mid") == header_mid)) & (F.trim(F.col("value")) != "")
    )
    parts = F.split(F.regexp_replace(F.col("value"), '["\r\ufeff]', ""), ",")
    fields = data.select("block", "mid", parts.alias("f"))
    text = [F.col("f").getItem(i) for i in range(4)]
    numeric = text[0].rlike(_INT) & text[1].rlike(_INT) & text[2].rlike(_NUMBER) & text[3].rlike(_INT)
    typed = fields.select(
        "block",
        "mid",
        F.when(F.size("f") != 4, F.lit("wrong_field_count"))
        .when(~numeric, F.lit("non_numeric_value"))
        .alias("kind"),
        *[F.when((F.size("f") == 4) & numeric, c) for c in text],
    ).toDF("block", "mid", "kind", "u", "m", "r", "t")
    as_long = {name: F.col(name).cast("double").cast("long") for name in ("u", "m", "t")}
    in_int = as_long["u"].between(-INT_MAX - 1, INT_MAX) & as_long["m"].between(-INT_MAX - 1, INT_MAX)
    typed = typed.select(
        "block",
        "mid",
        F.when(F.col("kind").isNull() & ~in_int, F.lit("non_numeric_value"))
        .otherwise(F.col("kind"))
        .alias("kind"),
        as_long["u"].cast("int").alias("user_id"),
        as_long["m"].cast("int").alias("movie_id"),
        F.col("r").cast("double").alias("rating"),
        as_long["t"].alias("timestamp"),
    )
    known = movies.select(F.col("movie_id").alias("known_id"), F.lit(True).alias("known"))
    joined = typed.join(F.broadcast(known), typed["movie_id"] == known["known_id"], "left")
    kind = (
        F.when(F.col("kind").isNotNull(), F.col("kind"))
        .when(~F.col("rating").between(0.5, 5.0), F.lit("rating_out_of_range"))
        .when(F.col("known").isNull(), F.lit("unknown_movie"))
    )
    return joined.select("block", "mid", kind.alias("kind"), *COLUMNS)


def first_occurrences(good: "DataFrame") -> "DataFrame":
    """One row per (user, movie): the first in the file, with its (block, mid) position."""
    from pyspark.sql import functions as F

    first = F.min(F.struct("block", "mid", "rating", "timestamp")).alias("first")
    return (
        good.groupBy("user_id", "movie_id")
        .agg(first)
        .select("user_id", "movie_id", "first.block", "first.mid", "first.rating", "first.timestamp")
    )


def convert_ratings(
    spark: "SparkSession", path: str, movie_ids: np.ndarray, out_path: str
) -> RatingsAccounting:
    """Check `path` (a MovieLens ratings.csv), write its good rows as Parquet to `out_path`."""
    from pyspark import StorageLevel
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    try:
        lines = numbered_lines(spark, path).persist(StorageLevel.MEMORY_AND_DISK)
        starts = split_starts(lines)
    except AnalysisException as exc:
        raise DataError(
            f"{path}: cannot be read ({str(exc).splitlines()[0]}); expected a CSV "
            f"with columns {','.join(HEADER)}"
        ) from None
    try:
        if starts.empty:
            raise DataError(f"{path}: empty file; expected a CSV with columns {','.join(HEADER)}")
        first = starts.iloc[0]
        check_header_line(lines, int(first["block"]), int(first["first_mid"]), path)
        movies = spark.createDataFrame(pd.DataFrame({"movie_id": np.unique(movie_ids).astype(np.int32)}))
        rows = classify(lines, (int(first["block"]), int(first["first_mid"])), movies)
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
        counts = {r["kind"]: int(r["count"]) for r in rows.groupBy("kind").count().collect()}
        total = sum(counts.values())
        good = rows.where(F.col("kind").isNull()).drop("kind")
        unique = first_occurrences(good)
        (
            unique.select(
                F.col("user_id").cast("int"),
                F.col("movie_id").cast("int"),
                F.col("rating").cast("float"),
                F.col("timestamp").cast("long"),
            )
            .write.mode("overwrite")
            .parquet(out_path)
        )
        written = spark.read.parquet(out_path)
        kept = int(written.count())
        users = int(written.select("user_id").distinct().count())
        n_good = counts.pop(None, 0)
        if n_good > kept:
            counts["duplicate_user_movie"] = n_good - kept
        bad = {
            kind: {"count": counts[kind], "example_lines": _examples(rows, unique, kind, starts)}
            for kind in KINDS
            if counts.get(kind)
        }
        rows.unpersist()
        return RatingsAccounting(rows=total, kept=kept, users=users, bad=bad)
    finally:
        lines.unpersist()


def _examples(rows: "DataFrame", unique: "DataFrame", kind: str, starts: pd.DataFrame) -> list[int]:
    """The first MAX_EXAMPLES line numbers of one kind of bad row."""
    from pyspark.sql import functions as F

    if kind == "duplicate_user_movie":
        firsts = unique.select("user_id", "movie_id", F.col("block").alias("b0"), F.col("mid").alias("m0"))
        later = (
            rows.where(F.col("kind").isNull())
            .join(firsts, ["user_id", "movie_id"])
            .where((F.col("block") != F.col("b0")) | (F.col("mid") != F.col("m0")))
        )
    else:
        later = rows.where(F.col("kind") == kind)
    found = later.select("block", "mid").orderBy("block", "mid").limit(MAX_EXAMPLES).toPandas()
    return line_numbers(found, starts)


def ratings_table(
    spark: "SparkSession", ratings_path: str, movie_ids: np.ndarray, work_dir: str | Path, input_key: str
) -> tuple[str, RatingsAccounting]:
    """The checked ratings as Parquet, converted once per input and reused by later builds.

    `input_key` identifies the ratings file's content (its sha256, or its storage checksum);
    the movie ids are part of the key because they decide which rows are `unknown_movie`.
    A conversion is written to a temporary folder and renamed into place when complete, so a
    killed build never leaves a half-written table that a later build would trust.
    """
    ids = np.unique(np.asarray(movie_ids, dtype=np.int64))
    key = hashlib.sha256(f"{CONVERTER_VERSION}:{input_key}:".encode() + ids.tobytes()).hexdigest()
    target = storage.join(work_dir, f"ratings-{key[:16]}.parquet")
    accounting = storage.join(target, ACCOUNTING)
    if storage.exists(spark, accounting):
        return str(target), RatingsAccounting.from_json(storage.read_text(spark, accounting))
    if not storage.is_uri(work_dir):
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    temporary = storage.join(work_dir, f".ratings-{key[:16]}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        result = convert_ratings(spark, ratings_path, ids, str(temporary))
        storage.write_text(spark, storage.join(temporary, ACCOUNTING), result.to_json())
        storage.remove(spark, target)
        storage.rename(spark, temporary, target)
    finally:
        storage.remove(spark, temporary)
    prune_cache(work_dir, keep=str(target))
    return str(target), result


def prune_cache(work_dir: str | Path, keep: str) -> None:
    """Drop older local conversions (each is about 6 bytes per rating) beyond KEEP_CACHED."""
    if storage.is_uri(work_dir):
        return  # cluster storage: left to its own retention rules
    tables = sorted(Path(work_dir).glob("ratings-*.parquet"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in tables[KEEP_CACHED:]:
        if str(old) != keep:
            storage.remove(None, old)


def read_local_ratings(path: str | Path, columns: tuple[str, ...] = COLUMNS) -> pd.DataFrame:
    """The Parquet table as a pandas frame on the driver, sorted by (user_id, movie_id)."""
    import pyarrow.parquet as pq

    table = pq.read_table(str(path), columns=list(columns))
    frame = table.to_pandas()
    return sort_pairs(frame)


def sort_pairs(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in (user_id, movie_id) order: driver-side models then see one order on any host."""
    key = (frame["user_id"].to_numpy(np.int64) << 32) | frame["movie_id"].to_numpy(np.int64)
    if len(key) > 1 and not (np.diff(key) > 0).all():
        frame = frame.iloc[np.argsort(key, kind="stable")]
    return frame.reset_index(drop=True)


def union_tables(
    spark: "SparkSession",
    first: tuple[str, RatingsAccounting],
    second: tuple[str, RatingsAccounting],
    work_dir: str | Path,
) -> tuple[str, RatingsAccounting]:
    """The data set's checked ratings and the visitors' (from `export-feedback`) as one Parquet
    table, cached per pair like a conversion. The visitors' user ids must all be above the data
    set's: they are new users, and a shared id would merge a visitor with a MovieLens user."""
    from pyspark.sql import functions as F

    (path_a, acc_a), (path_b, acc_b) = first, second
    key = hashlib.sha256(
        f"{CONVERTER_VERSION}:union:{Path(str(path_a)).name}:{Path(str(path_b)).name}".encode()
    ).hexdigest()
    target = storage.join(work_dir, f"ratings-{key[:16]}.parquet")
    accounting_file = storage.join(target, ACCOUNTING)
    if storage.exists(spark, accounting_file):
        return str(target), RatingsAccounting.from_json(storage.read_text(spark, accounting_file))
    a, b = spark.read.parquet(str(path_a)), spark.read.parquet(str(path_b))
    top = a.agg(F.max("user_id")).first()[0]
    low = b.agg(F.min("user_id")).first()[0]
    if top is not None and low is not None and low <= top:
        raise DataError(
            f"feedback-ratings.csv: user id {low} is not above the data set's "
            f"largest ({top}); export it again for this data set "
            f"(python -m offline export-feedback --data-dir ...)"
        )
    temporary = storage.join(work_dir, f".ratings-{key[:16]}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        a.unionByName(b).write.mode("overwrite").parquet(str(temporary))
        result = RatingsAccounting(
            rows=acc_a.rows + acc_b.rows, kept=acc_a.kept + acc_b.kept, users=acc_a.users + acc_b.users
        )
        storage.write_text(spark, storage.join(temporary, ACCOUNTING), result.to_json())
        storage.remove(spark, target)
        storage.rename(spark, temporary, target)
    finally:
        storage.remove(spark, temporary)
    prune_cache(work_dir, keep=str(target))
    return str(target), result
