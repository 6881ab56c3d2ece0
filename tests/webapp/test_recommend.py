"""Contract tests of webapp.recommend on a small hand-made table set."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from webapp.recommend import (
    PICKS_REQUIRED,
    BlendWeights,
    Evidence,
    InvalidPicksError,
    RecommendationSet,
    Recommender,
    UnknownMovieError,
    recommend_for_picks,
)

N_MOVIES = 40
POPULAR_IDS = list(range(1, 11))  # 10 popular
LESS_KNOWN_IDS = list(range(11, 35))  # 24 less known, vote counts 5..28
RARE_IDS = list(range(35, 41))  # 6 rare


def _movies() -> pd.DataFrame:
    """Forty movies titled "Film <id>" (not the "Movie <id>" shown for a missing title); movie 7
    has no year, movie 8 no title."""
    ids = list(range(1, N_MOVIES + 1))
    years = pd.array([None if m == 7 else 1980 + m for m in ids], dtype="Int16")
    titles = [None if m == 8 else f"Film {m}" for m in ids]
    genres = ["Drama|Comedy" if m % 2 else ("Drama" if m % 4 else "(no genres listed)") for m in ids]
    return pd.DataFrame({"movie_id": ids, "title": titles, "year": years, "genres": genres})


def _movie_stats() -> pd.DataFrame:
    """Vote counts fall with the id; pools by id range."""
    rows = []
    for m in range(1, N_MOVIES + 1):
        if m in POPULAR_IDS:
            count, pool = 200 - m, "popular"
        elif m in LESS_KNOWN_IDS:
            count, pool = m - 6, "less_known"  # 5..28
        else:
            count, pool = 2, "rare"
        rows.append((m, count, 3.5, count / 200.0, pool))
    return pd.DataFrame(rows, columns=["movie_id", "vote_count", "vote_mean", "score", "pool"])


def _raters() -> dict[int, set[int]]:
    """Who rated each movie (a seeded ratings fixture of 300 users): exactly as many people as
    movie_stats.vote_count says."""
    rng = np.random.default_rng(11)
    counts = _movie_stats().set_index("movie_id")["vote_count"]
    return {
        m: set(rng.choice(np.arange(1, 301), size=int(counts[m]), replace=False).tolist())
        for m in range(1, N_MOVIES + 1)
    }


def _knn() -> pd.DataFrame:
    """Movie m's neighbours: m+1, m+2, m+12, m+20 (wrapping), similarity falling with rank;
    co_raters counted from the ratings fixture."""
    raters = _raters()
    rows = []
    for m in range(1, N_MOVIES + 1):
        for rank, step in enumerate((1, 2, 12, 20), start=1):
            nbr = (m + step - 1) % N_MOVIES + 1
            rows.append(
                (m, nbr, 1.0 / rank, rank, "cf" if m < 30 else "content", len(raters[m] & raters[nbr]))
            )
    return pd.DataFrame(rows, columns=["movie_id", "neighbor_id", "similarity", "rank", "kind", "co_raters"])


def _ease() -> pd.DataFrame:
    """Movie m's EASE weights: m+3, m+5 and m+15 (wrapping), weight falling with rank; co_raters
    counted from the ratings fixture."""
    raters = _raters()
    rows = []
    for m in range(1, N_MOVIES + 1):
        for rank, step in enumerate((3, 5, 15), start=1):
            nbr = (m + step - 1) % N_MOVIES + 1
            rows.append((m, nbr, 0.05 / rank, rank, len(raters[m] & raters[nbr])))
    return pd.DataFrame(rows, columns=["movie_id", "neighbor_id", "weight", "rank", "co_raters"])


def _als() -> pd.DataFrame:
    """Seeded random 4-dimensional item factors."""
    rng = np.random.default_rng(7)
    factors = rng.normal(size=(N_MOVIES, 4))
    frame = pd.DataFrame(factors, columns=[f"f{i}" for i in range(4)])
    frame.insert(0, "movie_id", range(1, N_MOVIES + 1))
    return frame


def _neumf() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each movie's two top users (u = m % 5, (m + 1) % 5); each user's three less-known movies."""
    movie_users = pd.DataFrame(
        [(m, (m + j) % 5, 0.9 - 0.1 * j, j + 1) for m in range(1, N_MOVIES + 1) for j in range(2)],
        columns=["movie_id", "user_id", "score", "rank"],
    )
    user_top = pd.DataFrame(
        [(u, 11 + (u * 5 + j) % 24, 0.8 - 0.1 * j, j + 1) for u in range(5) for j in range(3)],
        columns=["user_id", "movie_id", "score", "rank"],
    )
    return movie_users, user_top


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    """The full hand-made table set."""
    movie_users, user_top = _neumf()
    return {
        "movies": _movies(),
        "movie_stats": _movie_stats(),
        "knn_neighbors": _knn(),
        "ease_neighbors": _ease(),
        "als_implicit_item_factors": _als(),
        "neumf_movie_top_users": movie_users,
        "neumf_user_top": user_top,
    }


@pytest.fixture(scope="module")
def rec(tables: dict[str, pd.DataFrame]) -> Recommender:
    """A recommender over the full table set."""
    return Recommender.from_tables(tables)


PICKS = (1, 12, 20)


def _title(tables: Mapping[str, pd.DataFrame], movie_id: int) -> str:
    """The title a reason should name: the movies table's, else "Movie <id>"."""
    movies = tables.get("movies")
    titles = {} if movies is None else dict(zip(movies["movie_id"], movies["title"]))
    title = titles.get(movie_id)
    return title if isinstance(title, str) and title else f"Movie {movie_id}"


def _check_contract(
    result: RecommendationSet,
    picks: tuple[int, ...],
    tables: Mapping[str, pd.DataFrame],
    min_count: int = 5,
    *,
    filled: bool = False,
) -> None:
    """Ten distinct non-pick movies, five per section, each with a reason naming its picks.

    Unless a section had to be filled from other pools (`filled`), the popular section holds
    popular movies and the less-known one less-known movies with at least min_count ratings.
    """
    ids = [r.movie_id for r in result.all()]
    assert len(ids) == 10
    assert len(set(ids)) == 10
    assert not set(ids) & set(picks)
    assert [r.section for r in result.all()] == ["popular"] * 5 + ["less_known"] * 5
    for r in result.all():
        assert r.because_of and set(r.because_of) <= set(picks)
        names = [_title(tables, m) for m in r.because_of]
        joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        assert r.reason_head == f"Because you picked {joined}"
        first = r.reason_detail[:1]
        assert (first.isupper() or first.isdigit()) and ":" not in r.reason_detail
        ev = r.evidence
        assert ev is None or ev.pick_id in r.because_of
        if ev is not None and ev.rated_both is not None:  # the sentence carries the numbers
            assert f"{ev.rated_both} of the {ev.pick_raters} people who rated" in r.reason_detail
        assert r.reason == f"{r.reason_head}: {r.reason_detail[0].lower()}{r.reason_detail[1:]}"
        assert isinstance(r.score, float)
    if not filled:
        stats = tables["movie_stats"].set_index("movie_id")
        assert all(stats.at[r.movie_id, "pool"] == "popular" for r in result.popular)
        assert all(stats.at[r.movie_id, "pool"] == "less_known" for r in result.less_known)
        assert all(stats.at[r.movie_id, "vote_count"] >= min_count for r in result.less_known)


def test_ten_results_in_their_pools(rec: Recommender, tables: dict[str, pd.DataFrame]) -> None:
    result = rec.recommend_for_picks(list(PICKS))
    _check_contract(result, PICKS, tables)
    assert result.picks == PICKS


def test_first_popular_is_knn_neighbour_with_title_in_reason(tables: dict[str, pd.DataFrame]) -> None:
    knn_only = BlendWeights(popular={"knn": 1.0}, less_known={"knn": 1.0})
    result = Recommender.from_tables(tables, weights=knn_only).recommend_for_picks([1, 12, 20])
    # movie 2 is pick 1's nearest neighbour (similarity 1.0), and popular
    first = result.popular[0]
    assert first.movie_id == 2
    assert first.source == "knn"
    assert first.because_of == (1,)
    assert first.reason_head == "Because you picked Film 1"
    both = len(_raters()[1] & _raters()[2])  # brute force, from the ratings fixture
    assert 0 < both < 199
    assert first.reason_detail == f"{both} of the 199 people who rated it also rated this"
    assert first.reason == f"Because you picked Film 1: {both} of the 199 people who rated it also rated this"
    assert first.evidence == Evidence(1, pick_raters=199, rated_both=both)
    assert first.evidence.to_json() == {"pick_id": 1, "pick_raters": 199, "rated_both": both}


def test_without_co_raters_a_knn_reason_is_a_plain_sentence(tables: dict[str, pd.DataFrame]) -> None:
    """A build made before knn_neighbors had co_raters: no numbers, the plain sentence."""
    knn_only = BlendWeights(popular={"knn": 1.0}, less_known={"knn": 1.0})
    older = {**tables, "knn_neighbors": tables["knn_neighbors"].drop(columns="co_raters")}
    first = Recommender.from_tables(older, weights=knn_only).recommend_for_picks([1, 12, 20]).popular[0]
    assert (first.movie_id, first.source, first.evidence) == (2, "knn", None)
    assert first.reason_detail == "People who rated it also rated this"


def test_every_knn_and_als_reason_counts_the_people_who_rated_both(tables: dict[str, pd.DataFrame]) -> None:
    """Over many triples: each number of a reason is a brute-force count from the ratings
    fixture, for the pick the sentence names, and the sentence carries those numbers."""
    raters = _raters()
    rec = Recommender.from_tables(tables)
    knn_only = rec.with_weights(BlendWeights(popular={"knn": 1.0}, less_known={"knn": 1.0}))
    seen = set()
    for first in range(1, 30, 3):
        picks = [first, first % 29 + 11, (first * 7) % 29 + 1]
        if len(set(picks)) < 3:
            continue
        for r in rec.recommend_for_picks(picks).all() + knn_only.recommend_for_picks(picks).all():
            ev = r.evidence
            if r.source not in ("knn", "als") or ev is None or ev.rated_both is None:
                continue
            seen.add(r.source)
            assert ev.pick_id in r.because_of
            if r.source == "als":
                assert r.because_of == (ev.pick_id,)
            assert ev.pick_raters == len(raters[ev.pick_id])
            assert ev.rated_both == len(raters[ev.pick_id] & raters[r.movie_id])
            # the pick is "it" when the head names only that one, else named by its title
            ref = "it" if len(r.because_of) == 1 else f"Film {ev.pick_id}" if ev.pick_id != 8 else "Movie 8"
            sentence = f"{ev.rated_both} of the {ev.pick_raters} people who rated {ref} also rated this"
            assert r.reason_detail.endswith(sentence)
    assert seen == {"knn", "als"}


def test_an_ease_reason_counts_the_people_who_rated_both(tables: dict[str, pd.DataFrame]) -> None:
    """EASE alone: the ten are the picks' summed EASE lists, best first; each reason names the
    pick whose weight is largest and says how many of its raters rated the movie too."""
    ease_only = BlendWeights(popular={"ease": 1.0}, less_known={"ease": 1.0})
    result = Recommender.from_tables(tables, weights=ease_only).recommend_for_picks([1, 12, 20])
    # pick 1's list: 4 (0.05), 6 (0.025), 16 (less known); 12's: 15, 17, 27; 20's: 23, 25, 35
    assert [r.movie_id for r in result.popular[:2]] == [4, 6]
    first = result.popular[0]
    assert (first.source, first.because_of) == ("ease", (1,))
    both = len(_raters()[1] & _raters()[4])
    assert first.evidence == Evidence(1, pick_raters=199, rated_both=both)
    assert first.reason_detail == f"{both} of the 199 people who rated it also rated this"
    # less known: 15 and 23 (0.05), then 17 and 25 (0.025); ties go to the more-rated movie
    assert [r.movie_id for r in result.less_known[:3]] == [23, 15, 25]
    assert [r.because_of for r in result.less_known[:3]] == [(20,), (12,), (20,)]
    older = {**tables, "ease_neighbors": tables["ease_neighbors"].drop(columns="co_raters")}
    plain = Recommender.from_tables(older, weights=ease_only).recommend_for_picks([1, 12, 20]).popular[0]
    assert (plain.movie_id, plain.source, plain.evidence) == (4, "ease", None)
    assert plain.reason_detail == "People who rated it also tend to rate this"


def test_popular_picks_overrides_change_the_models_only_when_every_pick_is_popular(
    rec: Recommender,
) -> None:
    """BlendWeights.popular_picks: when every liked movie is popular, its overrides replace the
    section's weights (EASE in place of ALS here); a mixed profile keeps the ordinary ones."""
    over = {"popular": {"ease": 2.0, "als": 0.0}, "less_known": {"ease": 1.0}}
    base = BlendWeights(popular_picks_prior=None, popular_picks={})
    adaptive = rec.with_weights(BlendWeights(popular_picks_prior=None, popular_picks=over))
    always = rec.with_weights(
        BlendWeights(
            popular={**base.popular, **over["popular"]},
            less_known={**base.less_known, **over["less_known"]},
            popular_picks_prior=None,
            popular_picks={},
        )
    )
    plain = rec.with_weights(base)
    all_popular, mixed = (1, 2, 3), (1, 2, 12)
    assert adaptive.recommend_ids(Profile(all_popular)) == always.recommend_ids(Profile(all_popular))
    assert adaptive.recommend_ids(Profile(mixed)) == plain.recommend_ids(Profile(mixed))
    # the overrides matter on these tables, so the two checks above can fail
    assert always.recommend_ids(Profile(all_popular)) != plain.recommend_ids(Profile(all_popular))
    # and the reasons are those of the weights used: EASE's, not the ALS fold-in's
    sources = {r.source for r in adaptive.recommend(Profile(all_popular)).popular}
    assert "ease" in sources and "als" not in sources
    # an ablation switches a model off in the situation too
    assert BlendWeights(popular_picks=over).without("ease").popular_picks == {
        "popular": {"ease": 0.0, "als": 0.0},
        "less_known": {"ease": 0.0},
    }


def test_an_als_reason_names_the_closest_pick(tables: dict[str, pd.DataFrame]) -> None:
    als_only = BlendWeights(popular={"als": 1.0}, less_known={"als": 1.0})
    rec = Recommender.from_tables(tables, weights=als_only)
    factors = tables["als_implicit_item_factors"].set_index("movie_id").to_numpy()
    for r in rec.recommend_for_picks([3, 15, 22]).all():
        assert r.source == "als"
        closest = max((3, 15, 22), key=lambda p: float(factors[p - 1] @ factors[r.movie_id - 1]))
        assert r.because_of == (closest,) and r.evidence.pick_id == closest
        assert r.reason_detail.startswith(
            "Of your picks, it is the closest to this in a model of everyone's ratings"
        )


def test_a_content_reason_names_the_shared_genres(tables: dict[str, pd.DataFrame]) -> None:
    """Movies 30..40 have content neighbours: the reason names the genres both movies have."""
    knn_only = BlendWeights(popular={"knn": 1.0}, less_known={"knn": 1.0})
    rec = Recommender.from_tables(tables, weights=knn_only)
    genres = {
        m: set(g.split("|")) - {"(no genres listed)"}
        for m, g in zip(tables["movies"]["movie_id"], tables["movies"]["genres"])
    }
    found = [r for r in rec.recommend_for_picks([31, 32, 33]).all() if r.source == "content"]
    assert found
    for r in found:
        ev = r.evidence
        assert ev.pick_id in r.because_of and ev.rated_both is None
        assert set(ev.shared_genres) == genres[ev.pick_id] & genres[r.movie_id]
        ref = "it" if len(r.because_of) == 1 else f"Film {ev.pick_id}"
        if ev.shared_genres:
            word = "genre" if len(ev.shared_genres) == 1 else "genres"
            joined = " and ".join(ev.shared_genres)
            assert r.reason_detail == f"This shares the {word} {joined} with {ref}"
        else:
            assert r.reason_detail == f"This is close to {ref} in tags, decade or title words"


def test_reasons_name_picks_by_title_without_year(tables: dict[str, pd.DataFrame]) -> None:
    """Picks are named by their title alone, as the cards show them: no "(1986)", no "(<NA>)"
    for a movie without a year, "Movie <id>" for one without a title."""
    knn_only = BlendWeights(popular={"knn": 1.0}, less_known={"knn": 1.0})
    rec = Recommender.from_tables(tables, weights=knn_only)
    for pick, name in ((6, "Film 6"), (7, "Film 7"), (8, "Movie 8")):
        result = rec.recommend_for_picks([pick, 15, 22])
        heads = {r.reason_head for r in result.all() if r.because_of == (pick,)}
        assert heads == {f"Because you picked {name}"}, (pick, heads)


def test_deterministic(tables: dict[str, pd.DataFrame]) -> None:
    a = Recommender.from_tables(tables).recommend_for_picks([3, 15, 22])
    b = Recommender.from_tables(tables).recommend_for_picks([3, 15, 22])
    assert a == b
    assert recommend_for_picks(Recommender.from_tables(tables), [3, 15, 22]) == a


def test_pick_order_does_not_change_the_movies(rec: Recommender) -> None:
    a = rec.recommend_for_picks([3, 15, 22])
    b = rec.recommend_for_picks([22, 3, 15])
    assert a.movie_ids() == b.movie_ids()


def test_less_known_min_count_filters(rec: Recommender, tables: dict[str, pd.DataFrame]) -> None:
    counts = tables["movie_stats"].set_index("movie_id")["vote_count"]
    result = rec.recommend_for_picks([1, 12, 20], less_known_min_count=20)  # 26..34 qualify
    assert all(counts[r.movie_id] >= 20 for r in result.less_known)
    _check_contract(result, (1, 12, 20), tables, min_count=20)


def test_short_less_known_pool_is_filled(rec: Recommender, tables: dict[str, pd.DataFrame]) -> None:
    # only movies 31..34 (counts 25..28) qualify at 25, and pick 33 takes one: 3 left,
    # then the rest of the less-known pool (below 25 ratings) fills the section
    result = rec.recommend_for_picks([1, 2, 33], less_known_min_count=25)
    _check_contract(result, (1, 2, 33), tables, filled=True)
    stats = tables["movie_stats"].set_index("movie_id")
    shown = [r.movie_id for r in result.less_known]
    assert all(stats.at[m, "pool"] == "less_known" for m in shown)
    assert sorted(shown[:3]) == [31, 32, 34]
    assert all(stats.at[m, "vote_count"] < 25 for m in shown[3:])


def test_less_known_pool_exhausted_fills_from_popular(tables: dict[str, pd.DataFrame]) -> None:
    stats = tables["movie_stats"]
    few = stats[(stats["pool"] != "less_known") | stats["movie_id"].isin([11, 12])]
    rec = Recommender.from_tables({**tables, "movie_stats": few})
    result = rec.recommend_for_picks([1, 11, 20])
    _check_contract(result, (1, 11, 20), {**tables, "movie_stats": few}, filled=True)
    pool = few.set_index("movie_id")["pool"]
    assert result.less_known[0].movie_id == 12
    assert all(pool.get(r.movie_id) == "popular" for r in result.less_known[1:])


def test_short_popular_pool_is_filled(tables: dict[str, pd.DataFrame]) -> None:
    stats = tables["movie_stats"].copy()
    stats.loc[stats["movie_id"] > 4, "pool"] = stats.loc[stats["movie_id"] > 4, "pool"].replace(
        "popular", "less_known"
    )
    rec = Recommender.from_tables({**tables, "movie_stats": stats})
    result = rec.recommend_for_picks([1, 2, 20])
    _check_contract(result, (1, 2, 20), {**tables, "movie_stats": stats}, filled=True)
    assert {r.movie_id for r in result.popular} >= {3, 4}


def test_catalog_smaller_than_ten() -> None:
    stats = pd.DataFrame(
        {
            "movie_id": [1, 2, 3, 4, 5],
            "vote_count": [50, 40, 9, 8, 7],
            "score": [1.0, 0.9, 0.3, 0.2, 0.1],
            "pool": ["popular", "popular", "less_known", "less_known", "less_known"],
        }
    )
    rec = Recommender.from_tables({"movie_stats": stats})
    result = rec.recommend_for_picks([1, 3, 5])
    assert sorted(result.movie_ids()) == [2, 4]


@pytest.mark.parametrize(
    "missing",
    [
        "knn_neighbors",
        "ease_neighbors",
        "als_implicit_item_factors",
        "neumf_user_top",
        "neumf_movie_top_users",
        "movies",
    ],
)
def test_missing_optional_table_still_gives_ten(tables: dict[str, pd.DataFrame], missing: str) -> None:
    rest = {k: v for k, v in tables.items() if k != missing}
    result = Recommender.from_tables(rest).recommend_for_picks([1, 12, 20])
    _check_contract(result, (1, 12, 20), rest)


def test_only_movie_stats_gives_most_popular(tables: dict[str, pd.DataFrame]) -> None:
    rec = Recommender.from_tables({"movie_stats": tables["movie_stats"]})
    result = rec.recommend_for_picks([1, 12, 20])
    assert [r.movie_id for r in result.popular] == [2, 3, 4, 5, 6]
    assert [r.movie_id for r in result.less_known] == [34, 33, 32, 31, 30]
    assert all(r.source == "fallback" for r in result.all())


@pytest.mark.parametrize("picks", [[1, 2], [1, 2, 3, 4], []])
def test_wrong_count_rejected(rec: Recommender, picks: list[int]) -> None:
    with pytest.raises(InvalidPicksError, match=f"exactly {PICKS_REQUIRED}"):
        rec.recommend_for_picks(picks)


def test_duplicates_rejected(rec: Recommender) -> None:
    with pytest.raises(InvalidPicksError, match="duplicate"):
        rec.recommend_for_picks([1, 1, 2])


@pytest.mark.parametrize("picks", [[1, 2, "3"], [1, 2, 3.0], [1, 2, True], "123", 5])
def test_non_int_rejected(rec: Recommender, picks: object) -> None:
    with pytest.raises(InvalidPicksError):
        rec.recommend_for_picks(picks)  # type: ignore[arg-type]


def test_numpy_ints_accepted(rec: Recommender) -> None:
    result = rec.recommend_for_picks([np.int64(1), np.int32(12), 20])
    assert result.picks == (1, 12, 20)


def test_unknown_ids_rejected(rec: Recommender) -> None:
    with pytest.raises(UnknownMovieError) as info:
        rec.recommend_for_picks([1, 999, 1000])
    assert info.value.movie_ids == (999, 1000)
    assert isinstance(info.value, InvalidPicksError)
    assert rec.knows(1) and not rec.knows(999) and not rec.knows("1")  # type: ignore[arg-type]


def test_inputs_not_mutated(tables: dict[str, pd.DataFrame]) -> None:
    copies = {k: v.copy() for k, v in tables.items()}
    Recommender.from_tables(tables).recommend_for_picks([1, 12, 20])
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, copies[name])


def test_neumf_source_reaches_less_known(tables: dict[str, pd.DataFrame]) -> None:
    only_neumf = BlendWeights(popular={"knn": 1.0}, less_known={"neumf": 1.0})
    rec = Recommender.from_tables(tables, weights=only_neumf)
    result = rec.recommend_for_picks([1, 2, 3])
    first = result.less_known[0]
    assert first.source == "neumf"
    # brute force over the two tables: the pick's top users, and which of them list this movie
    movie_users, user_top = tables["neumf_movie_top_users"], tables["neumf_user_top"]
    pick = first.evidence.pick_id
    assert pick == first.because_of[0]
    users = set(movie_users.loc[movie_users["movie_id"] == pick, "user_id"])
    listing = set(user_top.loc[user_top["movie_id"] == first.movie_id, "user_id"])
    assert first.evidence.top_viewers == len(users) == 2
    assert first.evidence.top_viewers_with_this == len(users & listing) >= 1
    k = len(users & listing)
    ref = "it" if len(first.because_of) == 1 else f"Film {pick}"
    assert first.reason_detail == (
        f"{k} of the 2 viewers a neural model finds likeliest to watch {ref} "
        f"{'is' if k == 1 else 'are'} predicted to watch this too"
    )


def test_ablation_changes_the_list(rec: Recommender) -> None:
    full = rec.recommend_for_picks([1, 12, 20])
    no_knn = rec.with_weights(rec.weights.without("knn")).recommend_for_picks([1, 12, 20])
    assert full.movie_ids() != no_knn.movie_ids()
    assert all(r.source != "knn" for r in no_knn.all())


def _als_only_popular(
    factors: np.ndarray, picks: list[int], mode: str, reg: float = 0.1, alpha: float = 10.0
) -> list[int]:
    """The popular section of an ALS-only blend, computed here from the factors: the fold-in's
    user vector (the normal equations of Spark's ALS), every movie's score, the best five
    popular non-picks (ids are 1..N_MOVIES, so row = id - 1)."""
    picked = factors[[p - 1 for p in picks]]
    k = factors.shape[1]
    if mode == "explicit":
        user = np.linalg.solve(
            picked.T @ picked + reg * len(picks) * np.eye(k), picked.T @ np.full(len(picks), 5.0)
        )
    else:
        user = np.linalg.solve(
            factors.T @ factors + alpha * picked.T @ picked + reg * len(picks) * np.eye(k),
            (1 + alpha) * picked.sum(axis=0),
        )
    scores = factors @ user
    candidates = [m for m in POPULAR_IDS if m not in picks]
    return sorted(candidates, key=lambda m: -scores[m - 1])[:5]


def test_explicit_mode_uses_explicit_factors(tables: dict[str, pd.DataFrame]) -> None:
    implicit = tables["als_implicit_item_factors"]
    explicit = implicit.copy()
    rng = np.random.default_rng(11)  # other factors, so the two modes cannot be confused
    explicit[[f"f{i}" for i in range(4)]] = rng.normal(size=(N_MOVIES, 4))
    both = {**tables, "als_item_factors": explicit}
    als_only = BlendWeights(popular={"als": 1.0}, less_known={"als": 1.0})
    picks = [11, 12, 20]  # no popular pick: the popular section is ranked by the fold-in alone
    got = {
        mode: [
            r.movie_id
            for r in Recommender.from_tables(both, als_mode=mode, weights=als_only)
            .recommend_for_picks(picks)
            .popular
        ]
        for mode in ("explicit", "implicit")
    }
    matrix = {"explicit": explicit, "implicit": implicit}
    expected = {
        mode: _als_only_popular(matrix[mode][[f"f{i}" for i in range(4)]].to_numpy(), picks, mode)
        for mode in matrix
    }
    assert expected["explicit"] != expected["implicit"]  # the check below can tell them apart
    assert got == expected


# ---------------------------------------------------------------- profiles (feedback, issue #9)
from webapp.recommend import MAX_PROFILE, Profile, recommend  # noqa: E402
from webapp.sources import Query  # noqa: E402

KNN_ONLY = BlendWeights(popular={"knn": 1.0}, less_known={"knn": 1.0})


def test_three_picks_are_the_simplest_profile(rec: Recommender) -> None:
    assert rec.recommend(Profile.of_picks(PICKS)) == rec.recommend_for_picks(list(PICKS))
    assert recommend(rec, Profile(PICKS)) == rec.recommend_for_picks(list(PICKS))


def test_every_profile_movie_is_left_out_and_liked_ones_are_named(rec: Recommender, tables) -> None:
    first = rec.recommend_for_picks(list(PICKS))
    loved, disliked, dismissed = (
        first.popular[0].movie_id,
        first.popular[1].movie_id,
        first.less_known[0].movie_id,
    )
    profile = Profile(PICKS + (loved,), (disliked, dismissed), ((loved, 4.5), (disliked, 1.5)))
    result = rec.recommend(profile)
    ids = [r.movie_id for r in result.all()]
    assert len(ids) == 10 and not set(ids) & set(profile.ids())
    assert result.picks == PICKS + (loved,)
    for r in result.all():
        assert set(r.because_of) <= set(profile.liked)
        assert r.reason_head.startswith("Because you liked ")


def test_a_disliked_movie_counts_against_its_neighbours(rec: Recommender) -> None:
    """Movie 3 is a neighbour of pick 1 (similarity 0.5) and of movie 2 (1.0): disliking 2 (not
    interested: weight 0.5) takes 0.5 times the push (BlendWeights.negative) off its kNN total,
    a 0.5-star rating 1.4 times it, and 2 itself is left out."""

    def knn_total(r: Recommender, profile: Profile, movie: int) -> float:
        return r._pick_scores(Query.of(profile, r._index), r._everyone).dense("knn")[r._index[movie]]

    full = rec.with_weights(dataclasses.replace(rec.weights, negative=1.0))
    assert knn_total(full, Profile(PICKS), 3) == pytest.approx(0.5)
    assert knn_total(full, Profile(PICKS, (2,)), 3) == pytest.approx(0.0)
    assert knn_total(full, Profile(PICKS, (2,), ((2, 0.5),)), 3) == pytest.approx(0.5 - 1.4)
    push = rec.weights.negative
    assert 0 < push < 1  # the default: lighter than full weight, never off
    assert knn_total(rec, Profile(PICKS, (2,)), 3) == pytest.approx(0.5 - 0.5 * push)
    knn = rec.with_weights(KNN_ONLY)
    assert 2 in knn.recommend(Profile(PICKS)).movie_ids()
    assert 2 not in knn.recommend(Profile(PICKS, (2,))).movie_ids()


def test_a_disliked_movie_pulls_the_als_taste_away(rec: Recommender, monkeypatch) -> None:
    """The ALS push is there (off by default: NEGATIVE_ALS, chosen by the evaluation)."""
    import webapp.sources

    monkeypatch.setattr(webapp.sources, "NEGATIVE_ALS", 1.0)
    plain = rec._als_scores(Query.of(Profile(PICKS), rec._index), rec._everyone)
    disliked = rec._als_scores(Query.of(Profile(PICKS, (30,)), rec._index), rec._everyone)
    i = rec._index[30]
    assert disliked[i] < plain[i]
    # and with three plain picks the fold-in is the earlier three-pick arithmetic, bit for bit
    factors = rec.als_factors[[rec._index[p] for p in PICKS]]
    a = rec._gram + rec.als_alpha * (factors.T @ factors) + rec.als_reg * 3 * np.eye(4)
    expected = rec.als_factors @ np.linalg.solve(a, (1 + rec.als_alpha) * factors.sum(axis=0))
    assert np.array_equal(plain, expected)


def test_more_like_this_leans_towards_the_focus(rec: Recommender) -> None:
    knn = rec.with_weights(KNN_ONLY)
    plain = knn.recommend(Profile(PICKS + (25,)))
    focused = knn.recommend(Profile(PICKS + (25,), focus=25))
    assert plain != focused
    assert focused.popular[0].because_of[0] == 25 or focused.less_known[0].because_of[0] == 25


def test_ratings_set_the_weights(rec: Recommender) -> None:
    five = Profile(PICKS + (25,), ratings=((25, 5.0),))
    low = Profile(PICKS + (25,), ratings=((25, 3.5),))
    assert five.liked_weights()[-1] > 1.0 > low.liked_weights()[-1]
    assert (
        Profile(PICKS, (9,), ((9, 0.5),)).disliked_weights()[0] > Profile(PICKS, (9,)).disliked_weights()[0]
    )
    assert len(rec.recommend(five).all()) == len(rec.recommend(low).all()) == 10


@pytest.mark.parametrize(
    "profile, message",
    [
        (Profile(()), "at least one liked"),
        (Profile((1, 2), (2,)), "appear twice"),
        (Profile((1, 1)), "appear twice"),
        (Profile((1, 2), ratings=((3, 4.0),)), "not in the profile"),
        (Profile((1, 2), ratings=((2, 4.2),)), "half star"),
        (Profile((1, 2), ratings=((2, 5.5),)), "half star"),
        (Profile((1, 2), ratings=((2, True),)), "half star"),
        (Profile((1, 2), focus=3), "focus"),
        (Profile(tuple(range(1, 41)), excluded=tuple(range(100, 200))), "at most"),
        (Profile((1, "2")), "integer"),
    ],
)
def test_bad_profiles_are_refused(rec: Recommender, profile: Profile, message: str) -> None:
    with pytest.raises(InvalidPicksError, match=message):
        rec.recommend(profile)


def test_unknown_profile_movies_are_named(rec: Recommender) -> None:
    with pytest.raises(UnknownMovieError) as info:
        rec.recommend(Profile((1, 2), (999,)))
    assert info.value.movie_ids == (999,)


def test_one_liked_movie_is_enough(rec: Recommender) -> None:
    result = rec.recommend(Profile((5,)))
    assert len(result.all()) == 10 and 5 not in result.movie_ids()
    assert MAX_PROFILE >= 50


def test_a_reason_names_at_most_three_movies(rec: Recommender) -> None:
    only_popularity = rec.with_weights(
        BlendWeights(popular={"popularity": 1.0}, less_known={"popularity": 1.0}, after_feedback={})
    )
    result = only_popularity.recommend(Profile((1, 12, 20, 21, 22), ratings=((22, 4.0),)))
    first = result.popular[0]
    assert first.source == "fallback" and first.because_of == (1, 12, 20, 21, 22)
    assert first.reason_head == "Because you liked Film 1, Film 12, Film 20 and 2 more"


def test_after_feedback_the_popular_half_leans_on_knn(rec: Recommender) -> None:
    weights = BlendWeights()
    assert weights.for_section("popular")["knn"] == 0.1
    assert weights.for_section("popular", feedback=True)["knn"] == 0.5
    assert weights.for_section("popular", feedback=True)["ease"] == 2.0
    assert weights.for_section("less_known", feedback=True) == {**weights.less_known, "ease": 2.0, "als": 0.5}
    assert weights.without("knn").for_section("popular", feedback=True)["knn"] == 0.0
    # plain picks keep the three-pick weights; a profile with feedback gets the others
    plain = rec.recommend(Profile(PICKS))
    assert plain == rec.with_weights(BlendWeights(after_feedback={})).recommend(Profile(PICKS))
    # ... whatever the weights after feedback and the push (the evaluation makes the first ten
    # once for all its after-feedback candidates)
    other = BlendWeights(after_feedback={"popular": {"knn": 3.0}, "less_known": {"als": 0.0}}, negative=0.7)
    assert plain == rec.with_weights(other).recommend(Profile(PICKS))
    larger = Profile(PICKS + (25,))  # they do apply to a larger profile
    assert rec.with_weights(other).recommend(larger) != rec.recommend(larger)


def test_recommend_ids_are_the_recommendations_movies(rec: Recommender) -> None:
    """The evaluation's ids-only path gives the same movies, in the same order, as recommend."""
    for liked in [PICKS, (5,), (1, 2, 3, 4, 5, 6, 7, 8, 9, 10), (12, 20)]:
        full = rec.recommend(Profile(liked))
        popular, less_known = rec.recommend_ids(Profile(liked))
        assert [r.movie_id for r in full.popular] == list(popular)
        assert [r.movie_id for r in full.less_known] == list(less_known)


def test_popular_picks_prior_applies_only_when_every_pick_is_popular(rec: Recommender) -> None:
    """The situation (every liked movie in the popular pool) may change the prior; one less-known
    pick and the weights are the ordinary ones. Nothing else changes here: not the models' weights
    (those have their own overrides, popular_picks, off in this test)."""
    weights = BlendWeights(popular_picks_prior={"popular": 0.0}, popular_picks={})
    assert weights.for_section("popular", popular_picks=True)["popularity"] == 0.0
    assert weights.for_section("popular")["popularity"] == BlendWeights().popular["popularity"] > 0
    assert weights.for_section("less_known", popular_picks=True) == weights.less_known
    assert weights.without("popularity").popular_picks_prior == {"popular": 0.0}
    plain = rec.with_weights(BlendWeights(popular_picks_prior=None, popular_picks={}))
    adaptive = rec.with_weights(weights)
    no_prior = rec.with_weights(
        BlendWeights(
            popular={**BlendWeights().popular, "popularity": 0.0}, popular_picks_prior=None, popular_picks={}
        )
    )
    all_popular, mixed = (1, 2, 3), (1, 2, 12)
    # every pick popular: as if the prior were off; a mixed profile: the ordinary weights
    assert adaptive.recommend_ids(Profile(all_popular)) == no_prior.recommend_ids(Profile(all_popular))
    assert adaptive.recommend_ids(Profile(mixed)) == plain.recommend_ids(Profile(mixed))
    # and the prior matters on these tables, so the two checks above can fail
    assert plain.recommend_ids(Profile(all_popular)) != no_prior.recommend_ids(Profile(all_popular))
    # the web app's defaults adapt this way, and change the models too (EASE for the ALS fold-in)
    defaults = BlendWeights()
    assert defaults.popular_picks_prior == {"popular": 0.0}
    assert defaults.popular_picks == {
        "popular": {"ease": 3.0, "als": 0.0},
        "less_known": {"ease": 1.0, "als": 0.5},
    }
    both = rec.with_weights(
        BlendWeights(
            popular={**defaults.popular, "popularity": 0.0, "ease": 3.0, "als": 0.0},
            less_known={**defaults.less_known, "ease": 1.0, "als": 0.5},
            popular_picks_prior=None,
            popular_picks={},
        )
    )
    assert rec.recommend_ids(Profile(all_popular)) == both.recommend_ids(Profile(all_popular))
    assert rec.recommend_ids(Profile(mixed)) == plain.recommend_ids(Profile(mixed))
