"""Stage `als`: recovery of a low-rank matrix, exported tables, determinism, implicit factors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from offline.config import AlsConfig, BuildConfig
from offline.split import split_ratings
from offline.stages import als

USERS, MOVIES = 60, 40
CFG = dataclasses.replace(
    BuildConfig(),
    seed=7,
    als=AlsConfig(
        ranks=(2,),
        reg_params=(0.01, 0.1),
        max_iter=10,
        top_n=5,
        implicit_rank=4,
        implicit_reg_param=0.1,
        implicit_alpha=10.0,
        implicit_max_iter=5,
    ),
)


def low_rank_ratings(seed: int = 0, density: float = 0.6) -> pd.DataFrame:
    """Exactly rank-2 ratings (0.3..3.9) on a random 60% of a 60 x 40 grid (movie ids 101..140)."""
    rng = np.random.default_rng(seed)
    u, v = rng.uniform(0.3, 1.5, size=(USERS, 2)), rng.uniform(0.3, 1.5, size=(MOVIES, 2))
    users, movies = np.nonzero(rng.random((USERS, MOVIES)) < density)
    return pd.DataFrame(
        {
            "user_id": (users + 1).astype("int32"),
            "movie_id": (movies + 101).astype("int32"),
            "rating": np.einsum("ij,ij->i", u[users], v[movies]).astype("float32"),
            "timestamp": np.zeros(len(users), dtype="int64"),
        }
    )


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    ratings = low_rank_ratings()
    # the split train_als computes in Spark, here in numpy (the same hash)
    return ratings, split_ratings(ratings, CFG.split_fractions, CFG.seed_for("split"))


@pytest.fixture(scope="module")
def trained(spark, data) -> tuple[dict[str, pd.DataFrame], dict]:
    return als.train_als(spark, data[0], CFG)


def test_recovers_low_rank_ratings(trained) -> None:
    _, metrics = trained
    assert metrics["rank"] == 2 and metrics["reg_param"] in (0.01, 0.1)
    assert [g["reg_param"] for g in metrics["grid"]] == [0.01, 0.1]
    assert metrics["test_rmse"] < 0.5 * metrics["global_mean_test_rmse"]
    assert metrics["test_rmse"] < metrics["bias_test_rmse"]
    assert metrics["test_rmse"] < 0.3


def test_baselines_scored_on_the_same_test_rows(data, trained) -> None:
    ratings, split = data
    _, metrics = trained
    assert metrics["test_rows"] + metrics["test_rows_cold_start"] == int((split == "test").sum())


def test_exported_tables(data, trained) -> None:
    ratings, _ = data
    tables, metrics = trained
    factor_cols = [f"f{i}" for i in range(metrics["rank"])]
    users, items = tables["als_user_factors"], tables["als_item_factors"]
    assert list(users.columns) == ["user_id", *factor_cols]
    assert list(items.columns) == ["movie_id", *factor_cols]
    assert users["user_id"].tolist() == sorted(ratings["user_id"].unique())
    assert items["movie_id"].tolist() == sorted(ratings["movie_id"].unique())
    top = tables["als_user_top"]
    assert list(top.columns) == ["user_id", "movie_id", "score", "rank"]
    assert top.groupby("user_id")["rank"].apply(list).tolist() == [[1, 2, 3, 4, 5]] * USERS
    seen = set(zip(ratings["user_id"], ratings["movie_id"]))
    assert not any(pair in seen for pair in zip(top["user_id"], top["movie_id"]))
    assert (top.groupby("user_id")["score"].diff().dropna() <= 0).all()
    assert top["score"].between(0.5, 5.0).all()
    counts = ratings["movie_id"].value_counts()
    assert (top["movie_id"].map(counts) >= CFG.pools.less_known_min_count).all()


def test_top_unseen_by_hand() -> None:
    users = pd.DataFrame({"user_id": [1, 2], "f0": [1.0, 0.0], "f1": [0.0, 2.0]})
    items = pd.DataFrame(
        {"movie_id": [10, 20, 30, 40], "f0": [2.0, 1.0, 0.0, 1.0], "f1": [0.0, 0.5, 3.0, 0.5]}
    )
    seen = pd.DataFrame({"user_id": [1, 2], "movie_id": [10, 40]})
    top = als.top_unseen(users, items, seen, top_n=2)
    # user 1: 20 -> 1, 30 -> 0, 40 -> 1: the tie 20/40 goes to the lower movie_id
    # user 2: 10 -> 0, 20 -> 1, 30 -> 6 (published clipped to 5)
    assert top.values.tolist() == [[1, 20, 1.0, 1], [1, 40, 1.0, 2], [2, 30, 5.0, 1], [2, 20, 1.0, 2]]


def test_predict_marks_cold_start_rows() -> None:
    users = pd.DataFrame({"user_id": [1], "f0": [2.0]})
    items = pd.DataFrame({"movie_id": [10, 20], "f0": [1.5, 3.0]})
    rows = pd.DataFrame({"user_id": [1, 1, 9], "movie_id": [10, 20, 10]})
    known, pred = als.predict(users, items, rows)
    assert known.tolist() == [True, True, False]
    assert pred.tolist() == [3.0, 5.0]  # 6.0 clipped to the rating scale


def test_same_seed_same_tables_whatever_the_row_order(spark, data, trained) -> None:
    ratings, _ = data
    order = np.random.default_rng(1).permutation(len(ratings))
    again, metrics = als.train_als(spark, ratings.iloc[order], CFG)
    for name, table in trained[0].items():
        pd.testing.assert_frame_equal(again[name], table, check_exact=True)
    timing = {"seconds"}  # wall times differ run to run; every figure must not
    assert {k: v for k, v in metrics.items() if k not in timing} == {
        k: v for k, v in trained[1].items() if k not in timing
    }


def test_grid_on_a_user_sample_when_the_data_is_large(spark, data, trained) -> None:
    """Above sample_ratings, the grid and the error figures use a sample of users; the exported
    factors still cover every user and movie."""
    ratings, split = data
    small = dataclasses.replace(CFG, als=dataclasses.replace(CFG.als, sample_ratings=600))
    tables, metrics = als.train_als(spark, ratings, small)
    info = metrics["grid_sample"]
    assert info["sampled"] and info["of_ratings"] == len(ratings)
    assert 0.2 < info["user_share"] < 0.5
    all_test = int((split == "test").sum())
    assert 0 < metrics["test_rows"] + metrics["test_rows_cold_start"] < 0.7 * all_test
    assert tables["als_user_factors"]["user_id"].tolist() == sorted(ratings["user_id"].unique())
    assert not trained[1]["grid_sample"]["sampled"]


def test_top_lists_in_spark_match_the_driver_computation(spark, data, trained) -> None:
    ratings, _ = data
    tables, _ = trained
    counts = ratings["movie_id"].value_counts()
    items = als.recommendable(tables["als_item_factors"], counts, CFG)
    expected = als.top_unseen(tables["als_user_factors"], items, ratings, CFG.als.top_n)
    pd.testing.assert_frame_equal(tables["als_user_top"], expected, check_exact=True)


def test_bias_baseline_in_spark_matches_pandas(spark, data) -> None:
    from offline.stages import baselines

    ratings, _ = data
    mine = baselines.fit_bias_spark(spark.createDataFrame(ratings))
    theirs = baselines.fit_bias(ratings)
    assert mine.global_mean == pytest.approx(theirs.global_mean, abs=1e-9)
    pd.testing.assert_series_equal(
        mine.item_bias, theirs.item_bias.sort_index(), atol=1e-9, check_names=False, check_index_type=False
    )
    pd.testing.assert_series_equal(
        mine.user_bias, theirs.user_bias.sort_index(), atol=1e-9, check_names=False, check_index_type=False
    )


def test_implicit_factors_separate_taste_groups(spark) -> None:
    # users 1-20 watch movies 1-10, users 21-40 watch movies 11-20, each pair with prob 0.7
    rng = np.random.default_rng(5)
    rows = [
        (u, m) for u in range(1, 41) for m in range(1, 21) if (u <= 20) == (m <= 10) and rng.random() < 0.7
    ]
    ratings = pd.DataFrame(rows, columns=["user_id", "movie_id"]).astype("int32")
    ratings["rating"] = np.float32(4.0)
    factors = als.train_als_implicit(spark, ratings, CFG)
    assert list(factors.columns) == ["movie_id", "f0", "f1", "f2", "f3"]
    assert factors["movie_id"].tolist() == list(range(1, 21))
    y = factors.iloc[:, 1:].to_numpy()
    sim = y @ y.T
    group = np.arange(20) < 10
    same = group[:, None] == group[None, :]
    assert sim[same].mean() > 5 * abs(sim[~same].mean())
    again = als.train_als_implicit(spark, ratings, CFG)
    pd.testing.assert_frame_equal(again, factors, check_exact=True)


def test_long_als_runs_with_checkpoints(spark) -> None:
    """30 iterations: without a checkpoint directory Spark ALS dies of StackOverflowError."""
    from offline.stages.als import _estimator, ratings_frame

    assert spark.sparkContext.getCheckpointDir() is not None
    rng = np.random.default_rng(3)
    users, movies = rng.integers(1, 40, 600), rng.integers(1, 60, 600)
    frame = pd.DataFrame(
        {"user_id": users, "movie_id": movies, "rating": rng.integers(1, 11, 600) / 2}
    ).drop_duplicates(["user_id", "movie_id"])
    model = _estimator(rank=3, reg_param=0.1, max_iter=30, seed=1).fit(ratings_frame(spark, frame))
    assert model.itemFactors.count() > 0
