"""Stage `neumf`: model shape and layers, learning, exported tables, determinism."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline.config import BuildConfig, NeumfConfig, PoolConfig
from offline.pools import assign_pools
from offline.stages import neumf
from offline.stages.neumf import RatedPairs, build_neumf, fit_neumf, predict_pairs, train_neumf

TINY = NeumfConfig(
    gmf_dim=4,
    mlp_dims=(8, 4),
    epochs=6,
    batch_size=256,
    negatives=4,
    learning_rate=0.01,
    top_n=3,
    candidate_neighbors=5,
    candidate_cap=15,
)
N_USERS, N_MOVIES = 60, 40


@pytest.fixture(scope="module")
def cfg() -> BuildConfig:
    return dataclasses.replace(
        BuildConfig(), neumf=TINY, pools=PoolConfig(popular_share=0.2, less_known_min_count=3)
    )


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    """Two taste groups (user and movie parity); within a group, low movie ids are more popular."""
    rng = np.random.default_rng(7)
    rows = [
        (u, m, float(rng.integers(6, 11)) / 2)
        for u in range(1, N_USERS + 1)
        for m in range(1, N_MOVIES + 1)
        if u % 2 == m % 2 and rng.random() < 0.9 - 0.02 * m
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])
    return frame.astype({"user_id": "int32", "movie_id": "int32", "rating": "float32"}).assign(
        timestamp=np.int64(0)
    )


@pytest.fixture(scope="module")
def pools(ratings: pd.DataFrame, cfg: BuildConfig) -> pd.Series:
    return assign_pools(ratings.groupby("movie_id").size(), cfg.pools)


@pytest.fixture(scope="module")
def built(ratings, pools, cfg):
    before = ratings.copy()
    result = train_neumf(ratings, pools, cfg)
    pd.testing.assert_frame_equal(ratings, before)  # the input is not mutated
    return result


def test_one_score_per_pair_in_zero_one():
    model = build_neumf(5, 7, TINY, seed=1)
    users = np.array([0, 1, 2, 3, 4, 0], dtype=np.int32)
    movies = np.array([6, 5, 4, 3, 2, 1], dtype=np.int32)
    scores = np.asarray(model({"user": users, "movie": movies}))
    assert scores.shape == (6, 1)  # layer `prediction`: (batch, 1), as predict_pairs reshapes
    assert ((scores > 0) & (scores < 1)).all()
    # each row scored alone gives the same value: nothing mixes rows along the batch axis
    single = [
        np.asarray(model({"user": users[i : i + 1], "movie": movies[i : i + 1]})).item() for i in range(6)
    ]
    np.testing.assert_allclose(scores.ravel(), single, rtol=1e-5)


def test_named_layers_exist():
    model = build_neumf(5, 7, TINY, seed=1)
    names = {layer.name for layer in model.layers}
    assert {
        "gmf_user_embedding",
        "gmf_movie_embedding",
        "mlp_user_embedding",
        "mlp_movie_embedding",
        "prediction",
    } <= names
    shapes = {
        name: model.get_layer(name).get_weights()[0].shape
        for name in ("gmf_user_embedding", "gmf_movie_embedding", "mlp_user_embedding", "mlp_movie_embedding")
    }
    half = TINY.mlp_dims[0] // 2
    assert shapes == {
        "gmf_user_embedding": (5, TINY.gmf_dim),
        "gmf_movie_embedding": (7, TINY.gmf_dim),
        "mlp_user_embedding": (5, half),
        "mlp_movie_embedding": (7, half),
    }


def test_training_separates_positives_from_negatives(ratings):
    users = ratings["user_id"].to_numpy() - 1
    movies = ratings["movie_id"].to_numpy() - 1
    model, losses = fit_neumf(users, movies, N_USERS, N_MOVIES, TINY, seed=3)
    assert losses[-1] < losses[0]
    # held-out check on the structure: same-parity pairs (taste group) score above cross pairs
    grid_u, grid_m = np.meshgrid(np.arange(N_USERS), np.arange(N_MOVIES), indexing="ij")
    scores = np.asarray(
        model({"user": grid_u.ravel().astype(np.int32), "movie": grid_m.ravel().astype(np.int32)})
    ).ravel()
    same = (grid_u.ravel() % 2) == (grid_m.ravel() % 2)
    pos, neg = scores[same], scores[~same]
    auc = (pos[:, None] > neg[None, :]).mean()
    assert auc > 0.8


def test_training_writes_nothing_to_the_temporary_folder(ratings, tmp_path, monkeypatch):
    """tf.function's autograph writes each converted function's source to a file in the system's
    temporary folder and removes it only at a clean exit: a killed build left one behind per run."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    users = ratings["user_id"].to_numpy() - 1
    movies = ratings["movie_id"].to_numpy() - 1
    model, _ = fit_neumf(users, movies, N_USERS, N_MOVIES, dataclasses.replace(TINY, epochs=1), seed=3)
    predict_pairs(model, users[:10], movies[:10], batch_size=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_scoring_traces_the_model_once_and_matches_calling_it(ratings):
    """One compiled scoring function, traced once for every batch size and both calls (a new
    function per call, traced again for the last, shorter batch, made TensorFlow warn of
    retracing); its scores are the model's own."""
    from offline.stages.neumf import pair_scorer

    users = ratings["user_id"].to_numpy() - 1
    movies = ratings["movie_id"].to_numpy() - 1
    model, _ = fit_neumf(users, movies, N_USERS, N_MOVIES, dataclasses.replace(TINY, epochs=1), seed=3)
    scorer = pair_scorer(model)
    first = predict_pairs(model, users[:10], movies[:10], 4, scorer)  # batches of 4, 4 and 2
    second = predict_pairs(model, users[5:12], movies[5:12], 3, scorer)
    assert scorer.experimental_get_tracing_count() == 1
    direct = np.asarray(model({"user": users[:12].astype(np.int32), "movie": movies[:12].astype(np.int32)}))
    np.testing.assert_allclose(first, direct.ravel()[:10], atol=1e-5)  # rounded to DECIMALS
    np.testing.assert_allclose(second, direct.ravel()[5:12], atol=1e-5)  # rounded to DECIMALS


def test_exported_tables(built, ratings, pools, cfg):
    tables, metrics = built
    assert set(tables) == {"neumf_user_top", "neumf_movie_top_users"}
    user_top, movie_users = tables["neumf_user_top"], tables["neumf_movie_top_users"]
    assert list(user_top.columns) == ["user_id", "movie_id", "score", "rank"]
    assert list(movie_users.columns) == ["movie_id", "user_id", "score", "rank"]
    assert len(user_top) and len(movie_users)
    assert user_top.groupby("user_id").size().max() <= TINY.top_n
    assert movie_users.groupby("movie_id").size().max() <= TINY.top_n
    assert user_top["score"].between(0, 1).all() and movie_users["score"].between(0, 1).all()
    rated = set(zip(ratings["user_id"], ratings["movie_id"]))
    assert not any(pair in rated for pair in zip(user_top["user_id"], user_top["movie_id"]))
    assert set(pools[user_top["movie_id"]]) == {"less_known"}
    for frame, key in ((user_top, "user_id"), (movie_users, "movie_id")):
        ranks = frame.groupby(key)["rank"].apply(list)
        assert all(r == list(range(1, len(r) + 1)) for r in ranks)
        assert (frame.groupby(key)["score"].diff().dropna() <= 0).all()
    assert metrics["users"] == N_USERS and metrics["train_rows"] == len(ratings)


def test_split_trains_on_train_rows_and_excludes_every_rated_movie(ratings, pools, cfg):
    split = pd.Series(np.where(np.arange(len(ratings)) % 5 == 0, "test", "train"), index=ratings.index)
    tables, metrics = train_neumf(ratings, pools, cfg, split)
    assert metrics["train_rows"] == int((split == "train").sum())
    top = tables["neumf_user_top"]
    rated = set(zip(ratings["user_id"], ratings["movie_id"]))  # test rows too
    assert not any(pair in rated for pair in zip(top["user_id"], top["movie_id"]))


def test_same_seed_gives_identical_bytes(built, ratings, pools, cfg):
    again, _ = train_neumf(ratings, pools, cfg)
    for name, table in built[0].items():
        assert table.to_csv(index=False) == again[name].to_csv(index=False), name


def test_rated_pairs_answer_alike_as_a_bitmap_and_as_sorted_keys(monkeypatch):
    """The negatives' "is it rated?" lookup: the bitmap (small data) and the sorted keys (the
    full releases) answer every pair alike, rated or not, whatever the order of the ratings."""
    rng = np.random.default_rng(3)
    users, movies = rng.integers(0, 50, 400), rng.integers(0, 70, 400)
    bitmap = RatedPairs(users, movies, 50, 70)
    monkeypatch.setattr(neumf, "BITMAP_PAIRS", 0)
    keys = RatedPairs(users, movies, 50, 70)
    assert bitmap.bitmap is not None and keys.sorted_keys is not None  # the two forms
    all_users, all_movies = np.divmod(np.arange(50 * 70), 70)
    expected = np.zeros((50, 70), dtype=bool)
    expected[users, movies] = True
    assert (bitmap.rated(all_users, all_movies) == expected.ravel()).all()
    assert (keys.rated(all_users, all_movies) == expected.ravel()).all()


# A fresh process (oneDNN reads its cap once): NeuMF's first matrix product, with oneDNN's
# verbose log on, which names the instruction set its kernels use.
_FIRST_PRODUCT = """
import os
from offline.stages import neumf
neumf._keras()
import tensorflow as tf
tf.matmul(tf.ones((8, 8)), tf.ones((8, 8)))
print("cap", os.environ["ONEDNN_MAX_CPU_ISA"])
"""


@pytest.mark.parametrize("preset", [None, "AVX"])
def test_onednn_kernels_are_capped_at_avx2_unless_the_user_chose(preset):
    """TensorFlow's matrix products run on oneDNN kernels chosen by CPU, even with its graph
    rewrites off: an AVX-512 machine trained a different NeuMF from the same seed. _keras caps
    them at AVX2, so newer CPUs run the same kernels; a cap the user set is kept."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    env.update(ONEDNN_VERBOSE="1", PYTHONPATH=str(Path(neumf.__file__).resolve().parents[2]))
    if preset:
        env["ONEDNN_MAX_CPU_ISA"] = preset
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_PRODUCT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert f"cap {preset or neumf.ONEDNN_MAX_ISA}" in out
    isa = [line.rsplit("isa:", 1)[1] for line in out.splitlines() if "info,cpu,isa:" in line]
    assert isa, out[-2000:]
    # "Intel AVX2", "Intel AVX2 with Intel DL Boost", ... (less on an older CPU); never AVX-512
    assert "512" not in isa[0] and "AMX" not in isa[0], isa
    if preset:
        assert isa[0] == "Intel AVX", isa
