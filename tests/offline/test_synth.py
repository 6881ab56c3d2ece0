"""Synthetic MovieLens-format data: the real files' format and shape, seeded, loadable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offline.config import PROJECT_ROOT
from offline.data.loader import load_dataset
from offline.data.synth import MIN_RATINGS_PER_USER, SynthSize, check_out_dir, write_release


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ml-synth"
    write_release(out, SynthSize.for_ratings(60_000), seed=3)
    return out


@pytest.fixture(scope="module")
def ratings(release: Path) -> pd.DataFrame:
    return pd.read_csv(release / "ratings.csv")


def test_files_have_movielens_headers_and_load_clean(release: Path, spark, tmp_path: Path) -> None:
    for name, header in {
        "ratings.csv": "userId,movieId,rating,timestamp",
        "movies.csv": "movieId,title,genres",
        "links.csv": "movieId,imdbId,tmdbId",
        "tags.csv": "userId,movieId,tag,timestamp",
    }.items():
        assert (release / name).read_text(encoding="utf-8").split("\n", 1)[0] == header
    data = load_dataset(release, None, spark=spark, work_dir=tmp_path / "work")
    assert data.bad_rows.to_dict() == {}
    assert len(data.ratings) == 60_000
    # titles with commas and quotes survive real CSV parsing; trailing articles move to the front
    titles = data.movies["raw_title"]
    assert titles.str.contains(",").sum() > 20
    assert titles.str.contains('"').sum() > 5
    assert data.movies["title"].str.match(r"^(The|A|An|Les|La|Le|Die|El) ").sum() > 20
    assert data.movies["year"].notna().mean() > 0.9
    assert (data.links["imdb_id"].str.fullmatch(r"[0-9]{7}")).all()


def test_counts_and_rating_scale(ratings: pd.DataFrame) -> None:
    size = SynthSize.for_ratings(60_000)
    assert len(ratings) == size.ratings
    assert ratings["userId"].nunique() == size.users
    per_user = ratings.groupby("userId").size()
    assert per_user.min() >= MIN_RATINGS_PER_USER
    assert not ratings.duplicated(["userId", "movieId"]).any()
    assert set(np.unique(ratings["rating"])) <= {x / 2 for x in range(1, 11)}
    assert ratings["rating"].mod(1).eq(0.5).mean() > 0.1  # half stars are used
    assert 3.0 < ratings["rating"].mean() < 4.0


def test_long_tails(ratings: pd.DataFrame) -> None:
    per_movie = ratings.groupby("movieId").size().sort_values(ascending=False)
    top_share = per_movie.head(max(1, len(per_movie) // 100)).sum() / len(ratings)
    assert top_share > 0.10  # the top 1% of movies hold over a tenth of the ratings
    assert per_movie.median() < per_movie.mean() / 2
    per_user = ratings.groupby("userId").size()
    assert per_user.max() > 5 * per_user.median()


def test_timestamps_increase_down_each_user_and_with_user_id(ratings: pd.DataFrame) -> None:
    assert (ratings.groupby("userId")["timestamp"].diff().dropna() > 0).all()
    first = ratings.groupby("userId")["timestamp"].min()
    assert first.is_monotonic_increasing
    assert ratings[["userId", "movieId"]].apply(tuple, axis=1).is_monotonic_increasing


def test_taste_structure_is_learnable(release: Path, ratings: pd.DataFrame) -> None:
    """Movies co-rated most often share genres far more than random pairs do."""
    genres = pd.read_csv(release / "movies.csv").set_index("movieId")["genres"].str.split("|")
    top = ratings.groupby("movieId").size().nlargest(150).index.to_numpy()
    sub = ratings[ratings["movieId"].isin(top)]
    matrix = pd.crosstab(sub["userId"], sub["movieId"]).clip(upper=1).to_numpy(float)
    co = matrix.T @ matrix
    norms = np.sqrt(np.diag(co))
    cos = co / np.outer(norms, norms)
    np.fill_diagonal(cos, -1)
    best = cos.argmax(axis=1)
    ids = sub["movieId"].drop_duplicates().sort_values().to_numpy()
    share = lambda a, b: bool(set(genres[a]) & set(genres[b]))  # noqa: E731
    neighbour = np.mean([share(ids[i], ids[j]) for i, j in enumerate(best)])
    rng = np.random.default_rng(0)
    random_pairs = np.mean([share(*rng.choice(ids, 2, replace=False)) for _ in range(600)])
    assert neighbour > random_pairs + 0.2


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    size = SynthSize.for_ratings(5_000)
    write_release(tmp_path / "a", size, seed=1)
    write_release(tmp_path / "b", size, seed=1)
    write_release(tmp_path / "c", size, seed=2)
    for name in ("ratings.csv", "movies.csv", "links.csv", "tags.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "ratings.csv").read_bytes() != (tmp_path / "c" / "ratings.csv").read_bytes()


def test_impossible_sizes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least 40"):
        SynthSize.for_ratings(10)
    with pytest.raises(ValueError, match="need at least 2000 ratings"):
        SynthSize.for_ratings(1_000, users=100)


@pytest.mark.parametrize("n", [40, 300, 1_000, 1_400, 1_500, 3_000])
def test_every_size_works_with_the_default_users_and_movies(n: int, tmp_path: Path) -> None:
    """From about 300 to 1,500 ratings the default movie count was too small for the default
    users (each rates at most a third of the movies): synth failed, after writing movies.csv."""
    write_release(tmp_path / "r", SynthSize.for_ratings(n), seed=3)
    assert len(pd.read_csv(tmp_path / "r" / "ratings.csv")) == n


def test_too_few_movies_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"100 movies are too few for 1000 ratings from 6 users"):
        SynthSize.for_ratings(1_000, movies=100)


def test_a_folder_of_other_files_is_left_alone_and_an_earlier_release_replaced(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "ratings.csv").write_text("my own\n")
    (mine / "notes.txt").write_text("keep\n")
    with pytest.raises(ValueError, match=r"holds notes.txt, ratings.csv, which is not an earlier synthetic"):
        write_release(mine, SynthSize.for_ratings(1_000))
    assert (mine / "ratings.csv").read_text() == "my own\n" and len(list(mine.iterdir())) == 2
    out = tmp_path / "synth"
    write_release(out, SynthSize.for_ratings(1_000), seed=1)
    check_out_dir(out)  # an earlier synthetic release may be replaced
    write_release(out, SynthSize.for_ratings(2_000), seed=1)
    assert len(pd.read_csv(out / "ratings.csv")) == 2_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "synth"]  # no hidden folder left


def test_cli_writes_a_release(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    done = subprocess.run(
        [sys.executable, "-m", "offline", "synth", "--ratings", "3k", "--out", str(out), "--seed", "5"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 3,000 ratings" in done.stderr
    assert len(pd.read_csv(out / "ratings.csv")) == 3_000
    bad = subprocess.run(
        [sys.executable, "-m", "offline", "synth", "--ratings", "lots", "--out", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "expected a count like" in bad.stderr
