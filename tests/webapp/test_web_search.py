"""webapp.search: case- and accent-insensitive title search, anywhere in the title, best first."""

from __future__ import annotations

import pytest

from webapp.search import SearchIndex, fold

TITLES = [
    (1, "The Godfather", 300.0),
    (2, "The Godfather: Part II", 250.0),
    (3, "Tokyo Godfathers", 20.0),
    (4, "Amélie", 200.0),
    (5, "Spider-Man", 150.0),
    (6, "Schindler's List", 220.0),
    (7, "The Lord of the Rings: The Fellowship of the Ring", 280.0),
    (8, "Miracle on 34th Street", 60.0),
    (9, "Léon: The Professional", 180.0),
    (10, "Fast & Furious", 90.0),
    (11, "Godzilla", 10.0),
    (12, "Ødipus Æon", 1.0),
]


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    return SearchIndex(TITLES)


@pytest.mark.parametrize(
    "text, folded",
    [
        ("Amélie", "amelie"),
        ("AMÉLIE", "amelie"),
        ("Schindler's List", "schindlers list"),
        ("Spider-Man", "spider man"),
        ("  Fast & Furious!! ", "fast and furious"),
        ("Ødipus Æon", "odipus aeon"),
        ("Straße", "strasse"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    "query, first",
    [
        ("amelie", 4),
        ("AMÉLIE", 4),
        ("Amelie", 4),  # accents and case
        ("leon", 9),
        ("LÉON", 9),
        ("professional", 9),  # anywhere in the title
        ("schindlers", 6),
        ("schindler's", 6),
        ("spiderman", 5),
        ("spider man", 5),
        ("spider-man", 5),
        ("fellowship", 7),
        ("lord rings", 7),  # every word, any order
        ("fast & furious", 10),
        ("fast and furious", 10),
        ("odipus", 12),
    ],
)
def test_finds(index: SearchIndex, query: str, first: int) -> None:
    assert index.search(query, 5)[0] == first


def test_exact_then_prefix_then_word_then_substring(index: SearchIndex) -> None:
    # "The Godfather" (exact, without article) > "The Godfather: Part II" (prefix) >
    # "Tokyo Godfathers" (a word starts with it); "Godzilla" does not match.
    assert index.search("godfather", 10) == [1, 2, 3]
    # A leading article does not count: all three start with "god"; popularity orders them.
    assert index.search("god", 10) == [1, 2, 11, 3]


def test_popularity_breaks_ties(index: SearchIndex) -> None:
    assert index.search("the", 3) == [1, 7, 2]


def test_no_false_joined_word_match(index: SearchIndex) -> None:
    assert 8 not in index.search("leon", 10)  # "miracLE ON" is not "leon"


@pytest.mark.parametrize("query", ["", "   ", "!!!", "zzzz"])
def test_nothing(index: SearchIndex, query: str) -> None:
    assert index.search(query, 10) == []


def test_limit(index: SearchIndex) -> None:
    assert len(index.search("o", 3)) == 3
    assert index.search("o", 0) == []


# ---------------------------------------------------------------- the index against the plain ranking
# SearchIndex scans joined texts and stops each tier early; benchmarks/search.py's PlainIndex
# ranks every title for every query (as the search did before). They must agree on every query.


@pytest.fixture(scope="module")
def bundled_titles() -> list[tuple[int, str, float]]:
    """The bundled release's 9,742 titles, popularity its rating counts (many ties), and TITLES."""
    import pandas as pd

    from offline.config import DEFAULT_DATA_DIR

    movies = pd.read_csv(DEFAULT_DATA_DIR / "movies.csv")
    counts = pd.read_csv(DEFAULT_DATA_DIR / "ratings.csv", usecols=["movieId"])["movieId"].value_counts()
    titles = [(int(m), str(t), float(counts.get(m, 0))) for m, t in zip(movies.movieId, movies.title)]
    return titles + [(10**6 + m, t, p) for m, t, p in TITLES]


@pytest.fixture(scope="module")
def both(bundled_titles):
    from benchmarks.search import PlainIndex

    return SearchIndex(bundled_titles), PlainIndex(bundled_titles)


def _queries():
    from hypothesis import strategies as st

    from benchmarks.search import QUERIES

    folded_titles = [fold(t) for _, t, _ in TITLES] + ["the lord of the rings", "star wars episode iv"]
    pieces = st.builds(
        lambda title, i, n: title[i : i + n],
        st.sampled_from(folded_titles),
        st.integers(0, 20),
        st.integers(1, 12),
    )
    words = st.lists(
        st.sampled_from(["the", "a", "of", "star", "love", "man", "s", "night", "é", "zq"]),
        min_size=1,
        max_size=3,
    )
    return st.one_of(
        st.sampled_from(QUERIES),
        pieces,
        words.map(" ".join),
        words.map("".join),
        st.text(alphabet="abcdeilmnorstu '-&éÆ", min_size=1, max_size=8),
    )


def test_the_index_ranks_as_the_plain_ranking(both) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    index, plain = both

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(query=_queries(), limit=st.sampled_from([1, 5, 24, 200]), genre=st.sampled_from([None, 2, 3, 7]))
    def check(query: str, limit: int, genre: int | None) -> None:
        accept = (
            None if genre is None else (lambda movie_id: movie_id % genre == 0)
        )  # a filter like a genre's
        assert index.search(query, limit, accept) == plain.search(query, limit, accept)

    check()


@pytest.mark.parametrize("query", ["s", "the", "star", "man", "a b", "lord rings", "spiderman", "godfather"])
def test_the_index_ranks_as_the_plain_ranking_on_common_queries(both, query: str) -> None:
    index, plain = both
    for limit in (1, 24, 100_000):  # 100,000: every hit, so every tier is compared
        found = index.search(query, limit)
        assert found == plain.search(query, limit)
        assert len(found) >= min(limit, 1)  # each of these queries has hits
