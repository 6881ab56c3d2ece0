"""Fixtures for the web app: a small synthetic trained_data/ folder (CSV tables + manifest.json
with sha256s, in the format of docs/architecture.md), and the app, client and store built on it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from offline import publish  # standard library + pandas only: allowed in web tests
from webapp import create_app, store_holder
from webapp.schema import INSIGHT_TABLES

POSTER = "https://image.tmdb.org/t/p/w500/{}.jpg"
# (title, year, genres, poster) — titles with quotes, ampersands, markup and accents on purpose.
TITLES: list[tuple[str, int | None, str, bool]] = [
    ("The Shawshank Redemption", 1994, "Crime|Drama", True),
    ("Forrest Gump", 1994, "Comedy|Drama|Romance|War", True),
    ("Pulp Fiction", 1994, "Comedy|Crime|Drama|Thriller", True),
    ("The Matrix", 1999, "Action|Sci-Fi|Thriller", True),
    ("Amélie", 2001, "Comedy|Romance", True),
    ('Say "Cheese" & Run', 2003, "Comedy", True),
    ("<b>Bold</b> & <script>alert(1)</script>", 2010, "Horror", False),
    ("Toy Story", 1995, "Adventure|Animation|Children|Comedy|Fantasy", True),
    ("Léon: The Professional", 1994, "Action|Crime|Drama|Thriller", True),
    ("Spider-Man", 2002, "Action|Adventure|Sci-Fi|Thriller", True),
    ("Schindler's List", 1993, "Drama|War", True),
    ("The Godfather", 1972, "Crime|Drama", True),
    ("Crouching Tiger, Hidden Dragon", 2000, "Action|Drama|Romance", True),
    ("Heat", 1995, "Action|Crime|Thriller", True),
    ("Jumanji", 1995, "Adventure|Children|Fantasy", True),
    ("Grumpier Old Men", 1995, "Comedy|Romance", True),
    ("Waiting to Exhale", 1995, "Comedy|Drama|Romance", True),
    ("Father of the Bride Part II", 1995, "Comedy", True),
    ("Sabrina", 1995, "Comedy|Romance", True),
    ("Tom and Huck", 1995, "Adventure|Children", True),
    ("Sudden Death", 1995, "Action", True),
    ("GoldenEye", 1995, "Action|Adventure|Thriller", True),
    ("The American President", 1995, "Comedy|Drama|Romance", True),
    ("Dracula: Dead and Loving It", 1995, "Comedy|Horror", True),
    ("Balto", 1995, "Adventure|Animation|Children", False),
    ("Nixon", 1995, "Drama", True),
    ("Cutthroat Island", 1995, "Action|Adventure|Romance", True),
    ("Casino", 1995, "Crime|Drama", True),
    ("Sense and Sensibility", 1995, "Drama|Romance", True),
    ("Four Rooms", 1995, "Comedy", True),
    ("Ace Ventura: When Nature Calls", 1995, "Comedy", True),
    ("Money Train", 1995, "Action|Comedy|Crime|Drama|Thriller", True),
    ("Get Shorty", 1995, "Comedy|Crime|Thriller", True),
    ("Copycat", 1995, "Crime|Drama|Horror|Mystery|Thriller", True),
    ("Assassins", 1995, "Action|Crime|Thriller", True),
    ("Powder", 1995, "Drama|Sci-Fi", True),
    ("Leaving Las Vegas", 1995, "Drama|Romance", True),
    ("Othello", 1995, "Drama", True),
    ("Now and Then", 1995, "Children|Drama", True),
    ("Persuasion", 1995, "Drama|Romance", True),
    ("Untitled Project", None, "", False),  # no year, no genres, no poster
    ("NaN", 2018, "Documentary", True),  # a title pandas would read as missing
    ("Çà et là, Øresund æon", 2005, "Drama", True),
    ("Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb", 1964, "Comedy|War", True),
]
MOVIE_IDS = [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
    26,
    27,
    28,
    29,
    30,
    31,
    32,
    33,
    34,
    35,
    36,
    37,
    38,
    39,
    40,
    41,
    42,
    43,
    193609,
]
N_POPULAR = 14  # movies 1..14 are the popular pool and the catalog
N_USERS = 8
K = 4
BUILD_ID = "synthetic000001"

UNRATED_ID = 43  # in movies, not in movie_stats
XSS_ID = 7
AMELIE_ID = 5
NO_POSTER_ID = 41


class BufferedClient(FlaskClient):
    """The test client, reading each response whole and closing it (a file served by send_file
    stays open until its response is closed: unclosed, it is a ResourceWarning, and any warning
    fails the tests). Every app the tests create uses it."""

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> Any:
        return super().open(*args, buffered=buffered, **kwargs)


Flask.test_client_class = BufferedClient


def _counts() -> dict[int, int]:
    """Rating counts: popular 400..270, less known 60..5, a few rare, movie 43 never rated."""
    counts = {}
    for n, movie_id in enumerate(MOVIE_IDS):
        if movie_id == UNRATED_ID:
            continue
        if n < N_POPULAR:
            counts[movie_id] = 400 - 10 * n
        elif n < 38:
            counts[movie_id] = max(5, 60 - 2 * (n - N_POPULAR) - (n % 3))
        else:
            counts[movie_id] = 2
    return counts


def make_tables(seed: int = 0, insights: bool = True) -> dict[str, pd.DataFrame]:
    """The synthetic trained tables, by name; without the insights tables when insights=False
    (a build made before stage `insights` existed)."""
    rng = np.random.default_rng(seed)
    ids = MOVIE_IDS
    movies = pd.DataFrame(
        {
            "movie_id": ids,
            "title": [t[0] for t in TITLES],
            "year": pd.array([t[1] for t in TITLES], dtype="Int64"),
            "genres": [t[2] for t in TITLES],
            "imdb_id": [f"{100000 + m:07d}" for m in ids],
            "tmdb_id": pd.array([None if m == NO_POSTER_ID else 800 + m for m in ids], dtype="Int64"),
            "poster_url": [POSTER.format(f"poster{m}") if t[3] else "" for m, t in zip(ids, TITLES)],
        }
    )
    counts = _counts()
    rated = sorted(counts)
    pool = {
        m: "popular" if i < N_POPULAR else ("less_known" if counts[m] >= 5 else "rare")
        for i, m in enumerate(m for m in ids if m in counts)
    }
    means = {m: round(3.0 + (m % 7) / 4, 4) for m in rated}
    stats = pd.DataFrame(
        {
            "movie_id": rated,
            "vote_count": [counts[m] for m in rated],
            "vote_mean": [means[m] for m in rated],
            "score": [round(means[m] * counts[m] / 400, 6) for m in rated],
            "pool": [pool[m] for m in rated],
        }
    )
    popular_ids = ids[:N_POPULAR]
    by_title = movies.set_index("movie_id")
    popular = pd.DataFrame(
        {
            "movie_id": popular_ids,
            "title": [by_title.at[m, "title"] for m in popular_ids],
            "year": pd.array([by_title.at[m, "year"] for m in popular_ids], dtype="Int64"),
            "genres": [by_title.at[m, "genres"] for m in popular_ids],
            "vote_count": [counts[m] for m in popular_ids],
            "vote_mean": [means[m] for m in popular_ids],
            "score": [round(1 - n / 100, 6) for n in range(N_POPULAR)],
            "rank": list(range(1, N_POPULAR + 1)),
        }
    )
    raters = fixture_raters(counts)  # co_raters: counted from the ratings fixture, as the build does
    knn = pd.DataFrame(
        [
            (
                m,
                n,
                round(0.9 - 0.1 * r, 6),
                r + 1,
                "cf" if counts[m] >= 5 else "content",
                len(raters[m] & raters[n]),
            )
            for i, m in enumerate(rated)
            for r, n in enumerate(rated[(i + step) % len(rated)] for step in (1, 3, 7, 15, 17, 22))
        ],
        columns=["movie_id", "neighbor_id", "similarity", "rank", "kind", "co_raters"],
    )
    ease = pd.DataFrame(  # EASE weights: other neighbours than kNN's, co_raters counted the same way
        [
            (m, n, round(0.05 / (r + 1), 6), r + 1, len(raters[m] & raters[n]))
            for i, m in enumerate(rated)
            for r, n in enumerate(rated[(i + step) % len(rated)] for step in (2, 5, 11))
        ],
        columns=["movie_id", "neighbor_id", "weight", "rank", "co_raters"],
    )
    item = rng.normal(scale=0.8, size=(len(rated), K))
    user = rng.normal(scale=0.8, size=(N_USERS, K)) + 1.0
    factor_cols = [f"f{i}" for i in range(K)]
    item_factors = pd.DataFrame(item.round(6), columns=factor_cols)
    item_factors.insert(0, "movie_id", rated)
    user_ids = list(range(1, N_USERS + 1))
    user_factors = pd.DataFrame(user.round(6), columns=factor_cols)
    user_factors.insert(0, "user_id", user_ids)
    predicted = np.clip(user @ item.T, 0.5, 5.0)
    top = [
        (u, rated[j], round(float(predicted[n, j]), 6), r + 1)
        for n, u in enumerate(user_ids)
        for r, j in enumerate(np.argsort(-predicted[n])[:5])
    ]
    implicit = pd.DataFrame(rng.normal(size=(len(rated), K)).round(6), columns=factor_cols)
    implicit.insert(0, "movie_id", rated)
    less_known = [m for m in rated if pool[m] == "less_known"]
    movie_top_users = pd.DataFrame(
        [(m, (m + j) % N_USERS + 1, round(0.9 - 0.2 * j, 6), j + 1) for m in rated for j in range(2)],
        columns=["movie_id", "user_id", "score", "rank"],
    )
    user_top_lk = pd.DataFrame(
        [
            (u, less_known[(u * 3 + j) % len(less_known)], round(0.8 - 0.1 * j, 6), j + 1)
            for u in user_ids
            for j in range(4)
        ],
        columns=["user_id", "movie_id", "score", "rank"],
    )
    tables = {
        "movies": movies,
        "movie_stats": stats,
        "popular": popular,
        "als_user_factors": user_factors,
        "als_item_factors": item_factors,
        "als_user_top": pd.DataFrame(top, columns=["user_id", "movie_id", "score", "rank"]),
        "als_implicit_item_factors": implicit,
        "knn_neighbors": knn,
        "ease_neighbors": ease,
        "neumf_movie_top_users": movie_top_users,
        "neumf_user_top": user_top_lk,
    }
    if insights:
        tables.update(insight_tables(fixture_ratings(counts), movies, stats))
    return tables


# ---------------------------------------------------------------------------- insights
RATING_VALUES = np.arange(1, 11) / 2  # 0.5 .. 5.0
N_RATERS = 500
POLARISING_MIN = 20  # the manifest's metrics.insights.polarising_min_ratings for the fixture
CATALOG_SIZE = N_POPULAR
INSIGHT_METRICS = {
    "polarising_min_ratings": POLARISING_MIN,
    "C": 3.5,
    "m": 40.0,
    "catalog_size": CATALOG_SIZE,
    "low_rating": 2.0,
    "high_rating": 4.5,
}
INSIGHT_TABLE_NAMES = tuple(INSIGHT_TABLES)


def fixture_raters(counts: dict[int, int] | None = None) -> dict[int, set[int]]:
    """Who rated each movie in the ratings fixture (the brute-force side of the reasons'
    evidence: knn_neighbors.co_raters is counted from it)."""
    ratings = fixture_ratings(_counts() if counts is None else counts)
    return {int(m): set(users.tolist()) for m, users in ratings.groupby("movie_id")["user_id"]}


def fixture_ratings(counts: dict[int, int], seed: int = 3) -> pd.DataFrame:
    """Seeded ratings with exactly each movie's rating count (movie_stats.vote_count), spread
    over 1996..2005; odd movies split their ratings between 1 and 5 stars (polarising)."""
    rng = np.random.default_rng(seed)
    start, end = 820454400, 1136073599  # 1996-01-01 .. 2005-12-31 UTC
    activity = 1 / np.arange(1, N_RATERS + 1) ** 0.9  # a few users rate much more than most
    activity /= activity.sum()
    frames = []
    for movie_id, count in sorted(counts.items()):
        if movie_id % 2:
            probs = np.array([2, 6, 1, 3, 1, 2, 1, 3, 4, 7], dtype=float)
        else:
            probs = np.array([0, 1, 1, 2, 3, 6, 8, 10, 5, 3], dtype=float)
        frames.append(
            pd.DataFrame(
                {
                    "user_id": rng.choice(np.arange(1, N_RATERS + 1), size=count, replace=False, p=activity),
                    "movie_id": movie_id,
                    "rating": rng.choice(RATING_VALUES, size=count, p=probs / probs.sum()),
                    "timestamp": rng.integers(start, end, size=count),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def insight_tables(
    ratings: pd.DataFrame, movies: pd.DataFrame, stats: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The insights tables of these ratings, worked out with pandas alone (the stage uses Spark)."""
    day = pd.to_datetime(ratings["timestamp"], unit="s", utc=True)
    r = ratings.assign(month=day.dt.strftime("%Y-%m"), year=day.dt.year)
    genres = movies[["movie_id", "genres"]].assign(genre=movies["genres"].str.split("|")).explode("genre")
    genres = genres[genres["genre"].fillna("") != ""][["movie_id", "genre"]]
    rg = r.merge(genres, on="movie_id")

    def by(frame: pd.DataFrame, keys: list[str], mean: bool) -> pd.DataFrame:
        out = frame.groupby(keys, sort=True)["rating"].agg(["size", "mean"]).reset_index()
        out = out.rename(columns={"size": "ratings", "mean": "mean_rating"})
        return out if mean else out.drop(columns="mean_rating")

    per_movie = r.groupby("movie_id")["rating"]
    moments = pd.DataFrame(
        {
            "ratings": per_movie.size(),
            "mean_rating": per_movie.mean(),
            "stddev": per_movie.std(ddof=0),
            "low_share": per_movie.apply(lambda v: (v <= 2.0).mean()),
            "high_share": per_movie.apply(lambda v: (v >= 4.5).mean()),
        }
    ).reset_index()
    polar = (
        moments[moments["ratings"] >= POLARISING_MIN]
        .sort_values(["stddev", "ratings", "movie_id"], ascending=[False, False, True])
        .head(20)
    )
    polar = polar.assign(rank=np.arange(1, len(polar) + 1)).reset_index(drop=True)
    per_user = r.groupby("user_id").size()
    k = np.floor(np.log2(per_user.to_numpy())).astype(int)  # small counts: exact
    users = (
        pd.DataFrame({"k": k, "n": per_user.to_numpy()})
        .groupby("k")
        .agg(users=("n", "size"), ratings=("n", "sum"))
        .reset_index()
    )
    users = pd.DataFrame(
        {
            "min_ratings": 2 ** users["k"],
            "max_ratings": 2 ** (users["k"] + 1) - 1,
            "users": users["users"],
            "ratings": users["ratings"],
        }
    )
    order = stats.sort_values(["vote_count", "movie_id"], ascending=[False, True])
    tail = pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "ratings": order["vote_count"].to_numpy(),
            "pool": order["pool"].to_numpy(),
            "cumulative_share": order["vote_count"].cumsum().to_numpy() / order["vote_count"].sum(),
        }
    )
    by_score = stats.sort_values(["score", "vote_count", "movie_id"], ascending=[False, False, True])
    by_mean = stats.sort_values(["vote_mean", "vote_count", "movie_id"], ascending=[False, False, True])
    ranks = stats.set_index("movie_id")[["vote_count", "vote_mean", "score"]]
    ranks["score_rank"] = pd.Series(np.arange(1, len(stats) + 1), index=by_score["movie_id"].to_numpy())
    ranks["mean_rank"] = pd.Series(np.arange(1, len(stats) + 1), index=by_mean["movie_id"].to_numpy())
    effect = ranks[(ranks["score_rank"] <= CATALOG_SIZE) | (ranks["mean_rank"] <= CATALOG_SIZE)]
    effect = effect.reset_index().sort_values("score_rank").reset_index(drop=True)
    return {
        "ratings_by_month": by(r, ["month"], True),
        "genre_ratings_by_month": by(rg, ["genre", "month"], True),
        "rating_distribution": by(r, ["rating"], False),
        "genre_rating_distribution": by(rg, ["genre", "rating"], False),
        "ratings_per_user": users,
        "ratings_per_movie": tail,
        "polarising_movies": polar[
            ["movie_id", "ratings", "mean_rating", "stddev", "low_share", "high_share", "rank"]
        ],
        "weighting_effect": effect[
            ["movie_id", "vote_count", "vote_mean", "score", "score_rank", "mean_rank"]
        ],
        "movie_ratings_by_year": per_movie_counts(by(r, ["movie_id", "year"], False), "year", 1),
        "movie_rating_histogram": per_movie_counts(by(r, ["movie_id", "rating"], False), "rating", 0.5),
    }


def per_movie_counts(long: pd.DataFrame, key: str, step: float) -> pd.DataFrame:
    """A long (movie_id, key, ratings) table as the stage writes it: one row per movie, its counts
    from the first key (a year; half a star for ratings, always) to the last, as text."""
    rows = []
    for movie_id, group in long.groupby("movie_id", sort=True):
        counts = dict(zip(group[key], group["ratings"]))
        first, last = (min(counts), max(counts)) if key == "year" else (0.5, 5.0)
        keys = np.arange(first, last + step / 2, step)
        rows.append((movie_id, int(first), " ".join(str(int(counts.get(k, 0))) for k in keys)))
    frame = pd.DataFrame(rows, columns=["movie_id", "first_year", "counts"])
    return frame if key == "year" else frame.drop(columns="first_year")


LESS_KNOWN_FLOOR = 5  # the manifest's config.pools.less_known_min_count


def expected_levels(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    """The less-known row's two settings by the rule docs/api.md states, from the tables: "gems"
    is the pool's floor; "known" is 100 when at least 20 less-known movies have 100 ratings, else
    25 on the same terms, else the pool's median count."""
    stats = tables["movie_stats"]
    counts = stats.loc[stats["pool"] == "less_known", "vote_count"]
    for threshold in (100, 25):
        if (counts >= threshold).sum() >= 20:
            return {"gems": LESS_KNOWN_FLOOR, "known": threshold}
    return {"gems": LESS_KNOWN_FLOOR, "known": int(counts.median())}


BUILD_METRICS = {
    "als": {
        "test_rmse": 0.8712,
        "test_mae": 0.6698,
        "bias_test_rmse": 0.8893,
        "bias_test_mae": 0.6801,
        "global_mean_test_rmse": 1.0432,
        "global_mean_test_mae": 0.8333,
        "rank": 12,
    },
    "popular": {"C": 3.5, "m": 40.0, "catalog_size": N_POPULAR},
}


def write_manifest(directory: Path, entries: dict[str, dict], build_id: str | None = None) -> dict:
    """manifest.json over table entries (the documented format, build_id as offline.publish makes
    it), with stage metrics (the insights stage's only when its tables are there)."""
    metrics = dict(BUILD_METRICS)
    if all(name in entries for name in INSIGHT_TABLE_NAMES):
        metrics["insights"] = INSIGHT_METRICS
    manifest = {
        "format_version": 1,
        "build_id": build_id or publish.build_id(entries),
        "created_at": "2025-01-01T00:00:00Z",
        "seed": 42,
        "config": {"pools": {"popular_share": 0.1, "less_known_min_count": LESS_KNOWN_FLOOR}},
        "input": {"data_dir": "data/ml-latest-small", "rows": {"ratings": 5000, "movies": 44, "users": 500}},
        "stages": {"movies": {"seconds": 0.1, "rows": 44}, "popular": {"seconds": 1.2, "rows": 57}},
        "metrics": metrics,
        "tables": entries,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def write_trained_data(
    directory: Path, tables: dict[str, pd.DataFrame] | None = None, build_id: str | None = BUILD_ID
) -> Path:
    """Write the tables with the offline build's own writer (CSV, LF, fixed floats) + manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    tables = make_tables() if tables is None else tables
    entries = {}
    for name, frame in tables.items():
        entries[name] = {**publish.write_table(frame, directory / f"{name}.csv"), "stage": "synthetic"}
    write_manifest(directory, entries, build_id)
    return directory


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only-by-convention synthetic trained_data folder shared by the session."""
    return write_trained_data(tmp_path_factory.mktemp("trained_data"))


@pytest.fixture
def trained_copy(trained_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic folder, for tests that break or rebuild it."""
    return Path(shutil.copytree(trained_dir, tmp_path / "trained_data"))


@pytest.fixture(scope="session")
def app(trained_dir: Path):
    """The app on the synthetic folder (reload checks off: tests call reload() themselves)."""
    return create_app(
        {
            "TESTING": True,
            "TRAINED_DATA": str(trained_dir),
            "SECRET_KEY": "test",
            "RELOAD_INTERVAL": -1,
            "RATE_LIMIT_ADDRESS": 0,  # every test is 127.0.0.1
            "DATABASE_PATH": str(trained_dir.parent / "feedback.sqlite3"),
        }
    )


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def store(app):
    return store_holder(app).get()


@pytest.fixture
def csrf_token(client) -> Callable[[], str]:
    """A function returning a valid CSRF token for this client's session (from the picker page)."""
    import re

    def token() -> str:
        html = client.get("/").get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    return token


@pytest.fixture
def fresh_app_factory(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Build apps on other folders (reload tests)."""
    yield lambda directory, **config: create_app(
        {
            "TESTING": True,
            "TRAINED_DATA": str(directory),
            "SECRET_KEY": "test",
            "RELOAD_INTERVAL": -1,
            **config,
        }
    )
