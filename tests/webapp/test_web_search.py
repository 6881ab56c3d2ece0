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
