"""The trained tables, loaded once, checked against the manifest, and swapped whole on a new build.

`load_store(directory)` reads `trained_data/` into a frozen `Store` (frames, movie records, the
recommender, the search index). `StoreHolder` keeps the current store and replaces it by reference
when the manifest changes (checked at most once per `check_interval` seconds, the new store built
in a background thread) or when `reload()` is called (gunicorn's SIGHUP hook). A request takes one
reference at its start, so it never sees a half-loaded store.

This is a light copy of `offline.publish`'s checks: the web app imports no offline code.
"""
from __future__ import annotations

import csv
import functools
import gc
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

import numpy as np
import pandas as pd

from webapp.movies import Movie, build_movies
from webapp.recommend import Recommender, RecommendationSet
from webapp.search import SearchIndex

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
BUILD_HINT = "build it with `make build` (or `python -m offline build`)"

# Tables the web app needs, with the columns it reads (a manifest may list more).
REQUIRED_TABLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "movies": ("movie_id", "title", "year", "genres", "imdb_id", "tmdb_id", "poster_url"),
    "movie_stats": ("movie_id", "vote_count", "vote_mean", "score", "pool"),
    "popular": ("movie_id", "title", "year", "genres", "vote_count", "vote_mean", "score", "rank"),
    "als_user_factors": ("user_id",),
    "als_item_factors": ("movie_id",),
    "als_user_top": ("user_id", "movie_id", "score", "rank"),
    "als_implicit_item_factors": ("movie_id",),
    "knn_neighbors": ("movie_id", "neighbor_id", "similarity", "rank", "kind"),
})
# Tables the recommender blends in when the build has them.
OPTIONAL_TABLES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "neumf_movie_top_users": ("movie_id", "user_id", "score", "rank"),
    "neumf_user_top": ("user_id", "movie_id", "score", "rank"),
})
TEXT_TABLES = ("movies", "popular")  # read as text: titles like "NaN" or "Null" stay titles
INTEGER_COLUMNS = ("movie_id", "user_id", "neighbor_id", "vote_count", "rank")
# The less-known row's "better known" setting: the first of these minimum rating counts that
# leaves at least LEVEL_MIN_CANDIDATES less-known movies (the source write-ups compared 25 and 100).
KNOWN_THRESHOLDS = (100, 25)
LEVEL_MIN_CANDIDATES = 20
RECOMMENDATION_CACHE = 4096


class TrainedDataError(RuntimeError):
    """trained_data/ is missing, incomplete or corrupt; the message is one line and says the fix.

    A RuntimeError, so that gunicorn (with preload_app) prints just this line and exits.
    """


def _fail(directory: Path, what: str) -> TrainedDataError:
    return TrainedDataError(f"trained data in {directory} cannot be used: {what}; {BUILD_HINT}")


# ---------------------------------------------------------------------------- manifest check
def read_manifest(directory: Path) -> dict[str, Any]:
    """The parsed manifest.json, or TrainedDataError saying what is wrong."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(directory, f"{MANIFEST} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(directory, f"{MANIFEST} is unreadable ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
        raise _fail(directory, f"{MANIFEST} has no 'tables' object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _fail(directory, f"{MANIFEST} format_version is {manifest.get('format_version')!r}, "
                               f"expected {FORMAT_VERSION}")
    if not isinstance(manifest.get("build_id"), str) or not manifest["build_id"]:
        raise _fail(directory, f"{MANIFEST} has no build_id")
    return manifest


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle), [])


def check_table(directory: Path, name: str, entry: Any, needed: Sequence[str]) -> Path:
    """The table's file, after checking it against its manifest entry (sha256, header)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise _fail(directory, f"{MANIFEST} has no file for table {name}")
    path = directory / entry["file"]
    if path.parent != directory or not path.is_file():
        raise _fail(directory, f"table {name} ({entry['file']}) is missing")
    if _sha256(path) != entry.get("sha256"):
        raise _fail(directory, f"table {name} ({entry['file']}) is corrupt: its sha256 differs "
                               f"from the manifest")
    header = _header(path)
    if header != list(entry.get("columns", header)):
        raise _fail(directory, f"table {name} has columns {header}, the manifest says "
                               f"{entry.get('columns')}")
    missing = [c for c in needed if c not in header]
    if missing:
        raise _fail(directory, f"table {name} lacks column(s) {', '.join(missing)}")
    return path


def _read_table(directory: Path, name: str, path: Path, entry: Mapping[str, Any]) -> pd.DataFrame:
    """One table as a frame, with its row count and id columns checked."""
    try:
        if name in TEXT_TABLES:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
            frame = _convert_text_table(frame)
        else:
            frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _fail(directory, f"table {name} cannot be parsed ({str(exc).splitlines()[0]})") from None
    if "rows" in entry and len(frame) != entry["rows"]:
        raise _fail(directory, f"table {name} has {len(frame)} rows, the manifest says {entry['rows']}")
    for column in INTEGER_COLUMNS:
        if column in frame.columns and not pd.api.types.is_integer_dtype(frame[column]):
            raise _fail(directory, f"table {name} column {column} is not all integers")
    return frame


def _convert_text_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed columns for a table read as text (raises ValueError on a malformed number)."""
    out = frame.copy()
    for column in ("movie_id", "vote_count", "rank"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column]).astype("int64")
    for column in ("year", "tmdb_id"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column].replace("", None)).astype("Int64")
    for column in ("vote_mean", "score"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column].replace("", None)).astype("float64")
    return out


def load_tables(directory: Path) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """(manifest, frames by table name) after every check; TrainedDataError otherwise."""
    manifest = read_manifest(directory)
    listed = manifest["tables"]
    absent = [name for name in REQUIRED_TABLES if name not in listed]
    if absent:
        raise _fail(directory, f"{MANIFEST} lists no table {', '.join(absent)}")
    wanted = {**REQUIRED_TABLES, **{k: v for k, v in OPTIONAL_TABLES.items() if k in listed}}
    frames = {}
    for name, needed in wanted.items():
        path = check_table(directory, name, listed[name], needed)
        frames[name] = _read_table(directory, name, path, listed[name])
    if frames["movies"]["movie_id"].duplicated().any():
        raise _fail(directory, "table movies has duplicate movie_id values")
    return manifest, frames


# ---------------------------------------------------------------------------- the store
@dataclass(frozen=True)
class UserTop:
    """als_user_top as arrays sorted by (user, rank); a user's rows found by binary search."""

    user_ids: np.ndarray
    movie_ids: np.ndarray
    scores: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "UserTop":
        ordered = frame.sort_values(["user_id", "rank"], kind="mergesort")
        return cls(ordered["user_id"].to_numpy(np.int64), ordered["movie_id"].to_numpy(np.int64),
                   ordered["score"].to_numpy(np.float64))

    def for_user(self, user_id: int) -> list[tuple[int, float]] | None:
        """(movie_id, predicted rating) best first, or None for an unknown user."""
        lo = int(np.searchsorted(self.user_ids, user_id, "left"))
        hi = int(np.searchsorted(self.user_ids, user_id, "right"))
        if lo == hi:
            return None
        return [(int(m), float(s)) for m, s in zip(self.movie_ids[lo:hi], self.scores[lo:hi])]


@dataclass(frozen=True)
class Factors:
    """A factor table (`<id>,f0..f{k-1}`) as an id -> row lookup and a matrix."""

    rows: Mapping[int, int]
    matrix: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, id_column: str) -> "Factors":
        cols = sorted((c for c in frame.columns if c[:1] == "f" and c[1:].isdigit()),
                      key=lambda c: int(c[1:]))
        ids = frame[id_column].to_numpy(np.int64)
        return cls({int(i): n for n, i in enumerate(ids)}, frame[cols].to_numpy(np.float64))

    def get(self, key: int) -> np.ndarray | None:
        row = self.rows.get(key)
        return None if row is None else self.matrix[row]


def less_known_levels(stats: pd.DataFrame, floor: int) -> dict[str, int]:
    """Minimum rating counts of the less-known row: 'gems' (the pool's floor) and 'known'."""
    counts = stats.loc[stats["pool"] == "less_known", "vote_count"]
    for threshold in KNOWN_THRESHOLDS:
        if threshold > floor and int((counts >= threshold).sum()) >= LEVEL_MIN_CANDIDATES:
            return {"gems": floor, "known": threshold}
    median = int(counts.median()) if len(counts) else floor
    return {"gems": floor, "known": max(floor + 1, median)}


@dataclass(frozen=True)
class Store:
    """One loaded build: frames, movie records, recommender, search index. Never mutated."""

    directory: Path
    manifest: Mapping[str, Any]
    tables: Mapping[str, pd.DataFrame]
    movies: Mapping[int, Movie]
    catalog: tuple[Movie, ...]  # the `popular` table, rank order
    genres: tuple[str, ...]  # genres of the catalog, sorted
    recommender: Recommender
    search_index: SearchIndex
    user_top: UserTop
    user_factors: Factors
    item_factors: Factors
    levels: Mapping[str, int]
    manifest_stamp: tuple[int, int, int]
    loaded_at: float = field(default_factory=time.time)
    _cache: Callable[..., RecommendationSet] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        cached = functools.lru_cache(maxsize=RECOMMENDATION_CACHE)(self._recommend)
        object.__setattr__(self, "_cache", cached)

    @property
    def build_id(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def dataset(self) -> str:
        """The MovieLens release the build used ("ml-latest-small"), for the credits."""
        data_dir = self.manifest.get("input", {}).get("data_dir") or "ml-latest-small"
        return Path(str(data_dir)).name

    def movie(self, movie_id: int) -> Movie | None:
        return self.movies.get(movie_id)

    def knows(self, movie_id: int) -> bool:
        """True for a movie the picks may name."""
        return movie_id in self.movies and self.recommender.knows(movie_id)

    def search(self, query: str, limit: int = 10, genre: str | None = None) -> list[Movie]:
        """Movies whose title matches, best first; optionally of one genre."""
        ids = self.search_index.search(query, limit if not genre else len(self.search_index))
        found = [self.movies[i] for i in ids]
        if genre:
            found = [m for m in found if genre in m.genres]
        return found[:limit]

    def recommend(self, picks: Sequence[int], min_count: int | None = None) -> RecommendationSet:
        """The recommender's ten for three picks (InvalidPicksError on bad picks); memoised."""
        return self._cache(tuple(int(p) for p in picks),
                           self.levels["gems"] if min_count is None else int(min_count))

    def _recommend(self, picks: tuple[int, ...], min_count: int) -> RecommendationSet:
        return self.recommender.recommend_for_picks(list(picks), less_known_min_count=min_count)

    def user_recommendations(self, user_id: int) -> list[tuple[Movie, float]] | None:
        """A known user's precomputed top N (als_user_top) with predicted ratings, or None."""
        rows = self.user_top.for_user(user_id)
        if rows is None:
            return None
        return [(self.movies[m], s) for m, s in rows if m in self.movies]

    def predicted_rating(self, user_id: int, movie_id: int) -> float | None:
        """ALS predicted rating (user . item factors, clipped to 0.5..5), or None if either is unknown."""
        user, item = self.user_factors.get(user_id), self.item_factors.get(movie_id)
        if user is None or item is None or len(user) != len(item):
            return None
        return float(np.clip(float(user @ item), 0.5, 5.0))


def _manifest_stamp(directory: Path) -> tuple[int, int, int]:
    """(mtime_ns, size, inode) of the manifest; (0, 0, 0) when it is missing."""
    try:
        st = os.stat(directory / MANIFEST)
    except OSError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def load_store(directory: Path | str) -> Store:
    """Read and check trained_data/ and build every index; TrainedDataError when it is unusable."""
    directory = Path(directory).absolute()
    if not directory.is_dir():
        raise _fail(directory, "the folder does not exist")
    stamp = _manifest_stamp(directory)
    manifest, frames = load_tables(directory)
    movies = build_movies(frames["movies"], frames["movie_stats"])
    catalog = tuple(movies[int(m)] for m in
                    frames["popular"].sort_values("rank", kind="mergesort")["movie_id"]
                    if int(m) in movies)
    floor = int(manifest.get("config", {}).get("pools", {}).get("less_known_min_count", 5))
    levels = less_known_levels(frames["movie_stats"], floor)
    try:
        recommender = Recommender.from_tables(frames, less_known_min_count=levels["gems"])
    except (KeyError, ValueError, IndexError) as exc:
        raise _fail(directory, f"the recommender cannot use these tables ({exc})") from None
    return Store(
        directory=directory,
        manifest=MappingProxyType(manifest),
        tables=MappingProxyType(frames),
        movies=MappingProxyType(movies),
        catalog=catalog,
        genres=tuple(sorted({g for m in catalog for g in m.genres})),
        recommender=recommender,
        search_index=SearchIndex([(m.movie_id, m.title, m.rating_count) for m in movies.values()]),
        user_top=UserTop.from_frame(frames["als_user_top"]),
        user_factors=Factors.from_frame(frames["als_user_factors"], "user_id"),
        item_factors=Factors.from_frame(frames["als_item_factors"], "movie_id"),
        levels=MappingProxyType(levels),
        manifest_stamp=stamp,
    )


# ---------------------------------------------------------------------------- hot reload
class StoreHolder:
    """The current store; picks up a new build without a restart, never exposing a partial one."""

    def __init__(self, directory: Path | str, *, check_interval: float = 1.0,
                 loader: Callable[[Path], Store] = load_store) -> None:
        self.directory = Path(directory).absolute()  # not resolve(): a symlink may be re-pointed
        self.check_interval = check_interval
        self._loader = loader
        self._store = loader(self.directory)  # start-up: errors propagate
        self._lock = threading.Lock()
        self._loading = threading.Event()
        self._next_check = time.monotonic() + check_interval
        self._failed_stamp: tuple[int, int, int] | None = None

    def get(self) -> Store:
        """The current store (and, at most once per interval, a look at whether a new build exists)."""
        now = time.monotonic()
        if self.check_interval >= 0 and now >= self._next_check and not self._loading.is_set():
            self._next_check = now + self.check_interval
            stamp = _manifest_stamp(self.directory)
            if stamp not in (self._store.manifest_stamp, self._failed_stamp, (0, 0, 0)):
                self._loading.set()
                threading.Thread(target=self._reload_in_background, name="store-reload",
                                 daemon=True).start()
        return self._store

    def reload(self) -> bool:
        """Load the folder now (e.g. on SIGHUP); True when a new build was swapped in."""
        with self._lock:
            stamp = _manifest_stamp(self.directory)
            try:
                fresh = self._loader(self.directory)
            except TrainedDataError as exc:
                self._failed_stamp = stamp
                log.warning("keeping trained data %s: %s", self._store.build_id, exc)
                return False
            old, self._store = self._store, fresh  # one reference swap
            self._failed_stamp = None
            if gc.get_freeze_count():  # the server froze the loaded tables (gunicorn_conf.when_ready):
                gc.unfreeze()  # let the old store be collected, and freeze the new one
                gc.collect()
                gc.freeze()
        if fresh.build_id != old.build_id:
            log.info("loaded trained data %s (was %s)", fresh.build_id, old.build_id)
        return True

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until a background reload (if any) has finished (for tests and tools)."""
        deadline = time.monotonic() + timeout
        while self._loading.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)

    def _reload_in_background(self) -> None:
        try:
            self.reload()
        finally:
            self._loading.clear()
