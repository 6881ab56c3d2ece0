"""A result page's state: the three picks and the visitor's marks on recommended movies.

The state lives in the result URL, so a page with marks can be reloaded, bookmarked and shared,
and a result page never needs the database:

    /recommendations?movie_ids=1&movie_ids=2&movie_ids=3&loved=10&rated=11:3.5&not_for_me=12
                    &not_interested=13&more=14

One mark per movie (a new one replaces the old). How marks become the recommender's profile
(`PageState.profile`), and the ratings they stand for in the export, are defined here once:

| mark | profile | export (MovieLens rating) |
| --- | --- | --- |
| loved ("Seen it, loved it") | liked | 4.5 |
| rated N (half stars) | liked if N >= 3.5, else disliked; weight from N | N |
| not_for_me ("Seen it, not for me") | disliked, as a 1.5 | 1.5 |
| not_interested | disliked, half weight (maybe never seen) | none (a negative signal only) |
| more ("More like this") | liked, the last one weighted 3x (the focus) | none (not necessarily seen) |
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from markupsafe import Markup, escape

from webapp.recommend import LOVED_RATING, Profile

# URL / form parameter -> the kind stored in the database (webapp.db.KINDS)
MARK_KINDS = {
    "loved": "loved",
    "rated": "rated",
    "more": "more_like_this",
    "not_for_me": "not_for_me",
    "not_interested": "not_interested",
}
PARAMS = tuple(MARK_KINDS)  # also the canonical order of a URL's marks
MAX_MARKS = 50
NOT_FOR_ME_RATING = 1.5
LIKED_FROM = 3.5  # a rating from here up is liked, below disliked
STARS = tuple(x / 2 for x in range(10, 0, -1))  # 5.0, 4.5, ..., 0.5
_STARS = re.compile(r"[0-5](?:\.[05]0?)?")
LABELS = {
    "loved": "Seen it, loved it",
    "not_for_me": "Seen it, not for me",
    "not_interested": "Not interested",
    "more": "More like this",
}


def stars_text(stars: float | None) -> str:
    """4.0 -> "4", 3.5 -> "3.5" (None, a mark without stars: "")."""
    return "" if stars is None else f"{stars:g}"


def parse_stars(raw: str) -> float | None:
    """Half stars 0.5..5 written in ASCII ("4", "4.5", "4.0"), else None."""
    text = raw.strip()
    if not _STARS.fullmatch(text):
        return None
    value = float(text)
    return value if 0.5 <= value <= 5.0 else None


@dataclass(frozen=True)
class Mark:
    movie_id: int
    param: str  # a key of MARK_KINDS
    stars: float | None = None  # for "rated"

    @property
    def label(self) -> str:
        return f"Rated {stars_text(self.stars)} of 5" if self.param == "rated" else LABELS[self.param]

    def value(self) -> str:
        return f"{self.movie_id}:{stars_text(self.stars)}" if self.param == "rated" else str(self.movie_id)

    @property
    def liked(self) -> bool:
        if self.param == "rated":
            return self.stars is not None and self.stars >= LIKED_FROM
        return self.param in ("loved", "more")


@dataclass(frozen=True)
class PageState:
    """Three picks and the marks, in the canonical order (by parameter, then as made)."""

    picks: tuple[int, ...]
    marks: tuple[Mark, ...] = ()

    def mark_of(self, movie_id: int) -> Mark | None:
        return next((m for m in self.marks if m.movie_id == movie_id), None)

    def with_mark(self, movie_id: int, param: str | None, stars: float | None = None) -> "PageState":
        """The state after marking a movie (param None: the mark taken back)."""
        kept = [m for m in self.marks if m.movie_id != movie_id]
        if param is not None:
            kept.append(Mark(movie_id, param, stars))
        return PageState(self.picks, _canonical(kept))

    def profile(self) -> Profile:
        """The recommender's profile (see the table above)."""
        liked = [m for m in self.marks if m.liked]
        disliked = [m for m in self.marks if not m.liked]
        ratings = [(m.movie_id, r) for m in self.marks if (r := export_rating(m)) is not None]
        more = [m.movie_id for m in self.marks if m.param == "more"]
        return Profile(
            self.picks + tuple(m.movie_id for m in liked),
            tuple(m.movie_id for m in disliked),
            tuple(sorted(ratings)),
            focus=more[-1] if more else None,
        )

    def query_items(self) -> list[tuple[str, str]]:
        return [("movie_ids", str(p)) for p in self.picks] + [(m.param, m.value()) for m in self.marks]

    def query(self, **extra: str | None) -> str:
        """The URL query of this state (and extra parameters that are not None)."""
        items = self.query_items() + [(k, v) for k, v in extra.items() if v is not None]
        return urlencode(items, safe=":")

    def hidden_fields(self) -> Markup:
        """The state as hidden form inputs."""
        return Markup(
            "".join(
                f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in self.query_items()
            )
        )


def _canonical(marks: Iterable[Mark]) -> tuple[Mark, ...]:
    marks = list(marks)
    return tuple(sorted(marks, key=lambda m: PARAMS.index(m.param)))  # stable: as made within


def export_rating(mark: Mark) -> float | None:
    """The MovieLens rating a mark stands for in the export (None: no rating row)."""
    if mark.param == "rated":
        return mark.stars
    return {"loved": LOVED_RATING, "not_for_me": NOT_FOR_ME_RATING}.get(mark.param)


def parse_marks(
    values: Mapping[str, list[str]], known, picks: tuple[int, ...], parse_id
) -> tuple[tuple[Mark, ...], list[str]]:
    """Marks from URL or form parameters (name -> list of values): (marks, error messages).

    `known(movie_id)` says whether the trained data knows a movie; `parse_id` reads an id.
    """
    errors: list[str] = []
    marks: list[Mark] = []
    total = sum(len(values.get(name, [])) for name in PARAMS)
    if total > MAX_MARKS:
        return (), [f"Too many marks ({total}); a page keeps at most {MAX_MARKS}."]
    seen: set[int] = set(picks)
    for param in PARAMS:
        for raw in values.get(param, []):
            text, stars = raw, None
            if param == "rated":
                text, _, star_text = raw.partition(":")
                stars = parse_stars(star_text)
                if stars is None:
                    errors.append(
                        f"“{raw[:20]}” is not a rating: write movie id:stars, "
                        f"with stars from 0.5 to 5 in halves."
                    )
                    continue
            movie_id = parse_id(text)
            if movie_id is None:
                errors.append(f"“{text[:20]}” is not a movie id.")
            elif not known(movie_id):
                errors.append(f"There is no movie with id {movie_id}.")
            elif movie_id in seen:
                errors.append(f"Movie {movie_id} is picked or marked more than once.")
            else:
                seen.add(movie_id)
                marks.append(Mark(movie_id, param, stars))
    return _canonical(marks), errors
