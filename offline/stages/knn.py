"""Stage `knn`: each movie's nearest movies (item-item cosine).

Collaborative neighbours come from a blockwise sparse co-occurrence product (`similarity.py`:
exact counts, memory bounded per block, two processes); content neighbours from scikit-learn
(TF-IDF, and cosine distances to every candidate; ties at the k-th place settled by id).

Representation, chosen by measurement: a movie is the binary vector of the users who rated it
(co-occurrence cosine), not its mean-centred ratings (adjusted cosine). Quick three-pick run on
ml-latest-small (5 folds by user, seed 42; picks = 3 random 4+-star movies of each test user,
seeded by user id; relevant = the rest of their 4+-star movies; score = sum of the picks'
neighbour similarities, top 10 without the picks; neighbours from the other folds' ratings;
605 simulated users; k=30, min_support=5):

    item vectors                        HR@10   NDCG@10  coverage
    binary (who rated what)             0.797   0.285    1406
    mean-centred ratings                0.549   0.147    2110
    binary, content sims x 0.5          0.825   0.302    1265
    binary, min_support=20              0.817   0.292     808

Binary cosine wins by a wide margin (EVALUATION.md has 0.86 vs 0.46): three picks say *what a
visitor watches*; whether a neighbour was rated 3.5 or 4.5 adds noise, and centring makes movies
that a handful of users rated alike look like perfect neighbours. `KnnConfig.weighting =
"centred"` keeps the other form for ablations. min_support=5 matches the less-known pool: at 20,
HR@10 is about the same but the less-known half loses most of its candidates (less-known HR@10
of the picks' less-known neighbours: 0.24 at 5, 0.10 at 20, cf only).

Each row also carries `co_raters`, how many users rated both movies (exact: the cf rows' counts
come out of the same co-occurrence product, the other rows' are counted pair by pair): the web
app's reasons show it as evidence ("41 of the 120 people who rated A also rated this").

Movies with fewer than `min_support` ratings (and movies nobody rated, which a visitor can still
find by search) get content neighbours instead: TF-IDF over genres, tags, decade and (at half
weight) title words, cosine, among the movies that do have enough ratings (the only ones a
recommendation can come from). Content cosines run higher than co-occurrence cosines, so a
consumer summing both should discount `content` rows (x0.5 measured best above). Only movies
with no genre, tag, year or shared title word get no neighbours (2 in ml-latest-small).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics import pairwise_distances_chunked

from offline.config import BuildConfig
from offline.stages import similarity

if TYPE_CHECKING:  # build imports the stages; import it lazily to avoid a cycle
    from offline.build import BuildContext, StageResult

COLUMNS = ["movie_id", "neighbor_id", "similarity", "rank", "kind", "co_raters"]
CF, CONTENT = "cf", "content"
DECIMALS = 6
TITLE_WEIGHT = 0.5
WORKING_MEMORY_MB = 64  # per distance chunk; sklearn's 1 GiB default is slower and peaks higher
_NON_WORD = re.compile(r"\W+")


def compute_neighbors(
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    tags: pd.DataFrame,
    cfg: BuildConfig,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Top-k neighbours of every movie: `cf` where it has enough ratings, `content` otherwise."""
    counts = ratings.groupby("movie_id").size()
    cf_ids = np.sort(counts.index[counts >= cfg.knn.min_support].to_numpy())
    cf = cf_neighbors(ratings, cf_ids, cfg.knn.k, cfg.knn.weighting, cfg.knn.workers, progress)
    if progress:
        progress("kNN: content neighbours for rare movies")
    all_ids = np.union1d(movies["movie_id"].to_numpy(), cf_ids)
    # also a supported movie whose raters rated nothing else (no cf neighbour at all)
    fallback_ids = np.setdiff1d(all_ids, cf["movie_id"].to_numpy())
    content = content_neighbors(movies, tags, fallback_ids, cf_ids, cfg.knn.k)
    # The reasons' evidence ("41 of the 120 people who rated A also rated this"): the binary
    # product gave the cf rows' counts; the other rows are counted pair by pair.
    if "co_raters" not in cf.columns:
        cf = cf.assign(co_raters=co_rater_counts(ratings, cf["movie_id"], cf["neighbor_id"]))
    content = content.assign(co_raters=co_rater_counts(ratings, content["movie_id"], content["neighbor_id"]))
    table = pd.concat([cf.assign(kind=CF), content.assign(kind=CONTENT)], ignore_index=True)
    return table[COLUMNS].astype(
        {"movie_id": "int32", "neighbor_id": "int32", "rank": "int32", "co_raters": "int32"}
    )


def co_rater_counts(
    ratings: pd.DataFrame, movie_ids: pd.Series | np.ndarray, neighbor_ids: pd.Series | np.ndarray
) -> np.ndarray:
    """For each pair (movie_ids[i], neighbor_ids[i]): how many users rated both.

    Walks the first movie's raters, so it is meant for pairs whose first movie has few ratings
    (the content rows: movies below min_support) or small data (the centred ablation); the cf
    rows take their counts from the co-occurrence product instead.
    """
    first = np.asarray(movie_ids, dtype=np.int64)
    second = np.asarray(neighbor_ids, dtype=np.int64)
    users = ratings["user_id"].to_numpy(np.int64)
    if first.size == 0 or users.size == 0:
        return np.zeros(first.size, dtype=np.int64)
    # every rating as one sorted key, movie * width + user: a movie's raters are one run of keys
    width = int(users.max()) + 1
    keys = np.unique(ratings["movie_id"].to_numpy(np.int64) * width + users)
    start = np.searchsorted(keys, first * width, side="left")
    lengths = np.searchsorted(keys, (first + 1) * width, side="left") - start
    pair = np.repeat(np.arange(first.size), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    raters = keys[np.repeat(start, lengths) + offsets] % width
    # for each rater of the first movie: did they rate the second one too?
    wanted = second[pair] * width + raters
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.bincount(pair[keys[at] == wanted], minlength=first.size).astype(np.int64)


def cf_neighbors(
    ratings: pd.DataFrame,
    movie_ids: np.ndarray,
    k: int,
    weighting: str = "binary",
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Collaborative neighbours among `movie_ids` (cosine over their user vectors).

    Binary vectors go through the blockwise co-occurrence product (`similarity.top_k_cosine`:
    exact counts, memory bounded by a block, never movies x movies); the centred form, kept for
    ablations on small data, through `nearest_movies` (scikit-learn's cosine distances).
    """
    if len(movie_ids) < 2:
        return _empty()
    matrix = item_user_matrix(ratings, movie_ids, weighting)
    if weighting != "binary":
        return nearest_movies(matrix, movie_ids, matrix, movie_ids, k)
    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        if progress:
            left = (time.perf_counter() - started) / done * (total - done)
            progress(f"kNN: similarity block {done}/{total}, about {left:.0f} s left")

    query, neighbour, sims, counts = similarity.top_k_cosine(
        matrix,
        matrix,
        k,
        self_index=np.arange(len(movie_ids)),
        workers=workers,
        progress=report,
        with_counts=True,
    )
    frame = pd.DataFrame(
        {
            "movie_id": np.asarray(movie_ids)[query],
            "neighbor_id": np.asarray(movie_ids)[neighbour],
            "similarity": sims,
            "co_raters": counts,
        }
    )
    return _rank(frame, k)


def item_user_matrix(
    ratings: pd.DataFrame, movie_ids: np.ndarray, weighting: str = "binary"
) -> sp.csr_matrix:
    """Sparse movie x user matrix over `movie_ids` (sorted): 1 per rating, or the centred rating."""
    rows = pd.Index(movie_ids).get_indexer(ratings["movie_id"])
    keep = rows >= 0
    user_codes, _ = pd.factorize(ratings["user_id"], sort=True)
    if weighting == "binary":
        values = np.ones(int(keep.sum()), dtype=np.float32)  # counts stay exact below 2^24
    elif weighting == "centred":
        # adjusted cosine: each rating minus that user's mean rating
        user_mean = ratings.groupby("user_id")["rating"].transform("mean").to_numpy()
        values = (ratings["rating"].to_numpy(np.float64) - user_mean)[keep]
    else:
        raise ValueError(f"unknown kNN weighting {weighting!r}; use 'binary' or 'centred'")
    shape = (len(movie_ids), int(user_codes.max()) + 1 if len(user_codes) else 0)
    return sp.csr_matrix((values, (rows[keep], user_codes[keep])), shape=shape)


def nearest_movies(
    candidates: sp.spmatrix, candidate_ids: np.ndarray, queries: sp.spmatrix, query_ids: np.ndarray, k: int
) -> pd.DataFrame:
    """Each query row's k most cosine-similar candidate rows (itself excluded, similarity > 0,
    rounded to DECIMALS; ties: lower neighbor_id first).

    Every candidate is compared (scikit-learn's cosine distances, in chunks of
    WORKING_MEMORY_MB), and every candidate tied at the k-th place is kept until the ids settle
    it. A k-nearest search would pick some of a large tie (content rows have many: same genres
    and decade) in the order its partition algorithm leaves them, and NumPy's differs by CPU:
    the same data then gave different tables on different machines.
    """
    if candidates.shape[0] == 0 or queries.shape[0] == 0:
        return _empty()
    order = np.argsort(np.asarray(candidate_ids), kind="stable")  # columns in id order
    candidates, candidate_ids = candidates[order], np.asarray(candidate_ids)[order]
    query_ids = np.asarray(query_ids)
    position = pd.Index(candidate_ids).get_indexer(query_ids)  # each query's own column, or -1

    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def top(distance: np.ndarray, start: int) -> None:
        sims = np.round(1.0 - distance, DECIMALS)
        similarity.drop_self(sims, position[start : start + len(sims)])
        # kept here, not returned: scikit-learn wants one returned entry per row of the chunk
        found.append(similarity.top_k_rows(sims, k, start))

    with sklearn.config_context(working_memory=WORKING_MEMORY_MB):
        for _ in pairwise_distances_chunked(queries, candidates, metric="cosine", reduce_func=top):
            pass
    rows, cols, sims = (np.concatenate([part[n] for part in found]) for n in range(3))
    frame = pd.DataFrame(
        {"movie_id": query_ids[rows], "neighbor_id": candidate_ids[cols], "similarity": sims}
    )
    return _rank(frame, k)


def content_neighbors(
    movies: pd.DataFrame, tags: pd.DataFrame, query_ids: np.ndarray, candidate_ids: np.ndarray, k: int
) -> pd.DataFrame:
    """Content neighbours (TF-IDF over genres, tags, decade and title words) of `query_ids`."""
    if len(query_ids) == 0:
        return _empty()
    ids = np.union1d(query_ids, candidate_ids)
    features = content_features(movies, tags, ids)
    # Candidates are the movies with enough ratings; with none (a tiny data set), all movies.
    pool = candidate_ids if len(candidate_ids) else ids
    lookup = pd.Index(ids)
    return nearest_movies(
        features[lookup.get_indexer(pool)], pool, features[lookup.get_indexer(query_ids)], query_ids, k
    )


def content_features(movies: pd.DataFrame, tags: pd.DataFrame, movie_ids: np.ndarray) -> sp.csr_matrix:
    """TF-IDF rows for `movie_ids`: genres + tags + decade, plus title words at a lower weight."""
    info = movies.drop_duplicates("movie_id").set_index("movie_id").reindex(movie_ids)
    tag_words = (
        tags.assign(words=_words(tags["tag"]))
        .groupby("movie_id")["words"]
        .agg(" ".join)
        .reindex(movie_ids, fill_value="")
    )
    genre_text = (
        info["genres"]
        .fillna("")
        .map(lambda g: " ".join(f"genre:{_NON_WORD.sub('', x.lower())}" for x in g.split("|") if x))
    )
    years = info["year"] if "year" in info else pd.Series(pd.NA, index=info.index)
    decade_text = years.map(lambda y: "" if pd.isna(y) else f"decade:{int(y) // 10 * 10}")
    main = genre_text + " " + tag_words.to_numpy() + " " + decade_text
    titles = _words(info["title"] if "title" in info else pd.Series("", index=info.index))
    # Title words (sequels, franchises) are rare, so their IDF is high; halving them keeps
    # genres and tags in charge, while movies with no genre, tag or year still get a vector.
    return sp.hstack([_tfidf(main), TITLE_WEIGHT * _tfidf(titles)], format="csr")


def _tfidf(documents: pd.Series) -> sp.csr_matrix:
    """Sublinear TF-IDF over whitespace tokens; an all-empty corpus gives an empty matrix."""
    if not documents.str.strip().astype(bool).any():
        return sp.csr_matrix((len(documents), 0))
    vectorizer = TfidfVectorizer(token_pattern=r"\S+", sublinear_tf=True)
    return vectorizer.fit_transform(documents.tolist())


def _words(text: pd.Series) -> pd.Series:
    """Lower-case words without punctuation or English stop words, space-joined."""
    words = text.fillna("").astype(str).str.lower().str.split(_NON_WORD)
    return words.map(lambda ws: " ".join(w for w in ws if w and w not in ENGLISH_STOP_WORDS))


def _rank(frame: pd.DataFrame, k: int) -> pd.DataFrame:
    """Sort by movie, similarity desc, neighbour id asc; number the ranks; keep the top k."""
    frame = frame.sort_values(
        ["movie_id", "similarity", "neighbor_id"], ascending=[True, False, True], kind="mergesort"
    )
    frame = frame.assign(rank=frame.groupby("movie_id").cumcount().to_numpy() + 1)
    return frame[frame["rank"] <= k].reset_index(drop=True)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "movie_id": pd.Series(dtype="int32"),
            "neighbor_id": pd.Series(dtype="int32"),
            "similarity": pd.Series(dtype="float64"),
            "rank": pd.Series(dtype="int32"),
        }
    )


def run(ctx: BuildContext) -> StageResult:
    """Stage `knn`: neighbours from all ratings (the web app serves visitors, not a split)."""
    from offline.build import StageResult

    start = time.perf_counter()
    table = compute_neighbors(ctx.data.ratings, ctx.data.movies, ctx.data.tags, ctx.config, ctx.progress)
    per_kind = table.groupby("kind")["movie_id"]
    metrics = {
        "movies_cf": int(per_kind.nunique().get(CF, 0)),
        "movies_content": int(per_kind.nunique().get(CONTENT, 0)),
        "rows_cf": int(per_kind.size().get(CF, 0)),
        "rows_content": int(per_kind.size().get(CONTENT, 0)),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return StageResult(tables={"knn_neighbors": table}, metrics=metrics)
