"""Checking a visitor's picks (form fields, URL parameters or JSON) with messages a person can act on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from webapp.params import MAX_ID, parse_int
from webapp.recommend import PICKS_REQUIRED
from webapp.store import Store

MAX_MOVIE_ID = MAX_ID
MAX_VALUES = 20  # more movie_ids than this in one request is not a visitor picking movies


@dataclass(frozen=True)
class PickCheck:
    """The valid picks (known, distinct, in the given order) and what was wrong with the rest."""

    ids: tuple[int, ...]
    errors: tuple[str, ...] = ()
    unknown: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """Exactly three distinct known movies and nothing else wrong."""
        return not self.errors and len(self.ids) == PICKS_REQUIRED


def _shown(value: Any) -> str:
    """A short printable form of a bad value for a message (escaped later by the template).

    Lists and objects are not printed: a JSON body may nest them deep enough that repr() fails.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, (list, dict)):
        text = "[…]" if isinstance(value, list) else "{…}"
    elif value is None or isinstance(value, bool):
        text = {None: "null", True: "true", False: "false"}[value]
    else:
        text = repr(value)  # a JSON number: the parser already refused ones too long to print
    return f"“{text[:20]}…”" if len(text) > 20 else f"“{text}”"


def parse_movie_id(raw: str) -> int | None:
    """A movie id from text: ASCII digits, at most 2^31-1; None otherwise."""
    return parse_int(raw, 0, MAX_MOVIE_ID)


def _check(
    store: Store, values: Iterable[Any], to_id, *, need_three: bool, max_values: int = MAX_VALUES
) -> PickCheck:
    values = list(values)
    if len(values) > max_values:
        return PickCheck((), (f"Too many movie ids ({len(values)}); pick exactly three.",))
    ids: list[int] = []
    errors: list[str] = []
    unknown: list[int] = []
    for value in values:
        movie_id = to_id(value)
        if movie_id is None:
            errors.append(f"{_shown(value)} is not a movie id.")
        elif not store.knows(movie_id):
            unknown.append(movie_id)
            errors.append(f"There is no movie with id {movie_id}.")
        elif movie_id in ids:
            errors.append(f"You picked {store.movies[movie_id].label} twice.")
        else:
            ids.append(movie_id)
    if need_three and len(ids) != PICKS_REQUIRED:
        if len(ids) > PICKS_REQUIRED:
            errors.append(
                f"Pick exactly three movies: you picked {len(ids)}, remove {len(ids) - PICKS_REQUIRED}."
            )
        elif not errors or len(values) != PICKS_REQUIRED:
            errors.append(f"Pick exactly three movies (you picked {len(ids)}).")
    return PickCheck(tuple(ids), tuple(errors), tuple(unknown))


def check_text_picks(store: Store, raw_values: Iterable[str], *, need_three: bool = True) -> PickCheck:
    """Picks from form fields or URL parameters (`movie_ids=1&movie_ids=2&movie_ids=3`)."""
    return _check(store, raw_values, parse_movie_id, need_three=need_three)


def _json_id(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_MOVIE_ID else None


def check_json_picks(store: Store, value: Any) -> PickCheck:
    """Picks from a JSON body's `movie_ids`: a list of three distinct known integer ids."""
    if not isinstance(value, list):
        return PickCheck((), ("movie_ids must be a list of three integer movie ids.",))
    return _check(store, value, _json_id, need_three=True)


def check_json_ids(store: Store, value: Any, name: str, *, minimum: int) -> PickCheck:
    """A JSON list of distinct known integer ids, `minimum` to MAX_PROFILE of them (the API's
    profile: movie_ids, disliked_ids). `ok` when nothing is wrong."""
    from webapp.recommend import MAX_PROFILE

    if not isinstance(value, list):
        return PickCheck((), (f"{name} must be a list of integer movie ids.",))
    if len(value) > MAX_PROFILE:
        return PickCheck((), (f"Too many movie ids in {name} ({len(value)}); at most {MAX_PROFILE}.",))
    check = _check(store, value, _json_id, need_three=False, max_values=MAX_PROFILE)
    errors = list(check.errors)
    if len(check.ids) < minimum and not errors:
        errors.append(f"{name} needs at least {minimum} movie id(s).")
    return _Checked(check.ids, tuple(errors), check.unknown)


@dataclass(frozen=True)
class _Checked(PickCheck):
    """A PickCheck whose `ok` does not ask for exactly three."""

    @property
    def ok(self) -> bool:
        return not self.errors
