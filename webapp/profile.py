"""A visitor's profile: the movies they like and dislike, with optional half-star ratings, and
the checks that make one well-formed (the picks' rules too). `webapp.recommend` turns a profile
into ten recommendations and re-exports these names."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PICKS_REQUIRED = 3
MAX_PROFILE = 100  # liked + disliked + excluded ids in one profile
# How much each movie of a profile counts (a pick = 1.0); docs/api.md lists the same rules.
FOCUS_WEIGHT = 3.0  # the movie a visitor asked "more like this" for
DISMISSED_WEIGHT = 0.5  # a disliked movie without a rating ("not interested": maybe never seen)
LOVED_RATING = 4.5  # a liked movie's rating that counts as much as a pick


class InvalidPicksError(ValueError):
    """The picks are not exactly three distinct integer movie ids (or a profile is malformed)."""


class UnknownMovieError(InvalidPicksError):
    """Some picks are not movies the trained data knows."""

    def __init__(self, movie_ids: Sequence[int]) -> None:
        self.movie_ids = tuple(int(m) for m in movie_ids)
        ids = ", ".join(str(m) for m in self.movie_ids)
        super().__init__(f"unknown movie id(s): {ids}; expected ids of movies in the catalog")


def liked_weight(stars: float | None) -> float:
    """How much a liked movie counts: 1.0 without a rating, else stars / 4.5 (a 5 counts 1.11,
    a 3.5 counts 0.78)."""
    return 1.0 if stars is None else float(stars) / LOVED_RATING


def disliked_weight(stars: float | None) -> float:
    """How much a disliked movie counts against its neighbours: 0.5 without a rating (not
    interested), else (4 - stars) / 2.5 (a 1.5 "not for me" counts 1.0, a 0.5 counts 1.4, a 3
    counts 0.4)."""
    return DISMISSED_WEIGHT if stars is None else (4.0 - float(stars)) / 2.5


@dataclass(frozen=True)
class Profile:
    """What a visitor told us. Hashable, so results can be memoised per profile.

    liked: picks first, then movies marked loved / rated >= 3.5 / "more like this";
    disliked: "not for me", "not interested", rated <= 3; ratings: (movie id, stars) for some of
    either; focus: the liked movie of the last "more like this" (counts FOCUS_WEIGHT);
    excluded: movies to leave out of the ten without any signal (the evaluation's control).
    """

    liked: tuple[int, ...]
    disliked: tuple[int, ...] = ()
    ratings: tuple[tuple[int, float], ...] = ()
    focus: int | None = None
    excluded: tuple[int, ...] = ()

    @classmethod
    def of_picks(cls, picks: Sequence[int]) -> "Profile":
        """The simplest profile: three (or any) liked movies and nothing else."""
        return cls(tuple(int(p) for p in picks))

    @property
    def is_plain(self) -> bool:
        """Only liked movies without ratings or focus: the reasons then say "you picked"."""
        return not (self.disliked or self.ratings or self.focus is not None or self.excluded)

    @property
    def has_feedback(self) -> bool:
        """More than three picks' worth of signal: BlendWeights.after_feedback applies (movies
        left out without a word, `excluded`, are no feedback)."""
        return bool(
            self.disliked or self.ratings or self.focus is not None or len(self.liked) > PICKS_REQUIRED
        )

    def stars(self) -> dict[int, float]:
        return {int(m): float(r) for m, r in self.ratings}

    def liked_weights(self) -> np.ndarray:
        stars = self.stars()
        return np.array(
            [FOCUS_WEIGHT if m == self.focus else liked_weight(stars.get(m)) for m in self.liked],
            dtype=np.float64,
        )

    def disliked_weights(self) -> np.ndarray:
        stars = self.stars()
        return np.array([disliked_weight(stars.get(m)) for m in self.disliked], dtype=np.float64)

    def ids(self) -> tuple[int, ...]:
        """Every movie of the profile (none of them is recommended)."""
        return self.liked + self.disliked + self.excluded


def validate_profile(profile: Profile) -> Profile:
    """A well-formed profile, or InvalidPicksError saying what is wrong: 1..MAX_PROFILE integer
    ids in all, at least one liked, no id twice (nor in two lists), ratings half stars from 0.5
    to 5 of ids in the profile, the focus a liked id."""
    if not isinstance(profile, Profile):
        raise InvalidPicksError(f"expected a Profile, got {type(profile).__name__}")
    lists = {"liked": profile.liked, "disliked": profile.disliked, "excluded": profile.excluded}
    for name, ids in lists.items():
        if not isinstance(ids, tuple) or not all(is_int(m) for m in ids):
            raise InvalidPicksError(f"{name} must be a tuple of integer movie ids")
    every = profile.ids()
    if not profile.liked:
        raise InvalidPicksError("a profile needs at least one liked movie")
    if len(every) > MAX_PROFILE:
        raise InvalidPicksError(f"a profile holds at most {MAX_PROFILE} movies, got {len(every)}")
    if len(set(every)) != len(every):
        dupes = sorted({m for m in every if every.count(m) > 1})
        raise InvalidPicksError(f"movie id(s) {', '.join(map(str, dupes))} appear twice in the profile")
    for movie_id, stars in profile.ratings:
        if not is_int(movie_id) or int(movie_id) not in every:
            raise InvalidPicksError(f"rating for {movie_id!r}, which is not in the profile")
        if (
            isinstance(stars, bool)
            or not isinstance(stars, numbers.Real)
            or not 0.5 <= float(stars) <= 5.0
            or float(stars) * 2 != int(float(stars) * 2)
        ):
            raise InvalidPicksError(f"rating {stars!r} is not a half star from 0.5 to 5")
    if profile.focus is not None and profile.focus not in profile.liked:
        raise InvalidPicksError("the focus must be one of the liked movies")
    return profile


def is_int(value: object) -> bool:
    """True for int-like values (numpy ints too), False for bools, floats and strings."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def validate_picks(picks: Sequence[int]) -> tuple[int, ...]:
    """Exactly three distinct integers, or InvalidPicksError saying what is wrong."""
    if isinstance(picks, (str, bytes)) or not isinstance(picks, Sequence):
        raise InvalidPicksError(
            f"picks must be a list of {PICKS_REQUIRED} movie ids, got {type(picks).__name__}"
        )
    if len(picks) != PICKS_REQUIRED:
        raise InvalidPicksError(f"expected exactly {PICKS_REQUIRED} picks, got {len(picks)}")
    bad = [p for p in picks if not is_int(p)]
    if bad:
        raise InvalidPicksError(f"picks must be integer movie ids, got {', '.join(repr(b) for b in bad)}")
    ids = tuple(int(p) for p in picks)
    if len(set(ids)) != len(ids):
        dupes = sorted({m for m in ids if ids.count(m) > 1})
        raise InvalidPicksError(
            f"expected {PICKS_REQUIRED} different movies, got duplicate id(s) {', '.join(map(str, dupes))}"
        )
    return ids
