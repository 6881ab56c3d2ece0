"""`python -m offline synth`: a seeded, MovieLens-shaped release of any size, streamed to disk.

The full releases cannot be fetched everywhere (CI, an offline machine), and benchmarks need
sizes between the bundled 100,836 ratings and ml-32m. This writes the four CSV files of a
release (`ratings.csv`, `movies.csv`, `links.csv`, `tags.csv`, same headers and formats) with the
real data's shape:

- long-tailed movie popularity (Zipf-like weights, so a few movies have most ratings) and long-
  tailed user activity (log-normal, at least `MIN_RATINGS_PER_USER` ratings per user);
- half-star ratings from a latent model (global mean + user bias + movie bias + taste product +
  noise), so explicit models have something to fit;
- a taste structure that collaborative models can learn: every user belongs to one of
  `TASTES` groups (and strays into a second), each group prefers movies of its own genres, and
  which movies a user rates follows the group's preference — so co-occurrence (kNN), implicit
  ALS and NeuMF all find neighbours and factors that mean something;
- timestamps that increase down each user's rows, with users' first ratings increasing by user id;
- titles with commas, quotes, trailing articles and years, as in movies.csv ("Usual Suspects,
  The (1995)"), CSV-quoted; genres from the 19 MovieLens genres, some "(no genres listed)";
- non-contiguous movie ids, links with zero-padded IMDb ids and some empty TMDB ids, a few tags.

Memory stays bounded: users are generated and written in chunks, so 25 million ratings never
exist as Python lists (the per-movie and per-group arrays are the only full-size state).
Same seed and arguments: byte-identical files.
"""

from __future__ import annotations

import csv
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
NO_GENRES = "(no genres listed)"
MIN_RATINGS_PER_USER = 20
TASTES = 24  # latent taste groups
DIM = 8  # latent taste dimensions of the rating model
STRAY_SHARE = 0.25  # share of a user's ratings drawn from a second taste group
USER_CHUNK = 4096
WORDS = (
    "Night",
    "City",
    "Love",
    "Story",
    "Man",
    "Woman",
    "Dark",
    "Last",
    "Return",
    "House",
    "King",
    "Girl",
    "Blood",
    "Time",
    "Dead",
    "Star",
    "Game",
    "Dream",
    "Secret",
    "War",
    "Summer",
    "Island",
    "Ghost",
    "River",
    "Heart",
    "Road",
    "Sky",
    "Fire",
    "Money",
    "Angel",
    "Winter",
    "Shadow",
    "Song",
    "Murder",
    "Paris",
    "Lost",
    "Wild",
    "Blue",
    "Black",
    "Gold",
)
ARTICLES = ("The", "A", "An", "Les", "La", "Le", "Die", "El")
START_TS = 820_454_400  # 1996-01-01
END_TS = 1_700_000_000  # 2023-11


@dataclass(frozen=True)
class SynthSize:
    """How many ratings, users and movies (users and movies default to the ml-25m ratios)."""

    ratings: int
    users: int
    movies: int

    @classmethod
    def for_ratings(cls, ratings: int, users: int | None = None, movies: int | None = None) -> "SynthSize":
        """ml-25m has ~154 ratings per user and ~62k movies at 25M ratings (12.5 * sqrt(N))."""
        if ratings < MIN_RATINGS_PER_USER * 2:
            raise ValueError(f"--ratings must be at least {MIN_RATINGS_PER_USER * 2}, got {ratings}")
        users = users or max(2, ratings // 154)
        # A user rates at most a third of the movies (user_activity), so the default has at least
        # 3 * ratings / users of them: below about 1,500 ratings 12.5 * sqrt(N) alone is too few.
        movies = movies or max(50, int(round(12.5 * math.sqrt(ratings))), 3 * -(-ratings // users))
        if users * MIN_RATINGS_PER_USER > ratings:
            raise ValueError(
                f"{users} users need at least {users * MIN_RATINGS_PER_USER} ratings "
                f"({MIN_RATINGS_PER_USER} each); got {ratings}"
            )
        if movies < 2 * MIN_RATINGS_PER_USER:
            raise ValueError(f"--movies must be at least {2 * MIN_RATINGS_PER_USER}, got {movies}")
        cap = per_user_cap(movies)
        if users * cap < ratings:  # checked here, before anything is written
            raise ValueError(
                f"{movies} movies are too few for {ratings} ratings from {users} users "
                f"(at most {cap} per user); pass more --movies"
            )
        return cls(int(ratings), int(users), int(movies))


def per_user_cap(movies: int) -> int:
    """The most ratings one user gets: a third of the movies (at least the minimum)."""
    return max(MIN_RATINGS_PER_USER, movies // 3)


@dataclass(frozen=True)
class World:
    """The latent structure every file is drawn from."""

    movie_ids: np.ndarray  # sorted, non-contiguous
    popularity: np.ndarray  # per movie, sums to 1 (Zipf-like)
    genre_mask: np.ndarray  # movies x genres, bool
    taste_genres: np.ndarray  # tastes x genres, preference weights
    group_cdf: np.ndarray  # tastes x movies: cumulative choice probabilities of each group
    movie_vec: np.ndarray  # movies x DIM
    movie_bias: np.ndarray
    taste_vec: np.ndarray  # tastes x DIM
    years: np.ndarray


def user_activity(size: SynthSize, rng: np.random.Generator) -> np.ndarray:
    """Ratings per user: log-normal above the minimum, summing to exactly `size.ratings`."""
    cap = per_user_cap(size.movies)
    raw = rng.lognormal(mean=0.0, sigma=1.4, size=size.users) - 0.15
    raw = np.maximum(raw, 0.0)
    extra_total = size.ratings - MIN_RATINGS_PER_USER * size.users
    extra = np.floor(raw / raw.sum() * extra_total).astype(np.int64)
    counts = np.minimum(MIN_RATINGS_PER_USER + extra, cap)
    short = size.ratings - int(counts.sum())
    room = cap - counts
    if short > room.sum():
        raise ValueError(
            f"{size.movies} movies are too few for {size.ratings} ratings from "
            f"{size.users} users (at most {cap} per user); pass more --movies"
        )
    # hand out the remainder one by one to users with room, heaviest first (deterministic)
    order = np.argsort(-counts, kind="stable")
    while short > 0:
        take = order[room[order] > 0][:short]
        counts[take] += 1
        room[take] -= 1
        short -= len(take)
    return counts


def make_world(size: SynthSize, rng: np.random.Generator) -> World:
    """Movies (ids, popularity, genres, years, latent vectors) and the taste groups."""
    n = size.movies
    movie_ids = np.sort(rng.choice(np.arange(1, 3 * n + 10), size=n, replace=False))
    # Zipf-like popularity over a random order of the movies (ids say nothing about popularity)
    rank = rng.permutation(n) + 1
    popularity = 1.0 / (rank + 30.0) ** 1.6
    popularity /= popularity.sum()
    n_genres = len(GENRES)
    genre_weights = np.linspace(2.0, 0.4, n_genres)[rng.permutation(n_genres)]
    genre_p = genre_weights / genre_weights.sum()
    counts = np.clip(rng.poisson(1.3, size=n) + 1, 1, 5)
    genre_mask = np.zeros((n, n_genres), dtype=bool)
    for k in range(1, 6):
        rows = np.flatnonzero(counts == k)
        if rows.size:
            # k distinct genres per row: the k smallest of Gumbel-perturbed log weights
            keys = np.log(genre_p)[None, :] + rng.gumbel(size=(rows.size, n_genres))
            chosen = np.argsort(-keys, axis=1)[:, :k]
            genre_mask[rows[:, None], chosen] = True
    genre_mask[rng.random(n) < 0.01] = False  # "(no genres listed)"
    taste_genres = rng.dirichlet(np.full(n_genres, 0.3), size=TASTES)
    affinity = 0.15 + genre_mask.astype(np.float64) @ taste_genres.T * 6.0  # movies x tastes
    affinity *= rng.lognormal(0.0, 0.6, size=affinity.shape)  # each group's own favourites
    weights = affinity.T * popularity[None, :]
    group_cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    group_cdf[:, -1] = 1.0
    taste_vec = rng.normal(0.0, 0.4, size=(TASTES, DIM))
    movie_vec = (np.log(affinity) - np.log(affinity).mean(axis=1, keepdims=True)) @ rng.normal(
        0.0, 0.05, size=(TASTES, DIM)
    ) + rng.normal(0.0, 0.2, size=(n, DIM))
    movie_bias = rng.normal(0.0, 0.3, size=n) + 0.05 * np.log(popularity * n)
    years = np.clip(np.round(2015 - rng.gamma(2.0, 9.0, size=n)), 1902, 2023).astype(int)
    return World(
        movie_ids, popularity, genre_mask, taste_genres, group_cdf, movie_vec, movie_bias, taste_vec, years
    )


def draw_movies(cdf: np.ndarray, count: int, taken: set[int] | None, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct movie indices drawn from one cumulative distribution, in draw order."""
    chosen: list[np.ndarray] = []
    have = 0
    seen = np.zeros(0, dtype=np.int64)
    while have < count:
        draw = np.searchsorted(cdf, rng.random(int((count - have) * 1.6) + 8), side="right")
        draw = np.minimum(draw, cdf.size - 1)
        _, first = np.unique(draw, return_index=True)
        fresh = draw[np.sort(first)]
        fresh = fresh[~np.isin(fresh, seen)]
        if taken:
            fresh = fresh[~np.isin(fresh, np.fromiter(taken, dtype=np.int64))]
        fresh = fresh[: count - have]
        chosen.append(fresh)
        seen = np.concatenate([seen, fresh])
        have += fresh.size
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def user_rows(
    world: World, user_ids: np.ndarray, counts: np.ndarray, first_ts: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """The ratings of a chunk of users, sorted by user then movie id (as MovieLens files are)."""
    parts_u, parts_m = [], []
    groups = rng.integers(0, TASTES, size=user_ids.size)
    strays = rng.integers(0, TASTES, size=user_ids.size)
    for uid, count, group, stray in zip(user_ids, counts, groups, strays):
        n_stray = int(rng.binomial(count, STRAY_SHARE))
        main = draw_movies(world.group_cdf[group], int(count) - n_stray, None, rng)
        other = (
            draw_movies(world.group_cdf[stray], n_stray, set(main.tolist()), rng)
            if n_stray
            else np.zeros(0, dtype=np.int64)
        )
        movies = np.concatenate([main, other])
        parts_u.append(np.full(movies.size, uid, dtype=np.int64))
        parts_m.append(movies)
    users = np.concatenate(parts_u)
    movies = np.concatenate(parts_m)
    user_pos = np.repeat(np.arange(user_ids.size), counts)
    # taste vector of each user: their group's centre plus a personal offset
    personal = rng.normal(0.0, 0.25, size=(user_ids.size, DIM))
    u_vec = world.taste_vec[groups] + personal
    u_bias = rng.normal(0.0, 0.35, size=user_ids.size)
    latent = (
        3.5
        + u_bias[user_pos]
        + world.movie_bias[movies]
        + np.einsum("ij,ij->i", u_vec[user_pos], world.movie_vec[movies])
        + rng.normal(0.0, 0.6, size=movies.size)
    )
    rating = np.clip(np.round(latent * 2) / 2, 0.5, 5.0)
    # whole stars are more common than half stars in MovieLens: pull 40% of halves to a neighbour
    half = (rating * 2) % 2 == 1
    snap = half & (rng.random(rating.size) < 0.4)
    rating[snap] += np.where(rng.random(int(snap.sum())) < 0.5, -0.5, 0.5)
    rating = np.clip(rating, 0.5, 5.0)
    frame = pd.DataFrame({"userId": users, "movieId": world.movie_ids[movies], "rating": rating})
    frame = frame.sort_values(["userId", "movieId"], kind="mergesort", ignore_index=True)
    # increasing timestamps down each user's rows: a start time, then positive gaps
    gaps = rng.exponential(3_000.0, size=len(frame)).astype(np.int64) + 1
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    offsets = np.cumsum(gaps)
    offsets -= np.repeat(offsets[starts] - gaps[starts], counts)
    frame["timestamp"] = np.repeat(first_ts, counts) + offsets
    return frame


def write_ratings(
    path: Path,
    world: World,
    size: SynthSize,
    rng: np.random.Generator,
    progress: Callable[[int], None] | None = None,
) -> None:
    """ratings.csv, chunk by chunk of users."""
    counts = user_activity(size, rng)
    user_ids = np.arange(1, size.users + 1)
    span = END_TS - START_TS
    first_ts = START_TS + np.sort(rng.integers(0, int(span * 0.9), size=size.users))
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("userId,movieId,rating,timestamp\n")
        written = 0
        for start in range(0, size.users, USER_CHUNK):
            stop = min(start + USER_CHUNK, size.users)
            frame = user_rows(world, user_ids[start:stop], counts[start:stop], first_ts[start:stop], rng)
            frame.to_csv(f, header=False, index=False, lineterminator="\n", float_format="%.1f")
            written += len(frame)
            if progress:
                progress(written)


def movie_titles(world: World, rng: np.random.Generator) -> list[str]:
    """Titles in movies.csv style: words, some with trailing articles, commas, quotes; a year."""
    n = world.movie_ids.size
    first = rng.integers(0, len(WORDS), size=n)
    second = rng.integers(0, len(WORDS), size=n)
    shape = rng.random(n)
    titles = []
    for i in range(n):
        # the id keeps titles unique (and searchable); trailing articles come after it, as in
        # "Usual Suspects, The (1995)", so the loader moves them to the front
        a, b, tag = WORDS[first[i]], WORDS[second[i]], f"#{world.movie_ids[i]}"
        if shape[i] < 0.15:
            name = f"{a} {b} {tag}, {ARTICLES[i % len(ARTICLES)]}"  # "Night City #5, The"
        elif shape[i] < 0.22:
            name = f"{a}, {b} and {WORDS[(first[i] + 7) % len(WORDS)]} {tag}"  # a comma inside
        elif shape[i] < 0.26:
            name = f'"{a}" {b} {tag}'  # quotes inside
        elif shape[i] < 0.30:
            name = f"{a} {b} {i % 7 + 2} {tag}"  # a sequel number
        else:
            name = f"{a} {b} {tag}"
        titles.append(name if shape[i] > 0.98 else f"{name} ({world.years[i]})")
    return titles


def write_movies(path: Path, world: World, rng: np.random.Generator) -> None:
    titles = movie_titles(world, rng)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for movie_id, title, mask in zip(world.movie_ids, titles, world.genre_mask):
            genres = "|".join(g for g, on in zip(GENRES, mask) if on) or NO_GENRES
            writer.writerow([int(movie_id), title, genres])


def write_links(path: Path, world: World, rng: np.random.Generator) -> None:
    n = world.movie_ids.size
    imdb = rng.choice(np.arange(10_000, 9_999_999), size=n, replace=False)
    tmdb = rng.choice(np.arange(1, 1_500_000), size=n, replace=False)
    frame = pd.DataFrame(
        {
            "movieId": world.movie_ids,
            "imdbId": [f"{x:07d}" for x in imdb],
            "tmdbId": pd.array(np.where(rng.random(n) < 0.01, -1, tmdb), dtype="Int64"),
        }
    )
    frame.loc[frame["tmdbId"] == -1, "tmdbId"] = pd.NA
    frame.to_csv(path, index=False, lineterminator="\n")


def write_tags(path: Path, world: World, size: SynthSize, rng: np.random.Generator) -> None:
    """About one tag per 25 ratings (ml-25m's ratio), words from the movie's genres."""
    n = max(1, size.ratings // 25)
    movies = np.minimum(
        np.searchsorted(np.cumsum(world.popularity), rng.random(n), side="right"), world.movie_ids.size - 1
    )
    users = rng.integers(1, size.users + 1, size=n)
    words = []
    for m, r in zip(movies, rng.random(n)):
        genres = [g for g, on in zip(GENRES, world.genre_mask[m]) if on] or ["classic"]
        word = genres[int(r * len(genres))].lower()
        words.append(f"{word}, really" if r > 0.9 else word)
    frame = pd.DataFrame(
        {
            "userId": users,
            "movieId": world.movie_ids[movies],
            "tag": words,
            "timestamp": START_TS + rng.integers(0, END_TS - START_TS, size=n),
        }
    )
    frame = frame.sort_values(["userId", "movieId", "timestamp"], kind="mergesort")
    frame.to_csv(path, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


SYNTH_NOTE = "Synthetic MovieLens-format data"
SYNTH_FILES = {"ratings.csv", "movies.csv", "links.csv", "tags.csv", "README.txt"}


def check_out_dir(out: Path) -> None:
    """ValueError unless out is missing, empty or an earlier synthetic release."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out} is a file; pass a folder to --out")
    from offline.publish import foreign_entries

    readme = out / "README.txt"
    earlier = readme.is_file() and readme.read_text(encoding="utf-8", errors="replace").startswith(SYNTH_NOTE)
    named = foreign_entries(out, lambda p: earlier and p.name in SYNTH_FILES and p.is_file())
    if named:
        raise ValueError(
            f"{out} holds {named}, which is not an earlier synthetic release, so it is left "
            f"alone: pass a new or empty folder to --out"
        )


def write_release(
    out_dir: Path | str, size: SynthSize, seed: int = 42, progress: Callable[[int], None] | None = None
) -> dict[str, float]:
    """Write ratings/movies/links/tags.csv into `out_dir`; returns what was written and how fast.

    The files are written into a hidden folder beside it, which then takes its place: `out_dir`
    is never half written. An existing `out_dir` is replaced only when it is empty or an earlier
    synthetic release (its README.txt says so): anything else there is somebody's data.
    """
    from offline import scratch

    out = Path(out_dir)
    check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch.remove_stale(out.parent, f".{out.name}.synth")  # left by a killed run
    staging = out.parent / scratch.own_name(f".{out.name}.synth")
    staging.mkdir()
    try:
        started = time.perf_counter()
        rng = np.random.default_rng(seed)
        world = make_world(size, rng)
        # one generator per file, derived from the seed: each file is the same whatever is added later
        seeds = rng.integers(0, 2**63 - 1, size=4)
        write_movies(staging / "movies.csv", world, np.random.default_rng(seeds[0]))
        write_links(staging / "links.csv", world, np.random.default_rng(seeds[1]))
        write_tags(staging / "tags.csv", world, size, np.random.default_rng(seeds[2]))
        write_ratings(staging / "ratings.csv", world, size, np.random.default_rng(seeds[3]), progress)
        (staging / "README.txt").write_text(
            f"{SYNTH_NOTE}: {size.ratings} ratings, {size.users} users, "
            f"{size.movies} movies, seed {seed}. Generated by `python -m offline synth`; "
            "not real ratings.\n",
            encoding="utf-8",
        )
        if out.exists():
            shutil.rmtree(out)  # empty, or an earlier synthetic release (check_out_dir)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "ratings": size.ratings,
        "users": size.users,
        "movies": size.movies,
        "seconds": round(time.perf_counter() - started, 1),
    }
