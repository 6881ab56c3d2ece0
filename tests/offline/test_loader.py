"""Loader edge cases: real CSV parsing, bad rows counted and reported, clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from offline.data.loader import DataError, load_dataset, split_title


@pytest.fixture
def load(spark, tmp_path: Path):
    """load_dataset with the test session's Spark and a fresh work folder."""

    def run(data_dir, posters=None, max_bad_share: float = 0.01):
        return load_dataset(data_dir, posters, max_bad_share, spark=spark, work_dir=tmp_path / "work")

    return run


MOVIES = (
    "movieId,title,genres\r\n"
    '1,"American President, The (1995)",Comedy|Drama|Romance\r\n'
    '2,"11\'09""01 - September 11 (2002)",Drama\r\n'
    '3,"Amélie (Fabuleux destin d\'Amélie Poulain, Le) (2001)",Comedy|Romance\r\n'
    "4,Babylon 5,(no genres listed)\r\n"
)
LINKS = "movieId,imdbId,tmdbId\r\n1,0112346,9087\r\n2,0328802,\r\n3,0211915,194\r\n4,0105946,\r\n"
TAGS = 'userId,movieId,tag,timestamp\r\n1,1,"funny, romantic",1445714994\r\n'


def write_release(root: Path, ratings_rows: list[str], movies: str = MOVIES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "movies.csv").write_text(movies, encoding="utf-8", newline="")
    (root / "links.csv").write_text(LINKS, encoding="utf-8", newline="")
    (root / "tags.csv").write_text(TAGS, encoding="utf-8", newline="")
    body = "userId,movieId,rating,timestamp\r\n" + "".join(r + "\r\n" for r in ratings_rows)
    (root / "ratings.csv").write_text(body, encoding="utf-8", newline="")
    return root


def good_ratings(n_users: int = 30) -> list[str]:
    return [
        f"{u},{m},{(u + m) % 10 / 2 + 0.5},9640000{u}" for u in range(1, n_users + 1) for m in (1, 2, 3, 4)
    ]


def test_titles_with_commas_quotes_accents_and_crlf(tmp_path: Path, load) -> None:
    data = load(write_release(tmp_path, good_ratings()))
    movies = data.movies.set_index("movie_id")
    assert movies.loc[1, "title"] == "The American President"
    assert movies.loc[1, "year"] == 1995
    assert movies.loc[2, "title"] == "11'09\"01 - September 11"
    assert movies.loc[3, "raw_title"].startswith("Amélie")
    assert movies.loc[4, "genres"] == ""  # "(no genres listed)"
    assert movies.loc[4, "year"] is None or str(movies.loc[4, "year"]) == "<NA>"
    assert movies.loc[1, "genres"].split("|") == ["Comedy", "Drama", "Romance"]
    assert list(data.ratings.columns) == ["user_id", "movie_id", "rating", "timestamp"]
    assert len(data.ratings) == 120
    assert data.tags.loc[0, "tag"] == "funny, romantic"
    assert data.links.set_index("movie_id").loc[1, "imdb_id"] == "0112346"
    assert data.links["tmdb_id"].isna().sum() == 2
    assert data.bad_rows.to_dict() == {}


@pytest.mark.parametrize(
    "raw, title, year",
    [
        ("Usual Suspects, The (1995)", "The Usual Suspects", 1995),
        (
            "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
            "The City of Lost Children (Cité des enfants perdus, La)",
            1995,
        ),
        ("Lock, Stock & Two Smoking Barrels (1998)", "Lock, Stock & Two Smoking Barrels", 1998),
        ("Babylon 5", "Babylon 5", None),
        ("Ready Player One", "Ready Player One", None),
        ("Big Bang Theory, The (2007-)", "The Big Bang Theory", 2007),
    ],
)
def test_split_title(raw: str, title: str, year: int | None) -> None:
    assert split_title(raw) == (title, year)


def test_bad_rows_are_counted_per_kind_with_line_numbers(tmp_path: Path, load) -> None:
    rows = good_ratings(60)  # 240 good rows
    rows[9] = "1,x,4.0,964982703"  # line 11: non-numeric
    rows[19] = "2,1,7.5,964982703"  # line 21: rating outside 0.5..5
    rows[29] = "3,999,4.0,964982703"  # line 31: movie unknown to movies.csv
    rows.append(rows[0])  # line 242: duplicate user-movie pair
    data = load(write_release(tmp_path, rows), max_bad_share=0.05)
    report = data.bad_rows.to_dict()["ratings.csv"]
    assert report["non_numeric_value"] == {"count": 1, "example_lines": [11]}
    assert report["rating_out_of_range"] == {"count": 1, "example_lines": [21]}
    assert report["unknown_movie"] == {"count": 1, "example_lines": [31]}
    assert report["duplicate_user_movie"] == {"count": 1, "example_lines": [242]}
    assert len(data.ratings) == 240 - 3


def test_too_many_bad_rows_fail_the_load_with_the_details(tmp_path: Path, load) -> None:
    rows = good_ratings(10)  # 40 rows
    rows[0] = "1,1,9.0,1"
    rows[1] = "1,2,0.0,1"
    with pytest.raises(DataError, match=r"ratings\.csv: 2 of 40 rows .*rating out of range.*line"):
        load(write_release(tmp_path, rows), max_bad_share=0.01)


def test_wrong_field_count_is_a_bad_row(tmp_path: Path, load) -> None:
    rows = good_ratings(60)
    rows[4] = "1,2,4.0"  # line 6: too few fields
    data = load(write_release(tmp_path, rows))
    assert data.bad_rows.to_dict() == {
        "ratings.csv": {"wrong_field_count": {"count": 1, "example_lines": [6]}}
    }


def test_wrong_header_names_file_and_expected_columns(tmp_path: Path, load) -> None:
    root = write_release(tmp_path, good_ratings())
    (root / "ratings.csv").write_text("user,movie,stars,ts\n1,1,4.0,1\n")
    with pytest.raises(
        DataError,
        match=r"ratings\.csv: wrong header user,movie,stars,ts; "
        r"expected columns userId,movieId,rating,timestamp",
    ):
        load(root)


def test_missing_file_is_one_clear_error(tmp_path: Path, load) -> None:
    root = write_release(tmp_path, good_ratings())
    (root / "links.csv").unlink()
    with pytest.raises(
        DataError,
        match=r"links\.csv: file not found; expected a CSV with columns "
        r"movieId,imdbId,tmdbId",
    ):
        load(root)


def test_not_utf8_is_a_clear_error(tmp_path: Path, load) -> None:
    root = write_release(tmp_path, good_ratings())
    (root / "movies.csv").write_bytes(MOVIES.replace("Amélie", "Am\xe9lie").encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load(root)


def test_bundled_data_loads_clean(load) -> None:
    from offline.config import DEFAULT_DATA_DIR, DEFAULT_POSTERS

    data = load(DEFAULT_DATA_DIR, DEFAULT_POSTERS)
    assert (len(data.ratings), len(data.movies), len(data.links), len(data.tags)) == (
        100836,
        9742,
        9742,
        3683,
    )
    assert data.ratings["user_id"].nunique() == 610
    assert (data.posters["poster_url"] != "").sum() == 9617
    assert data.bad_rows.to_dict() == {}


def test_ratings_quirks_bom_crlf_blank_lines_and_unicode_digits(tmp_path: Path, load) -> None:
    root = write_release(tmp_path, good_ratings(60))
    lines = (root / "ratings.csv").read_bytes().decode("utf-8").split("\r\n")
    lines[3] = "1,3,4.0,1²"  # line 4: "²".isdigit() is True, but it is no number
    lines.insert(6, "")  # a blank line (line 7) is skipped but still counted as a line
    (root / "ratings.csv").write_text("\ufeff" + "\r\n".join(lines), encoding="utf-8", newline="")
    data = load(root)
    assert data.bad_rows.to_dict() == {
        "ratings.csv": {"non_numeric_value": {"count": 1, "example_lines": [4]}}
    }
    assert data.ratings_count == 239 and len(data.ratings) == 239
    assert data.ratings["user_id"].dtype == "int32" and data.ratings["rating"].dtype == "float32"
    pairs = list(zip(data.ratings["user_id"], data.ratings["movie_id"]))
    assert pairs == sorted(pairs)


def test_a_file_uri_reads_through_spark_and_hadoop(tmp_path: Path, load) -> None:
    """The cluster-storage path (small files copied through Hadoop, ratings read by Spark)
    gives the same data and accounting as the local one."""
    rows = good_ratings(60)
    rows[9] = "1,x,4.0,964982703"
    root = write_release(tmp_path / "release", rows)
    local = load(root)
    remote = load(f"file://{root}")
    assert remote.bad_rows.to_dict() == local.bad_rows.to_dict()
    pd.testing.assert_frame_equal(remote.ratings, local.ratings)
    pd.testing.assert_frame_equal(remote.movies, local.movies)
    assert remote.file_keys["ratings.csv"] != local.file_keys["ratings.csv"]  # a storage status
    (root / "ratings.csv").write_text("user,movie,stars,ts\n1,1,4.0,1\n")
    with pytest.raises(DataError, match=r"ratings\.csv: wrong header user,movie,stars,ts"):
        load(f"file://{root}")


def test_conversion_is_cached_per_input(tmp_path: Path, load) -> None:
    root = write_release(tmp_path / "release", good_ratings(30))
    first = load(root)
    marker = Path(first.ratings_path) / "_accounting.json"
    stamp = marker.stat().st_mtime_ns
    again = load(root)
    assert again.ratings_path == first.ratings_path and marker.stat().st_mtime_ns == stamp
    rows = good_ratings(30)
    rows[0] = "1,1,0.5,964000001"  # same size, other content: a new conversion
    write_release(root, rows)
    changed = load(root)
    assert changed.ratings_path != first.ratings_path
    assert changed.ratings.loc[0, "rating"] == 0.5
