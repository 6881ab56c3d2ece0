"""Load a MovieLens CSV release (ml-latest-small, ml-latest, ml-25m, ml-32m) into clean frames.

Real CSV parsing (quotes, commas in titles, CRLF, UTF-8). Malformed rows are counted per kind,
reported with example line numbers and removed; the load fails when they exceed a share of a file.
The small files (movies, links, tags, posters) are parsed here with pandas and the csv module;
ratings.csv, the one that grows to tens of millions of rows, is read and checked by Spark
(`offline.data.spark_ratings`) into a Parquet table with the same accounting.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from offline.data import spark_ratings, storage
from offline.data.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

EXPECTED_COLUMNS: dict[str, list[str]] = {
    "ratings.csv": ["userId", "movieId", "rating", "timestamp"],
    # visitors' ratings from `python -m offline export-feedback`, read like ratings.csv and added
    # to it (`build --include-feedback`); optional, so not in every release
    "feedback-ratings.csv": ["userId", "movieId", "rating", "timestamp"],
    "movies.csv": ["movieId", "title", "genres"],
    "links.csv": ["movieId", "imdbId", "tmdbId"],
    "tags.csv": ["userId", "movieId", "tag", "timestamp"],
}
POSTER_COLUMNS = ["movieId", "title", "genres", "poster_url"]
RENAMES = {"userId": "user_id", "movieId": "movie_id", "imdbId": "imdb_id", "tmdbId": "tmdb_id"}
MAX_EXAMPLES = 5
NO_GENRES = "(no genres listed)"

_YEAR = re.compile(r"\s*\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
_ARTICLE = re.compile(
    r"^(?P<rest>.+?), (?P<art>The|A|An|Les|La|Le|L'|Il|El|Das|Der|Die|Los|Las|Den|Det)"
    r"(?P<tail> \(.*\))?$"
)


@dataclass
class BadRows:
    """Malformed rows per file and kind: a count and a few example line numbers."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def add(self, file: str, kind: str, lines: np.ndarray | list[int]) -> None:
        """Record rows of one kind (by 1-based file line number)."""
        lines = [int(x) for x in lines]
        if not lines:
            return
        self.counts.setdefault(file, {}).setdefault(kind, 0)
        self.counts[file][kind] += len(lines)
        ex = self.examples.setdefault(file, {}).setdefault(kind, [])
        ex.extend(lines[: max(0, MAX_EXAMPLES - len(ex))])

    def bad_total(self, file: str) -> int:
        return sum(self.counts.get(file, {}).values())

    def to_dict(self) -> dict[str, dict[str, dict[str, object]]]:
        """JSON-ready report for the manifest."""
        return {
            file: {
                kind: {"count": n, "example_lines": self.examples[file][kind]} for kind, n in kinds.items()
            }
            for file, kinds in self.counts.items()
        }

    def summary(self) -> list[str]:
        """One human line per file and kind."""
        return [
            f"{file}: {n} {kind.replace('_', ' ')} row(s), e.g. line(s) "
            + ", ".join(map(str, self.examples[file][kind]))
            for file, kinds in self.counts.items()
            for kind, n in kinds.items()
        ]


class Dataset:
    """The clean input of one build.

    The small files are pandas frames. The ratings are a Parquet table written by Spark
    (`ratings_path`, what the Spark stages read); `ratings` is the same table as a pandas frame
    on the driver, read on first use by the stages that run there (kNN, NeuMF, the evaluation),
    sorted by (user_id, movie_id).
    """

    def __init__(
        self,
        movies: pd.DataFrame,
        links: pd.DataFrame,
        tags: pd.DataFrame,
        posters: pd.DataFrame,
        bad_rows: BadRows,
        files: dict[str, Any],
        *,
        ratings: pd.DataFrame | None = None,
        ratings_path: str | None = None,
        read_ratings: Callable[[], pd.DataFrame] | None = None,
        ratings_count: int | None = None,
        users_count: int | None = None,
        file_keys: dict[str, str] | None = None,
    ) -> None:
        self.movies, self.links, self.tags, self.posters = movies, links, tags, posters
        self.bad_rows, self.files = bad_rows, files
        self.file_keys = file_keys  # what identifies each input file's content (see file_key)
        self.ratings_path = ratings_path
        self._ratings = ratings
        self._read_ratings = read_ratings
        self.ratings_count = len(ratings) if ratings is not None else ratings_count
        self.users_count = int(ratings["user_id"].nunique()) if ratings is not None else users_count

    @property
    def ratings(self) -> pd.DataFrame:
        """user_id int32, movie_id int32, rating float32, timestamp int64 (loaded on first use)."""
        if self._ratings is None:
            if self._read_ratings is None:
                raise DataError("this data set has no ratings table")
            self._ratings = self._read_ratings()
        return self._ratings


def check_header(path: Path, expected: list[str]) -> None:
    """Fail with one clear line when a file is missing or its header is not `expected`."""
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected a CSV with columns {','.join(expected)}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if [h.strip() for h in header] != expected:
        raise DataError(
            f"{path}: wrong header {','.join(header) or '(empty file)'}; "
            f"expected columns {','.join(expected)}"
        )


def read_raw(path: Path, columns: list[str], bad: BadRows) -> pd.DataFrame:
    """Read every field as text with the csv module; rows of the wrong width are counted."""
    rows: list[list[str]] = []
    lines: list[int] = []
    wrong: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            next(reader, None)
            for row in reader:
                if not row:
                    continue  # blank line, e.g. at the end of the file
                if len(row) != len(columns):
                    wrong.append(reader.line_num)
                    continue
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from exc
    bad.add(path.name, "wrong_field_count", wrong)
    frame = pd.DataFrame(rows, columns=columns, dtype=str)
    frame["_line"] = np.array(lines, dtype=np.int64)
    return frame


def to_numbers(
    frame: pd.DataFrame, columns: dict[str, str], file: str, bad: BadRows, optional: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Convert text columns to numbers; rows with non-numeric values are counted and dropped."""
    out = frame.copy()
    invalid = np.zeros(len(out), dtype=bool)
    for col, dtype in columns.items():
        text = out[col].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        missing_ok = text.eq("") if col in optional else np.zeros(len(out), dtype=bool)
        invalid |= values.isna().to_numpy() & ~np.asarray(missing_ok)
        if dtype.startswith("int"):
            invalid |= (values.notna() & (values != np.floor(values))).to_numpy()
        out[col] = values
    bad.add(file, "non_numeric_value", out.loc[invalid, "_line"].to_numpy())
    out = out.loc[~invalid]
    for col, dtype in columns.items():
        out[col] = out[col].astype("Int64" if col in optional else dtype)
    return out


def drop_rows(
    frame: pd.DataFrame, mask: pd.Series | np.ndarray, file: str, kind: str, bad: BadRows
) -> pd.DataFrame:
    """Count and drop the rows where `mask` is true."""
    mask = np.asarray(mask, dtype=bool)
    bad.add(file, kind, frame.loc[mask, "_line"].to_numpy())
    return frame.loc[~mask]


def split_title(raw: str) -> tuple[str, int | None]:
    """'American President, The (1995)' -> ('The American President', 1995)."""
    title, year = raw.strip(), None
    match = _YEAR.search(title)
    if match:
        year = int(match.group(1))
        title = title[: match.start()].strip()
    art = _ARTICLE.match(title)
    if art:
        sep = "" if art["art"].endswith("'") else " "
        title = f"{art['art']}{sep}{art['rest']}{art['tail'] or ''}"
    return title, year


def load_movies(path: Path, bad: BadRows) -> pd.DataFrame:
    raw = read_raw(path, EXPECTED_COLUMNS["movies.csv"], bad)
    frame = to_numbers(raw, {"movieId": "int32"}, path.name, bad)
    frame = drop_rows(frame, frame.duplicated("movieId"), path.name, "duplicate_movie_id", bad)
    parts = [split_title(t) for t in frame["title"]]
    genres = frame["genres"].str.strip().replace(NO_GENRES, "")
    return pd.DataFrame(
        {
            "movie_id": frame["movieId"].to_numpy(),
            "title": [p[0] for p in parts],
            "year": pd.array([p[1] for p in parts], dtype="Int16"),
            "genres": genres.to_numpy(),
            "raw_title": frame["title"].to_numpy(),
        }
    ).sort_values("movie_id", ignore_index=True)


def load_links(path: Path, bad: BadRows) -> pd.DataFrame:
    raw = read_raw(path, EXPECTED_COLUMNS["links.csv"], bad)
    imdb = raw["imdbId"].str.strip()
    frame = to_numbers(raw, {"movieId": "int32", "tmdbId": "Int64"}, path.name, bad, optional=("tmdbId",))
    # one row per movie: a repeated id would duplicate the movie in every joined table
    frame = drop_rows(frame, frame.duplicated("movieId"), path.name, "duplicate_movie_id", bad)
    return pd.DataFrame(
        {
            "movie_id": frame["movieId"].to_numpy(),
            "imdb_id": imdb.loc[frame.index].to_numpy(),
            "tmdb_id": frame["tmdbId"].array,
        }
    )


def load_tags(path: Path, bad: BadRows) -> pd.DataFrame:
    raw = read_raw(path, EXPECTED_COLUMNS["tags.csv"], bad)
    frame = to_numbers(raw, {"userId": "int32", "movieId": "int32", "timestamp": "int64"}, path.name, bad)
    return pd.DataFrame(
        {
            "user_id": frame["userId"].to_numpy(),
            "movie_id": frame["movieId"].to_numpy(),
            "tag": frame["tag"].to_numpy(),
            "timestamp": frame["timestamp"].to_numpy(),
        }
    )


def load_posters(path: Path | None, bad: BadRows) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame({"movie_id": pd.Series(dtype="int32"), "poster_url": pd.Series(dtype=str)})
    raw = read_raw(path, POSTER_COLUMNS, bad)
    frame = to_numbers(raw, {"movieId": "int32"}, path.name, bad)
    frame = drop_rows(frame, frame.duplicated("movieId"), path.name, "duplicate_movie_id", bad)
    return pd.DataFrame(
        {"movie_id": frame["movieId"].to_numpy(), "poster_url": frame["poster_url"].str.strip().to_numpy()}
    )


def check_bad_share(bad: BadRows, totals: dict[str, int], max_share: float) -> None:
    """Fail when any file's malformed rows exceed `max_share` of its rows."""
    for file, total in totals.items():
        n_bad = bad.bad_total(file)
        if total and n_bad / total > max_share:
            details = "; ".join(line for line in bad.summary() if line.startswith(file))
            raise DataError(
                f"{file}: {n_bad} of {total} rows are malformed ({n_bad / total:.1%}, "
                f"more than the allowed {max_share:.1%}): {details}"
            )


def load_dataset(
    data_dir: Path | str,
    posters_path: Path | str | None = None,
    max_bad_share: float = 0.01,
    *,
    spark: "SparkSession",
    work_dir: Path | str,
    feedback_path: Path | str | None = None,
) -> Dataset:
    """Load and check one MovieLens release; see the module docstring.

    `data_dir` may be a local folder or a URI (`file://`, `hdfs://`, `s3a://`): Spark reads
    ratings.csv where it is (`offline.data.spark_ratings`), and the small files are copied
    to a local folder first and parsed here, with exact line numbers either way.
    """
    files = input_files(data_dir, posters_path, feedback_path)
    local = local_copies(spark, files, work_dir)
    check_headers(local)
    bad = BadRows()
    movies = load_movies(local["movies.csv"], bad)
    links = load_links(local["links.csv"], bad)
    tags = load_tags(local["tags.csv"], bad)
    posters = load_posters(local.get("posters.csv"), bad)
    kept = {"movies.csv": movies, "links.csv": links, "tags.csv": tags, "posters.csv": posters}
    # Every data row is either kept or counted as bad, so the totals need no second read.
    bad.totals = {name: len(kept[name]) + bad.bad_total(name) for name in local if name not in RATINGS_FILES}
    keys = {name: file_key(spark, path) for name, path in files.items()}
    ratings_path, accounting = spark_ratings.ratings_table(
        spark,
        str(files["ratings.csv"]),
        movies["movie_id"].to_numpy(),
        work_dir,
        input_key=keys["ratings.csv"],
    )
    _add_bad(bad, "ratings.csv", accounting)
    if "feedback-ratings.csv" in files:
        # The visitors' file is checked as the data set's is (same kinds of bad rows, its own
        # line numbers), then the two tables are joined into one (spark_ratings.union_tables).
        extra_path, extra = spark_ratings.ratings_table(
            spark,
            str(files["feedback-ratings.csv"]),
            movies["movie_id"].to_numpy(),
            work_dir,
            input_key=keys["feedback-ratings.csv"],
        )
        _add_bad(bad, "feedback-ratings.csv", extra)
        ratings_path, accounting = spark_ratings.union_tables(
            spark, (ratings_path, accounting), (extra_path, extra), work_dir
        )
    check_bad_share(bad, bad.totals, max_bad_share)
    return Dataset(
        movies,
        links,
        tags,
        posters,
        bad,
        files,
        file_keys=keys,
        ratings_path=ratings_path,
        read_ratings=lambda: read_ratings_frame(spark, ratings_path),
        ratings_count=accounting.kept,
        users_count=accounting.users,
    )


RATINGS_FILES = ("ratings.csv", "feedback-ratings.csv")  # read and checked by Spark


def _add_bad(bad: BadRows, name: str, accounting: "spark_ratings.RatingsAccounting") -> None:
    for kind, info in accounting.bad.items():
        bad.counts.setdefault(name, {})[kind] = int(info["count"])
        bad.examples.setdefault(name, {})[kind] = list(info["example_lines"])
    bad.totals[name] = accounting.rows


def check_headers(local: dict[str, Path]) -> None:
    """Every local file's header, before any slow parsing (or starting Spark)."""
    headers = {**EXPECTED_COLUMNS, "posters.csv": POSTER_COLUMNS}
    for name, path in local.items():
        check_header(path, headers[name])


def check_local_inputs(
    data_dir: Path | str, posters_path: Path | str | None, feedback_path: Path | str | None = None
) -> None:
    """Fail fast, without Spark, when a local input folder, file or header is wrong."""
    files = input_files(data_dir, posters_path, feedback_path)
    check_headers({name: Path(p) for name, p in files.items() if not storage.is_uri(p)})


def input_files(
    data_dir: Path | str, posters_path: Path | str | None, feedback_path: Path | str | None = None
) -> dict[str, Any]:
    """The input files by name: local Paths, or URI strings under a URI data_dir (and the
    exported feedback ratings, when the build includes them)."""
    release = [name for name in EXPECTED_COLUMNS if name != "feedback-ratings.csv"]  # not a release's
    if not storage.is_uri(data_dir) and not Path(data_dir).is_dir():
        raise DataError(
            f"{data_dir}: data directory not found; expected a MovieLens release with {', '.join(release)}"
        )
    files: dict[str, Any] = {name: storage.join(data_dir, name) for name in release}
    if posters_path is not None:
        files["posters.csv"] = posters_path if storage.is_uri(posters_path) else Path(posters_path)
    if feedback_path is not None:
        if not storage.is_uri(feedback_path) and not Path(feedback_path).is_file():
            raise DataError(
                f"{feedback_path}: file not found; write it with `python -m offline "
                f"export-feedback` (or build without --include-feedback)"
            )
        files["feedback-ratings.csv"] = (
            feedback_path if storage.is_uri(feedback_path) else Path(feedback_path)
        )
    return files


def local_copies(spark: "SparkSession", files: dict[str, Any], work_dir: Path | str) -> dict[str, Path]:
    """The small files as local paths (copied from cluster storage when they live there)."""
    local: dict[str, Path] = {}
    for name, path in files.items():
        if name in RATINGS_FILES:
            if not storage.is_uri(path):
                local[name] = Path(path)  # its header is checked here; Spark reads the rest
            continue
        if storage.is_uri(path):
            if not storage.exists(spark, path):
                raise DataError(
                    f"{path}: file not found; expected a CSV with columns "
                    f"{','.join(EXPECTED_COLUMNS.get(name) or POSTER_COLUMNS)}"
                )
            base = work_dir if not storage.is_uri(work_dir) else tempfile.gettempdir()
            path = storage.copy_to_local(spark, path, Path(base) / "input-copies" / name)
        local[name] = Path(path)
    return local


def file_key(spark: "SparkSession", path: Path | str) -> str:
    """What identifies a file's content: its sha256, or for cluster storage its status."""
    if not storage.is_uri(path):
        digest = hashlib.sha256()
        with Path(path).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    return json.dumps({"uri": str(path), **storage.status(spark, str(path))}, sort_keys=True)


def read_ratings_frame(spark: "SparkSession", ratings_path: str) -> pd.DataFrame:
    """The Parquet ratings on the driver (pyarrow locally, through Spark from cluster storage)."""
    if not storage.is_uri(ratings_path):
        return spark_ratings.read_local_ratings(ratings_path)
    frame = spark.read.parquet(ratings_path).toPandas()
    return spark_ratings.sort_pairs(
        frame.astype({"user_id": "int32", "movie_id": "int32", "rating": "float32", "timestamp": "int64"})
    )
