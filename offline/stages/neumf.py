"""Stage `neumf`: neural matrix factorisation (He et al. 2017, NeuMF) on implicit feedback, Keras.

A GMF branch (element-wise product of user and movie embeddings) and an MLP branch (its own
embeddings, concatenated, through dense layers) meet in one sigmoid output: the probability that
the user rated the movie. Trained with log loss on every training rating as a positive plus
`negatives` uniformly sampled unrated movies per positive, redrawn each epoch, as in the paper.

Form chosen by measurement. Quick three-pick run on ml-latest-small (5 folds by user, seed 42;
picks = 3 random 4+-star movies per test user, seeded by user id; two-hop as the web app uses it:
picks -> their top users -> those users' top less-known movies, score = sum of score products;
"less-known HR@10" counts only the user's relevant less-known movies, 523 users):

    variant                                       HR@10   less-known HR@10   coverage
    implicit log loss (this module)               0.276   0.319               493
    rating MSE head, 5 epochs                     0.221   0.256               282
    rating MSE head, 20 epochs                    0.207   0.239               267
    candidate pre-score only (no model)           0.134   0.155                80

The MSE variant also predicts ratings poorly: on the build split's test rows (movies seen in
training) RMSE 0.933, MAE 0.717 at 5 epochs (0.998 at 20), against 0.868 / 0.669 for the
user+item bias baseline on the same split. So it is not kept. Epochs 5/8/12, batch
2048-8192 and 2-4 negatives all land within 0.29-0.33 less-known HR@10 (about 0.02 standard
error); the defaults (12 epochs, batch 8192, lr 0.008) are the cheapest of the best.

Bounded work: nothing is scored over users x movies, only the candidate pairs of
`offline/stages/candidates.py` (each user's less-known neighbours of what they rated, each
movie's raters and its neighbours' raters, both capped).

TensorFlow is imported here only, lazily: the web app never imports this module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from offline.config import BuildConfig, NeumfConfig
from offline.pools import LESS_KNOWN, POPULAR
from offline.split import TRAIN
from offline.stages.candidates import movie_candidates, neighbor_matrices, ranked, user_candidates

if TYPE_CHECKING:
    import keras

    from offline.build import BuildContext, StageResult

DECIMALS = 5
# Two threads per op, fixed (not the machine's core count): both cores of a small machine work,
# and the float sums run in the same order on any host, so the tables do not depend on it.
INTRA_OP_THREADS = 2
ONEDNN_MAX_ISA = "AVX2"  # the newest instruction set oneDNN may use (see _keras)
CHUNK_EXAMPLES = 4_000_000  # training examples sampled at a time (bounded memory per chunk)
BITMAP_PAIRS = 50_000_000  # RatedPairs: a bitmap up to this many (user, movie) pairs (50 MB)
Say = Callable[[str], None]


@dataclass(frozen=True)
class IdIndex:
    """Contiguous indices 0..n-1 for sorted ids, both ways: `ids[i]` and `indices(ids)`."""

    lookup: pd.Index

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> IdIndex:
        """Index over the distinct values, sorted (so index order is id order)."""
        return cls(pd.Index(np.unique(np.asarray(values))))

    @property
    def ids(self) -> np.ndarray:
        return self.lookup.to_numpy()

    def indices(self, values: pd.Series | np.ndarray) -> np.ndarray:
        """Index of each id; -1 for an unknown id."""
        return self.lookup.get_indexer(np.asarray(values))

    def __len__(self) -> int:
        return len(self.lookup)


def _keras() -> Any:
    """Import Keras (TensorFlow backend) quietly, on first use."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN's graph rewrites off: same speed for this small model, and no start-up notice
    # (which ignores the log level).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    # TensorFlow's matrix products still run on oneDNN's kernels, which it picks by CPU: capped
    # at AVX2, a newer CPU runs the same kernels as an AVX2 one, and the same seed gives the same
    # model there (a cap, so an older CPU still runs; on this model's small products it costs
    # nothing). Measured: ONEDNN_MAX_CPU_ISA=AVX changes every NeuMF table on an AVX2 machine.
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", ONEDNN_MAX_ISA)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
    except RuntimeError:
        pass  # TensorFlow already started in this process; its setting stays
    return keras


def build_neumf(n_users: int, n_movies: int, cfg: NeumfConfig, seed: int) -> keras.Model:
    """NeuMF over int user/movie indices; layer `prediction` outputs (batch, 1) probabilities."""
    keras = _keras()
    layers, init = keras.layers, keras.initializers
    # One seed per initializer: an int-seeded initializer repeats the same values on every call.
    n_seeds = 4 + len(cfg.mlp_dims)  # 4 embeddings, the hidden layers, the output layer
    seeds = iter(np.random.default_rng(seed).integers(0, 2**31 - 1, size=n_seeds).tolist())

    def embedding(n: int, dim: int, name: str) -> Any:
        initializer = init.RandomNormal(stddev=0.01, seed=next(seeds))
        return layers.Embedding(n, dim, name=name, embeddings_initializer=initializer)

    user = keras.Input(shape=(), dtype="int32", name="user")
    movie = keras.Input(shape=(), dtype="int32", name="movie")
    gmf = layers.Multiply(name="gmf_product")(
        [
            embedding(n_users, cfg.gmf_dim, "gmf_user_embedding")(user),
            embedding(n_movies, cfg.gmf_dim, "gmf_movie_embedding")(movie),
        ]
    )
    half = cfg.mlp_dims[0] // 2
    mlp = layers.Concatenate(name="mlp_concat")(
        [
            embedding(n_users, half, "mlp_user_embedding")(user),
            embedding(n_movies, half, "mlp_movie_embedding")(movie),
        ]
    )
    for i, units in enumerate(cfg.mlp_dims[1:]):
        mlp = layers.Dense(
            units,
            activation="relu",
            name=f"mlp_dense_{i}",
            kernel_initializer=init.GlorotUniform(seed=next(seeds)),
        )(mlp)
    merged = layers.Concatenate(name="neumf_concat")([gmf, mlp])
    output = layers.Dense(
        1, activation="sigmoid", name="prediction", kernel_initializer=init.GlorotUniform(seed=next(seeds))
    )(merged)
    return keras.Model(inputs={"user": user, "movie": movie}, outputs=output, name="neumf")


class RatedPairs:
    """Which (user, movie) index pairs are rated, for drawing unrated movies as negatives: a
    bitmap of every pair when there are at most BITMAP_PAIRS (ml-latest-small: 5.5 million, a
    lookup per draw), else the rated pairs' sorted keys (a binary search per draw; the full
    releases have billions of pairs). Both answer the same."""

    def __init__(self, user_idx: np.ndarray, movie_idx: np.ndarray, n_users: int, n_movies: int) -> None:
        self.n_movies = n_movies
        keys = user_idx.astype(np.int64) * n_movies + movie_idx
        self.bitmap: np.ndarray | None = None
        self.sorted_keys: np.ndarray | None = None
        if n_users * n_movies <= BITMAP_PAIRS:
            self.bitmap = np.zeros(n_users * n_movies, dtype=bool)
            self.bitmap[keys] = True
        else:
            self.sorted_keys = np.unique(keys)

    def rated(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """Per (user, movie) index pair: whether it is rated."""
        keys = users.astype(np.int64) * self.n_movies + movies
        if self.bitmap is not None:
            return self.bitmap[keys]
        assert self.sorted_keys is not None
        return _isin_sorted(keys, self.sorted_keys)


def sample_epoch(
    user_idx: np.ndarray,
    movie_idx: np.ndarray,
    rated: RatedPairs,
    n_movies: int,
    negatives: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled examples of the given positives: each one plus `negatives` unrated movies."""
    neg_users = np.repeat(user_idx, negatives)
    neg_movies = rng.integers(0, n_movies, size=neg_users.size)
    for _ in range(5):  # redraw the few that hit a rated movie; any left after 5 rounds are noise
        hit = rated.rated(neg_users, neg_movies)
        if not hit.any():
            break
        neg_movies[hit] = rng.integers(0, n_movies, size=int(hit.sum()))
    users = np.concatenate([user_idx, neg_users]).astype(np.int32)
    movies = np.concatenate([movie_idx, neg_movies]).astype(np.int32)
    labels = np.concatenate([np.ones(user_idx.size), np.zeros(neg_users.size)]).astype(np.float32)
    order = rng.permutation(users.size)
    return users[order], movies[order], labels[order]


def training_plan(n_positives: int, cfg: NeumfConfig) -> tuple[int, int]:
    """(batch size, examples to train on): `epochs` passes, cut at the step budget.

    The batch grows with the data (up to `max_batch_size`) so an epoch keeps about 400 steps:
    per-step costs (the optimizer's pass over the embedding tables) stay a small share.
    """
    per_epoch = n_positives * (1 + cfg.negatives)
    batch = int(min(cfg.max_batch_size, max(cfg.batch_size, per_epoch // 400)))
    return batch, int(min(cfg.epochs * per_epoch, cfg.max_train_examples))


def fit_neumf(
    user_idx: np.ndarray,
    movie_idx: np.ndarray,
    n_users: int,
    n_movies: int,
    cfg: NeumfConfig,
    seed: int,
    say: Say | None = None,
) -> tuple[keras.Model, list[float]]:
    """Train NeuMF on (user, movie) index pairs; returns the model and each epoch's mean loss.

    Each epoch visits the positives in a fresh random order, a chunk at a time (negatives are
    sampled per chunk, so memory is bounded by CHUNK_EXAMPLES, not by the data); training stops
    after `training_plan`'s number of examples, mid-epoch on large data.
    """
    keras = _keras()
    import tensorflow as tf

    # Reproducible tables: deterministic kernels (on CPU this costs little).
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(seed)
    model = build_neumf(n_users, n_movies, cfg, int(rng.integers(2**31 - 1)))
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    optimizer.build(model.trainable_variables)
    log_loss = keras.losses.BinaryCrossentropy()

    # A plain tf.function step rather than model.fit: fit's tf.data pipeline costs more than
    # this small model's arithmetic (about 2x slower per epoch on 2 CPU cores). No autograph: the
    # step has no control flow on tensors to convert, and autograph writes the converted source
    # to a file in the system's temporary folder that a killed build leaves behind.
    @tf.function(reduce_retracing=True, autograph=False)
    def train_step(users: Any, movies: Any, labels: Any) -> Any:
        with tf.GradientTape() as tape:
            loss = log_loss(labels, model({"user": users, "movie": movies}, training=True))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    batch, budget = training_plan(user_idx.size, cfg)
    chunk = max(1, CHUNK_EXAMPLES // (1 + cfg.negatives))
    rated = RatedPairs(user_idx, movie_idx, n_users, n_movies)
    losses: list[float] = []
    done, started = 0, time.perf_counter()
    total_steps = -(-budget // batch)
    while done < budget and user_idx.size:
        order = rng.permutation(user_idx.size)
        epoch_losses = []
        for start in range(0, order.size, chunk):
            part = order[start : start + chunk]
            users, movies, labels = sample_epoch(
                user_idx[part], movie_idx[part], rated, n_movies, cfg.negatives, rng
            )
            for s in range(0, users.size, batch):
                if done >= budget:
                    break
                epoch_losses.append(
                    train_step(users[s : s + batch], movies[s : s + batch], labels[s : s + batch])
                )
                done += min(batch, users.size - s)
            if say:
                step = -(-done // batch)
                left = (time.perf_counter() - started) / done * (budget - done)
                say(
                    f"NeuMF: step {step:,}/{total_steps:,} (epoch {len(losses) + 1}), about {left:.0f} s left"
                )
            if done >= budget:
                break
        losses.append(round(float(np.mean([float(x) for x in epoch_losses])), 4))
    return model, losses


def predict_pairs(
    model: keras.Model, user_idx: np.ndarray, movie_idx: np.ndarray, batch_size: int, scorer: Any = None
) -> np.ndarray:
    """Scores of (user, movie) index pairs, in batches, rounded so ties and bytes are stable
    (scorer: the model's `pair_scorer`, to share one between calls)."""
    predict = scorer or pair_scorer(model)
    users, movies = user_idx.astype(np.int32), movie_idx.astype(np.int32)
    parts = [
        np.asarray(predict(users[s : s + batch_size], movies[s : s + batch_size])).reshape(-1)
        for s in range(0, users.size, batch_size)
    ]
    scores = np.concatenate(parts) if parts else np.zeros(0)
    return np.round(scores.astype(np.float64), DECIMALS)


def pair_scorer(model: keras.Model) -> Any:
    """The model's compiled scoring function, traced once: any batch size fits its signature, so
    neither the last, shorter batch nor a second `predict_pairs` call given the same scorer
    traces it again (a new function per call, traced again for the last batch, made TensorFlow
    warn of retracing in `evaluate`)."""
    import tensorflow as tf

    spec = tf.TensorSpec([None], tf.int32)
    return tf.function(  # no autograph, as train_step
        lambda u, m: model({"user": u, "movie": m}, training=False),
        input_signature=(spec, spec),
        autograph=False,
    )


def _isin_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Membership of each value in a sorted key array."""
    if sorted_keys.size == 0:
        return np.zeros(values.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), sorted_keys.size - 1)
    return sorted_keys[pos] == values


def _pool_series(pools: pd.DataFrame | pd.Series) -> pd.Series:
    """Pools as a Series indexed by movie_id (accepts ctx.pools or assign_pools' output)."""
    if isinstance(pools, pd.DataFrame):
        return pools.set_index("movie_id")["pool"]
    return pools


def train_neumf(
    ratings: pd.DataFrame,
    pools: pd.DataFrame | pd.Series,
    cfg: BuildConfig,
    split: pd.Series | None = None,
    say: Say | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Train NeuMF on the training rows and export its top lists and movie embeddings.

    The candidate pairs come first: they depend only on who rated what, and their similarity
    search forks worker processes, which is safe before TensorFlow starts its threads.
    """
    start = time.perf_counter()
    train = ratings if split is None else ratings[split.to_numpy() == TRAIN]
    users, movies = IdIndex.of(train["user_id"]), IdIndex.of(train["movie_id"])
    user_idx, movie_idx = users.indices(train["user_id"]), movies.indices(train["movie_id"])
    rated = sp.csr_matrix(
        (np.ones(user_idx.size, dtype=np.float32), (user_idx, movie_idx)), shape=(len(users), len(movies))
    )
    items = rated.T.tocsr()
    pool = _pool_series(pools)
    if say:
        say("NeuMF: neighbours of every movie among the supported and the less-known ones")
    # Neighbours among supported (non-rare) movies only: their raters are the meaningful
    # candidates, and it keeps the similarity search at movies x supported, not movies^2.
    supported = _indices_in_pool(pool, movies, (POPULAR, LESS_KNOWN))
    among_supported, among_less_known = neighbor_matrices(
        items,
        supported,
        [None, _indices_in_pool(pool, movies, (LESS_KNOWN,))],
        cfg.neumf.candidate_neighbors,
        cfg.knn.workers,
    )
    if say:
        say("NeuMF: candidate movies per user and users per movie")
    user_pairs = user_candidates(rated, _seen_matrix(ratings, users, movies), among_less_known, cfg.neumf)
    movie_pairs = movie_candidates(items, among_supported, cfg.neumf, cfg.seed_for("neumf_raters"))
    del rated, items
    candidates_done = time.perf_counter()
    model, losses = fit_neumf(
        user_idx, movie_idx, len(users), len(movies), cfg.neumf, cfg.seed_for("neumf"), say
    )
    trained = time.perf_counter()
    if say:
        say(f"NeuMF: scoring {user_pairs[0].size + movie_pairs[0].size:,} candidate pairs")
    batch = cfg.neumf.predict_batch_size
    scorer = pair_scorer(model)
    u, m = user_pairs
    scores = predict_pairs(model, u, m, batch, scorer)
    user_top = ranked(u, m, scores, cfg.neumf.top_n, ("user_id", "movie_id"))
    m, u = movie_pairs
    scores = predict_pairs(model, u, m, batch, scorer)
    movie_top = ranked(m, u, scores, cfg.neumf.top_n, ("movie_id", "user_id"))
    batch_size, examples = training_plan(user_idx.size, cfg.neumf)
    tables = {
        "neumf_user_top": _to_ids(user_top, {"user_id": users, "movie_id": movies}),
        "neumf_movie_top_users": _to_ids(movie_top, {"movie_id": movies, "user_id": users}),
    }
    metrics = {
        "train_rows": int(len(train)),
        "users": len(users),
        "movies": len(movies),
        "epoch_loss": losses,
        "batch_size": batch_size,
        "train_examples": examples,
        "candidate_seconds": round(candidates_done - start, 2),
        "train_seconds": round(trained - candidates_done, 2),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return tables, metrics


def _indices_in_pool(pool: pd.Series, movies: IdIndex, names: tuple[str, ...]) -> np.ndarray:
    """Sorted model indices of the known movies whose pool is one of `names`."""
    idx = movies.indices(pool.index[pool.isin(names).to_numpy()])
    return np.sort(idx[idx >= 0])


def _seen_matrix(ratings: pd.DataFrame, users: IdIndex, movies: IdIndex) -> sp.csr_matrix:
    """Binary user x movie matrix of every given rating whose user and movie the model knows."""
    u, m = users.indices(ratings["user_id"]), movies.indices(ratings["movie_id"])
    known = (u >= 0) & (m >= 0)
    return sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=np.float32), (u[known], m[known])), shape=(len(users), len(movies))
    )


def _to_ids(frame: pd.DataFrame, codecs: dict[str, IdIndex]) -> pd.DataFrame:
    """Replace index columns by ids (index order is id order, so the sort order holds)."""
    out = frame.copy()
    for column, codec in codecs.items():
        out[column] = codec.ids[frame[column].to_numpy()].astype(np.int32)
    out["rank"] = out["rank"].astype(np.int32)
    return out.reset_index(drop=True)


def run(ctx: BuildContext) -> StageResult:
    """Stage `neumf`: train on the build's training split, export the two tables."""
    from offline.build import StageResult

    tables, metrics = train_neumf(ctx.data.ratings, ctx.pools, ctx.config, ctx.split, ctx.progress)
    return StageResult(tables=tables, metrics=metrics)
