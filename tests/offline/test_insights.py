"""Stage `insights`: every table checked against figures worked out by hand on a 10-row table."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from types import SimpleNamespace

import pandas as pd
import pytest

from offline.build import BUILD_STAGES, STAGES
from offline.config import BuildConfig, InsightsConfig, PoolConfig, PopularConfig
from offline.stages import insights
from offline.stages.insights import compute_insights, run
from webapp.schema import INSIGHT_TABLES


def ts(text: str) -> int:
    """Epoch seconds of a UTC time written as 'YYYY-MM-DD HH:MM:SS'."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


# (user, movie, rating, UTC time). Times sit on month and year boundaries on purpose.
ROWS = [
    (1, 1, 5.0, "2000-01-15 12:00:00"),
    (1, 2, 1.0, "2000-01-20 08:30:00"),
    (1, 3, 3.0, "2000-02-29 23:59:59"),
    (2, 1, 1.0, "2000-02-01 00:00:00"),
    (2, 2, 2.0, "2000-02-10 10:00:00"),
    (3, 1, 4.5, "2001-01-01 00:00:00"),
    (3, 2, 2.0, "2001-03-05 18:00:00"),
    (4, 1, 5.0, "1999-12-31 23:59:59"),
    (4, 2, 4.0, "2001-03-06 09:00:00"),
    (5, 2, 0.5, "2000-01-01 00:00:00"),
]
GENRES = {1: "Comedy|Drama", 2: "Drama", 3: ""}  # movie 3 has no genres


def ratings_of(rows: list[tuple[int, int, float, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(u, m, r, ts(t)) for u, m, r, t in rows], columns=["user_id", "movie_id", "rating", "timestamp"]
    )
    return frame.astype({"user_id": "int32", "movie_id": "int32", "rating": "float32", "timestamp": "int64"})


def movies_of(genres: dict[int, str]) -> pd.DataFrame:
    ids = sorted(genres)
    return pd.DataFrame(
        {
            "movie_id": pd.array(ids, dtype="int32"),
            "title": [f"Movie {i}" for i in ids],
            "year": pd.array([1990 + i for i in ids], dtype="Int16"),
            "genres": [genres[i] for i in ids],
            "raw_title": [f"Movie {i}" for i in ids],
        }
    )


def config(catalog_size: int = 3, min_ratings: int = 4) -> BuildConfig:
    """Pools: the top third by count is popular, >= 2 ratings less known. N fixed at min_ratings."""
    return dataclasses.replace(
        BuildConfig(),
        popular=PopularConfig(catalog_size=catalog_size, vote_quantile=0.9),
        pools=PoolConfig(popular_share=1 / 3, less_known_min_count=2),
        insights=InsightsConfig(polarising_floor=min_ratings, polarising_cap=min_ratings),
    )


@pytest.fixture(scope="module")
def built(spark) -> tuple[dict[str, pd.DataFrame], dict]:
    return compute_insights(spark, ratings_of(ROWS), movies_of(GENRES), config())


def records(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_ratings_by_month_count_and_mean(built) -> None:
    month = built[0]["ratings_by_month"]
    assert list(month.columns) == ["month", "ratings", "mean_rating"]
    assert month["month"].tolist() == ["1999-12", "2000-01", "2000-02", "2001-01", "2001-03"]
    assert month["ratings"].tolist() == [1, 3, 3, 1, 2]
    # 2000-01: 5 + 1 + 0.5; 2000-02 (the 29th at 23:59:59 UTC is still February): 3 + 1 + 2
    assert month["mean_rating"].tolist() == pytest.approx([5.0, 6.5 / 3, 2.0, 4.5, 3.0], abs=1e-12)


def test_ratings_by_month_per_genre(built) -> None:
    by_genre = built[0]["genre_ratings_by_month"]
    comedy = by_genre[by_genre["genre"] == "Comedy"]  # movie 1 only
    assert comedy["month"].tolist() == ["1999-12", "2000-01", "2000-02", "2001-01"]
    assert comedy["ratings"].tolist() == [1, 1, 1, 1]
    assert comedy["mean_rating"].tolist() == pytest.approx([5.0, 5.0, 1.0, 4.5], abs=1e-12)
    drama = by_genre[by_genre["genre"] == "Drama"]  # movies 1 and 2
    assert drama["month"].tolist() == ["1999-12", "2000-01", "2000-02", "2001-01", "2001-03"]
    assert drama["ratings"].tolist() == [1, 3, 2, 1, 2]
    assert drama["mean_rating"].tolist() == pytest.approx([5.0, 6.5 / 3, 1.5, 4.5, 3.0], abs=1e-12)
    assert set(by_genre["genre"]) == {"Comedy", "Drama"}  # movie 3's rating is in no genre


def test_rating_distribution_overall_and_per_genre(built) -> None:
    tables = built[0]
    assert records(tables["rating_distribution"]) == [
        (0.5, 1),
        (1.0, 2),
        (2.0, 2),
        (3.0, 1),
        (4.0, 1),
        (4.5, 1),
        (5.0, 2),
    ]
    by_genre = tables["genre_rating_distribution"]
    assert records(by_genre[by_genre["genre"] == "Comedy"]) == [
        ("Comedy", 1.0, 1),
        ("Comedy", 4.5, 1),
        ("Comedy", 5.0, 2),
    ]
    assert records(by_genre[by_genre["genre"] == "Drama"]) == [
        ("Drama", 0.5, 1),
        ("Drama", 1.0, 2),
        ("Drama", 2.0, 2),
        ("Drama", 4.0, 1),
        ("Drama", 4.5, 1),
        ("Drama", 5.0, 2),
    ]


def test_per_movie_series_one_row_per_movie(built) -> None:
    tables = built[0]
    # from the first year with a rating to the last, one count per year
    assert records(tables["movie_ratings_by_year"]) == [(1, 1999, "1 2 1"), (2, 2000, "3 2"), (3, 2000, "1")]
    # ten counts: 0.5, 1, 1.5, ..., 5 stars
    assert records(tables["movie_rating_histogram"]) == [
        (1, "0 1 0 0 0 0 0 0 1 2"),  # 1, 4.5, 5, 5
        (2, "1 1 0 2 0 0 0 1 0 0"),  # 0.5, 1, 2, 2, 4
        (3, "0 0 0 0 0 1 0 0 0 0"),
    ]  # 3


def test_years_without_a_rating_inside_the_span_count_zero(spark) -> None:
    rows = [
        (1, 9, 4.0, "2001-06-01 00:00:00"),
        (2, 9, 3.0, "2004-02-02 00:00:00"),
        (3, 9, 5.0, "2004-12-31 23:59:59"),
        (4, 9, 0.5, "2005-01-01 00:00:00"),
    ]
    tables, _ = compute_insights(spark, ratings_of(rows), movies_of({9: "Drama"}), config(1, 1))
    assert records(tables["movie_ratings_by_year"]) == [(9, 2001, "1 0 0 2 1")]
    assert records(tables["movie_rating_histogram"]) == [(9, "1 0 0 0 0 1 0 1 0 1")]


def test_polarising_movies_std_and_shares(built) -> None:
    polar = built[0]["polarising_movies"]
    assert list(polar.columns) == insights.POLARISING_COLUMNS
    # N = 4: movie 3 (one rating) is left out
    assert polar["movie_id"].tolist() == [1, 2] and polar["rank"].tolist() == [1, 2]
    assert polar["ratings"].tolist() == [4, 5]
    assert polar["mean_rating"].tolist() == pytest.approx([15.5 / 4, 9.5 / 5], abs=1e-12)
    # population variance = mean of squares - square of the mean
    var1 = (25 + 1 + 20.25 + 25) / 4 - (15.5 / 4) ** 2  # 2.796875
    var2 = (1 + 4 + 4 + 16 + 0.25) / 5 - 1.9**2  # 1.44
    assert polar["stddev"].tolist() == pytest.approx([math.sqrt(var1), 1.2], abs=1e-12)
    assert math.sqrt(var2) == pytest.approx(1.2, abs=1e-12)
    assert polar["low_share"].tolist() == pytest.approx([1 / 4, 4 / 5], abs=1e-12)  # <= 2 stars
    assert polar["high_share"].tolist() == pytest.approx([3 / 4, 0.0], abs=1e-12)  # >= 4.5 stars


def test_equal_ratings_have_zero_spread(spark) -> None:
    rows = [(u, 7, 3.5, "2010-05-05 05:05:05") for u in range(1, 31)]
    tables, _ = compute_insights(spark, ratings_of(rows), movies_of({7: "Drama"}), config(1, 30))
    assert tables["polarising_movies"]["stddev"].tolist() == [0.0]


def test_ratings_per_user_power_of_two_bins(built) -> None:
    per_user = built[0]["ratings_per_user"]
    # users 1..5 rated 3, 2, 2, 2, 1 movies: [1, 1] holds one user, [2, 3] four (with 9 ratings)
    assert records(per_user) == [(1, 1, 1, 1), (2, 3, 4, 9)]


def test_ratings_per_user_puts_powers_of_two_in_their_own_bin(spark) -> None:
    rows = [(1, m, 4.0, "2010-01-01 00:00:00") for m in range(1, 9)]  # 8 ratings
    rows += [(2, m, 4.0, "2010-01-01 00:00:00") for m in range(1, 8)]  # 7 ratings
    tables, _ = compute_insights(
        spark, ratings_of(rows), movies_of({m: "Drama" for m in range(1, 9)}), config(2, 1)
    )
    assert records(tables["ratings_per_user"]) == [(4, 7, 1, 7), (8, 15, 1, 8)]


def test_long_tail_ranks_pools_and_cumulative_share(built) -> None:
    tail = built[0]["ratings_per_movie"]
    # counts: movie 2 has 5, movie 1 has 4, movie 3 has 1; ceil(3 / 3) = 1 popular movie
    assert records(tail) == [(1, 5, "popular", 0.5), (2, 4, "less_known", 0.9), (3, 1, "rare", 1.0)]


def test_long_tail_keeps_every_pool_boundary(spark) -> None:
    # 150 movies with 150, 149, ..., 1 ratings: ranks past 100 are sampled, boundaries are kept
    rows = [(u, m, 4.0, "2012-06-01 00:00:00") for m in range(1, 151) for u in range(1, m + 1)]
    cfg = dataclasses.replace(
        config(5, 20),
        pools=PoolConfig(popular_share=0.1, less_known_min_count=5),
        insights=InsightsConfig(polarising_floor=20, polarising_cap=20, long_tail_points=10),
    )
    tables, _ = compute_insights(spark, ratings_of(rows), movies_of({m: "Drama" for m in range(1, 151)}), cfg)
    tail = tables["ratings_per_movie"].set_index("rank")
    assert list(tail.index[:100]) == list(range(1, 101))
    assert 150 in tail.index and len(tail) < 150
    assert tail.loc[15, "pool"] == "popular" and tail.loc[16, "pool"] == "less_known"  # ceil(15)
    assert tail.loc[146, "pool"] == "less_known" and tail.loc[146, "ratings"] == 5  # the last >= 5
    assert tail.loc[146:, "pool"].iloc[1:].eq("rare").all()
    assert (tail["ratings"] == 151 - tail.index).all()
    total = 150 * 151 / 2
    assert tail.loc[2, "cumulative_share"] == pytest.approx((150 + 149) / total, abs=1e-12)


WEIGHTED = [(1, 1, 5.0, "2015-01-01 00:00:00")]  # one 5-star rating
WEIGHTED += [(u, 2, r, "2015-01-01 00:00:00") for u, r in enumerate([4.0, 4.0, 4.5, 4.0, 4.5], start=1)]
WEIGHTED += [(u, 3, r, "2015-01-01 00:00:00") for u, r in enumerate([1.0, 2.0, 3.0, 2.0], start=1)]


def test_weighting_effect_reuses_the_popular_weighting(spark) -> None:
    tables, metrics = compute_insights(
        spark, ratings_of(WEIGHTED), movies_of({1: "", 2: "", 3: ""}), config(catalog_size=1, min_ratings=1)
    )
    c = (5.0 + 4.2 + 2.0) / 3
    m = 4 + 0.8 * (5 - 4)  # 0.9 quantile of the counts [1, 4, 5], linear
    assert metrics["C"] == pytest.approx(c, abs=1e-12) and metrics["m"] == pytest.approx(m, abs=1e-12)
    effect = tables["weighting_effect"]
    assert list(effect.columns) == insights.WEIGHTING_COLUMNS
    # the catalog's top (movie 2: five ratings, mean 4.2) and the top by plain mean (movie 1:
    # one 5-star rating) trade places
    assert effect["movie_id"].tolist() == [2, 1]
    assert effect["score_rank"].tolist() == [1, 2] and effect["mean_rank"].tolist() == [2, 1]
    assert effect["score"].tolist() == pytest.approx(
        [5 / (5 + m) * 4.2 + m / (5 + m) * c, 1 / (1 + m) * 5.0 + m / (1 + m) * c], abs=1e-12
    )


def test_weighting_effect_matches_the_popular_stage(spark) -> None:
    from offline.stages.popular import compute_popular

    cfg = config(catalog_size=2, min_ratings=1)
    tables, _ = compute_insights(spark, ratings_of(ROWS), movies_of(GENRES), cfg)
    popular = compute_popular(spark, ratings_of(ROWS), movies_of(GENRES), cfg)
    effect = tables["weighting_effect"].set_index("movie_id")
    stats = popular["movie_stats"].set_index("movie_id").loc[effect.index]
    assert effect["vote_count"].tolist() == stats["vote_count"].tolist()
    assert effect["vote_mean"].tolist() == stats["vote_mean"].tolist()  # bit for bit
    assert effect["score"].tolist() == stats["score"].tolist()
    catalog = effect[effect["score_rank"] <= 2].sort_values("score_rank")
    assert catalog.index.tolist() == popular["popular"]["movie_id"].tolist()


def test_metrics(built) -> None:
    metrics = built[1]
    assert metrics["ratings"] == 10 and metrics["users"] == 5 and metrics["movies"] == 3
    assert metrics["polarising_min_ratings"] == 4 and metrics["polarising_candidates"] == 2


@pytest.mark.parametrize(
    "ratings, expected",
    [
        (100_836, 20),  # ml-latest-small: 1 by the ratio, raised to the floor
        (2_000_000, 20),
        (5_000_000, 50),
        (12_340_000, 123),
        (25_000_095, 250),
        (32_000_204, 250),  # ml-25m, ml-32m: the cap
    ],
)
def test_polarising_threshold_scales_with_the_data(ratings: int, expected: int) -> None:
    assert InsightsConfig().polarising_min_ratings(ratings) == expected


def test_stage_runs_in_spark_right_after_popular(spark) -> None:
    assert STAGES["insights"].uses_spark
    assert BUILD_STAGES.index("insights") == BUILD_STAGES.index("popular") + 1
    messages: list[str] = []
    ctx = SimpleNamespace(
        spark=spark,
        data=SimpleNamespace(movies=movies_of(GENRES)),
        config=config(),
        progress=messages.append,
        ratings_df=spark.createDataFrame(ratings_of(ROWS)),
    )
    result = run(ctx)
    assert messages and "Spark" in messages[0]
    assert set(result.tables) == set(INSIGHT_TABLES)  # the tables the web app reads
    assert result.metrics["ratings"] == 10


def test_only_aggregates_reach_the_driver(spark, monkeypatch) -> None:
    """Every frame the stage collects is an aggregate: far fewer rows than there are ratings."""
    frame_class = type(spark.range(1))  # the session's DataFrame class (classic or Connect)
    collected: list[int] = []
    real = frame_class.toPandas

    def counting(self):
        frame = real(self)
        collected.append(len(frame))
        return frame

    monkeypatch.setattr(frame_class, "toPandas", counting)
    rows = [
        (u, m, float(1 + (u * m) % 9) / 2, f"20{10 + u % 5}-0{1 + m % 9}-01 00:00:00")
        for u in range(1, 301)
        for m in range(1, 31)
    ]  # 9,000 ratings, 30 movies, 5 years
    ratings = spark.createDataFrame(ratings_of(rows))  # as the build gives them: a Spark DataFrame
    compute_insights(spark, ratings, movies_of({m: "Drama|Comedy" for m in range(1, 31)}), config(5, 20))
    assert collected and max(collected) <= 30 * 10  # at most one row per movie and rating value
