"""The blend's scores are exactly those of the plain computation over every movie of the scope,
and the best movies those of sorting them all.

The recommender keeps the list sources (kNN, EASE, NeuMF) only where the profile's lists reach
and adds them there (webapp.sources.Scores, Sections._blend). `plain_blend` below is the
computation that does not take that short cut: each liked movie's lists summed into an array
over the whole scope, weighted, summed over the liked movies, the disliked ones' subtracted, then
each source min-max scaled over the section's members and the weighted sources added in SOURCES
order. The two must give the same floats, bit for bit, on any profile: the ten, their order and
their reasons depend on them (ties included).

The same for choosing a section's best movies: Sections._top looks only near the largest values
when there are many, and must pick what sorting every untaken movie picks.

The tables are seeded random ones with movies whose lists reach nothing in the scope, lists with
negative weights, and a scope that is a part of the catalog.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.blend import SOURCES, scale, scale_reached
from webapp.recommend import Profile, Recommender
from webapp.schema import LESS_KNOWN, POPULAR
from webapp.sections import Sections
from webapp.sources import LIST_SOURCES, Query, Scope

N = 80
NO_LISTS = set(range(71, 81))  # movies with no kNN, EASE or NeuMF list of their own


def _tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(5)
    ids = np.arange(1, N + 1)
    counts = rng.integers(1, 400, size=N)
    pools = np.where(counts >= 150, "popular", np.where(counts >= 5, "less_known", "rare"))
    movies = pd.DataFrame(
        {"movie_id": ids, "title": [f"Film {m}" for m in ids], "year": 2000, "genres": "Drama"}
    )
    stats = pd.DataFrame(
        {"movie_id": ids, "vote_count": counts, "vote_mean": 3.5, "score": counts / 400, "pool": pools}
    )
    knn, ease, movie_users = [], [], []
    for m in ids:
        if m in NO_LISTS:
            continue
        neighbours = rng.choice(ids[ids != m], size=8, replace=False)
        for rank, n in enumerate(neighbours, start=1):  # some similarities negative (clipped)
            kind = "cf" if rank % 3 else "content"
            knn.append((m, n, float(rng.normal(0.3, 0.4)), rank, kind, int(rng.integers(0, 50))))
        for rank, n in enumerate(rng.choice(ids[ids != m], size=6, replace=False), start=1):
            ease.append((m, n, float(rng.normal(0.02, 0.05)), rank, int(rng.integers(0, 50))))
        for rank, u in enumerate(rng.choice(12, size=3, replace=False), start=1):
            movie_users.append((m, int(u), float(rng.uniform(0.1, 1.0)), rank))
    user_top = [
        (u, int(m), float(rng.uniform(0.1, 1.0)), rank)
        for u in range(12)
        for rank, m in enumerate(rng.choice(ids, size=7, replace=False), start=1)
    ]
    factors = pd.DataFrame(rng.normal(size=(N, 5)), columns=[f"f{i}" for i in range(5)])
    factors.insert(0, "movie_id", ids)
    return {
        "movies": movies,
        "movie_stats": stats,
        "knn_neighbors": pd.DataFrame(
            knn, columns=["movie_id", "neighbor_id", "similarity", "rank", "kind", "co_raters"]
        ),
        "ease_neighbors": pd.DataFrame(
            ease, columns=["movie_id", "neighbor_id", "weight", "rank", "co_raters"]
        ),
        "als_implicit_item_factors": factors,
        "neumf_movie_top_users": pd.DataFrame(movie_users, columns=["movie_id", "user_id", "score", "rank"]),
        "neumf_user_top": pd.DataFrame(user_top, columns=["user_id", "movie_id", "score", "rank"]),
    }


@pytest.fixture(scope="module")
def rec() -> Recommender:
    return Recommender.from_tables(_tables(), less_known_min_count=20)


def _entries(rec: Recommender, p: int, source: str) -> list[tuple[int, float]]:
    """Movie p's list of one source as (catalog index, value), in the tables' order."""
    if source == "knn":
        assert rec.knn is not None
        cols, vals = rec.knn.row(p)
        return [(c, max(v, 0.0)) for c, v in zip(cols.tolist(), vals.tolist())]
    if source == "ease":
        assert rec.ease is not None
        cols, vals = rec.ease.row(p)
        return list(zip(cols.tolist(), vals.tolist()))
    assert rec.movie_users is not None and rec.user_movies is not None
    out = []
    users, user_w = rec.movie_users.row(p)
    for u, uw in zip(users.tolist(), user_w.tolist()):
        movies, movie_w = rec.user_movies.row(u)
        out += [(c, uw * mw) for c, mw in zip(movies.tolist(), movie_w.tolist())]
    return out


def _list_total(rec: Recommender, source: str, idx, weights, scope: Scope) -> list[float]:
    """Per scope position: the movies' lists of one source summed, each times its weight."""
    rows = []
    for j, p in enumerate(idx.tolist()):
        row = [0.0] * len(scope.idx)
        for c, v in _entries(rec, p, source):
            if scope.where[c] >= 0:
                row[scope.where[c]] += v
        rows.append(row if weights is None else [x * float(weights[j]) for x in row])
    total = list(rows[0]) if rows else [0.0] * len(scope.idx)
    for row in rows[1:]:
        total = [a + b for a, b in zip(total, row)]
    return total


def plain_blend(
    rec: Recommender, query: Query, scope: Scope, section: str, min_count: int, popular_picks: bool
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The blended scores of the section's members, computed over every movie of the scope."""
    dense = {}
    for source in LIST_SOURCES:
        total = np.array(_list_total(rec, source, query.idx, query.weights, scope))
        if len(query.neg_idx):
            weights = rec.weights.negative * query.neg_weights
            total -= np.array(_list_total(rec, source, query.neg_idx, weights, scope))
        dense[source] = total
    dense["als"] = rec._als_scores(query, scope)  # the fold-in itself is not what is checked
    dense["popularity"] = scope.log_votes
    members = rec._members(section, min_count)
    pos = scope.where[members]
    weights = rec.weights.for_section(section, query.feedback, popular_picks)
    total = np.zeros(len(members))
    for source in SOURCES:
        w = float(weights.get(source, 0.0))
        if w == 0.0:
            continue
        values = np.maximum(dense[source][pos], 0.0)
        lo, hi = (values.min(), values.max()) if len(values) else (0.0, 0.0)
        span = hi - lo
        scaled = (values - lo) / span if span > 0 else np.zeros(len(values))
        total += w * scaled
    return total, dense


@st.composite
def profiles(draw) -> Profile:
    movies = draw(st.lists(st.integers(1, N), min_size=1, max_size=12, unique=True))
    n_liked = draw(st.integers(1, len(movies)))
    liked, disliked = tuple(movies[:n_liked]), tuple(movies[n_liked:])
    rated = draw(st.lists(st.sampled_from(movies), unique=True, max_size=4))
    ratings = tuple((m, draw(st.sampled_from([0.5, 1.0, 2.5, 3.0, 4.0, 4.5, 5.0]))) for m in rated)
    focus = draw(st.one_of(st.none(), st.sampled_from(liked)))
    return Profile(liked, disliked, ratings, focus=focus)


@settings(max_examples=150, deadline=None)
@given(
    profile=profiles(),
    everyone=st.booleans(),
    popular_picks=st.booleans(),
    min_count=st.sampled_from([20, 0]),
)
def test_the_blend_is_the_plain_computation_bit_for_bit(
    rec: Recommender, profile: Profile, everyone: bool, popular_picks: bool, min_count: int
) -> None:
    query = Query.of(profile, rec._index)
    scope = rec._everyone if everyone or min_count == 0 else rec._sections_scope(min_count)
    scores = rec._pick_scores(query, scope)
    for section in (POPULAR, LESS_KNOWN):
        expected, dense = plain_blend(rec, query, scope, section, min_count, popular_picks)
        got = rec._blend(scores, section, min_count, scope, query.feedback, popular_picks)
        assert got.tobytes() == expected.tobytes(), (section, np.flatnonzero(got != expected))
    for source in LIST_SOURCES:  # the totals the reasons read, at every position
        assert scores.dense(source).tobytes() == dense[source].tobytes(), source
    everywhere = np.arange(len(scope.idx))
    models = scores.models_at(everywhere)
    for row, source in enumerate(("knn", "als", "ease", "neumf")):
        assert models[row].tobytes() == dense[source].tobytes(), source


def test_disliked_movies_whose_lists_reach_nothing(rec: Recommender) -> None:
    """A profile whose disliked movies have no lists: they push nothing down, and the ten are
    those of the liked movies alone, without the disliked ones."""
    liked = (1, 2, 3)
    disliked = tuple(sorted(NO_LISTS))[:3]
    query = Query.of(Profile(liked, disliked), rec._index)
    scope = rec._sections_scope(20)
    scores = rec._pick_scores(query, scope)
    left_out = Profile(liked, excluded=disliked)  # the same weights, without the disliked lists
    alone = rec._pick_scores(Query.of(left_out, rec._index), scope)
    for source in LIST_SOURCES:
        assert scores.dense(source).tobytes() == alone.dense(source).tobytes()
    ten = rec.recommend(Profile(liked, disliked)).movie_ids()
    assert len(ten) == 10 and not set(ten) & set(disliked)


@settings(max_examples=200, deadline=None)
@given(
    given_values=st.lists(st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False), max_size=12),
    missing=st.integers(0, 5),
)
def test_scaling_the_reached_values_is_scaling_them_among_the_zeros(
    given_values: list[float], missing: int
) -> None:
    """scale_reached(values, size) is scale over the values and size - len(values) zeros, for the
    given ones."""
    values = np.array(given_values, dtype=np.float64)
    full = np.concatenate([values, np.zeros(missing)])
    expected = scale(full)[: len(values)]
    assert scale_reached(values, len(full)).tobytes() == expected.tobytes()


def _plain_top(movie_ids, prior, values, pool, taken, n) -> list[int]:
    """The n best untaken movies of pool by score, then popularity, then id: sorting them all."""
    free = [
        (float(-values[j]), float(-prior[i]), int(movie_ids[i]), int(i))
        for j, i in enumerate(pool)
        if not taken[i]
    ]
    return [i for *_, i in sorted(free)[:n]]


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.one_of(st.integers(0, 300), st.integers(2_000, 12_000)),  # few, or enough for groups
    levels=st.sampled_from([2, 5, 50, 0]),  # 0: continuous values; else that many distinct ones
    n=st.integers(0, 12),
    n_taken=st.integers(0, 30),
    only_best_taken=st.booleans(),
)
def test_top_is_the_plain_sort(
    seed: int, size: int, levels: int, n: int, n_taken: int, only_best_taken: bool
) -> None:
    """Sections._top (which looks only near the largest values when there are many) picks the
    movies sorting every untaken one would, ties included."""
    rng = np.random.default_rng(seed)
    catalog = size + 50
    movie_ids = rng.permutation(catalog) + 1
    prior = rng.integers(0, 3, size=catalog) / 2  # ties in popularity too
    pool = np.sort(rng.choice(catalog, size=size, replace=False))
    values = rng.random(size) if not levels else rng.integers(0, levels, size=size) / levels
    taken = np.zeros(catalog, dtype=bool)
    if only_best_taken:  # the tightest case: every taken movie is one of the pool's best
        taken[pool[np.argsort(-values, kind="stable")[:n_taken]]] = True
    else:
        taken[rng.choice(catalog, size=min(n_taken, catalog), replace=False)] = True
        taken[pool[np.argsort(-values)[: n_taken // 2]]] = True
    this = SimpleNamespace(movie_ids=movie_ids, prior=prior)
    got = Sections._top(this, values, pool, taken, n)  # type: ignore[arg-type]
    assert got == _plain_top(movie_ids, prior, values, pool, taken, n)


def _weight_settings() -> list:
    """Weights as the evaluation varies them: blend grid settings (different in one section or
    both, with and without EASE when every pick is popular) and after-feedback candidates
    (different pushes of disliked movies)."""
    from offline.evaluation.tuning import after_feedback_grid, blend_grid

    grid = blend_grid()
    return [s.weights for s in grid[::6]] + [s.weights for s in after_feedback_grid(grid[0])[:8]]


WEIGHT_SETTINGS = _weight_settings()


@settings(max_examples=12, deadline=None)
@given(visitors=st.lists(profiles(), min_size=1, max_size=2))
def test_a_remembering_recommender_gives_what_a_plain_one_gives(
    rec: Recommender, visitors: list[Profile]
) -> None:
    """Recommender.remember (the evaluation's memo of what does not depend on the weights being
    varied) changes no result: each profile at every setting, section size and less-known
    minimum (300: the less-known section runs short and is filled; 60 popular movies: the
    popular one), case after case as the evaluation runs them and then all again from the memo,
    equals a recommender without it."""
    remembering = rec.with_weights(rec.weights)
    remembering.remember(256)
    family = [remembering.with_weights(w) for w in WEIGHT_SETTINGS]
    plain = [rec.with_weights(w) for w in WEIGHT_SETTINGS]
    for profile in visitors + visitors:
        for min_count in (None, 0, 20, 300):
            for n_popular in (5, 60):
                ask = {"less_known_min_count": min_count, "n_popular": n_popular}
                for mine, theirs in zip(family, plain):
                    expected = theirs.recommend(profile, **ask)
                    assert mine.recommend(profile, **ask) == expected
                    assert mine.recommend_ids(profile, **ask) == (
                        tuple(r.movie_id for r in expected.popular),
                        tuple(r.movie_id for r in expected.less_known),
                    )
    assert remembering._memo is not None and len(remembering._memo) > 0
    assert rec._memo is None  # the clone's memo is its own family's
