"""What the recommender gives back: each recommended movie with its reason and the evidence
behind it, and the ten of one profile. Made by `webapp.recommend` (which re-exports them), shown
as they are by the pages and the API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PICKED, LIKED = "picked", "liked"  # a head's verb: three plain picks; a profile after feedback
HEAD_VERBS = (PICKED, LIKED)
MAX_NAMED = 3  # movies a reason names ("Because you liked A, B, C and 4 more")


def join_titles(names: Sequence[str], text: type[str] = str) -> str:
    """'A', 'A and B', 'A, B and C'. With text=Markup the parts are links, joined unescaped."""
    if len(names) <= 1:
        return text("").join(names)
    return text(", ").join(names[:-1]) + text(" and ") + names[-1]


def reason_head(verb: str, names: Sequence[str], text: type[str] = str) -> str:
    """A reason's head, "Because you picked Heat and Casino": made here only, by the recommender
    from titles and by the result page from links to the same movies (text=Markup). A large
    profile's head names the first MAX_NAMED, then how many more."""
    if len(names) > MAX_NAMED:
        names = [*names[:MAX_NAMED], text(f"{len(names) - MAX_NAMED} more")]
    return text("Because you ") + text(verb) + text(" ") + join_titles(names, text)


@dataclass(frozen=True)
class Evidence:
    """The numbers behind a reason, each written into its detail sentence as it is here (the
    sentence is made from these fields, in `_detail`, and nowhere else).

    pick_id: the liked movie the sentence names (one of because_of);
    pick_raters, rated_both: how many people rated that movie, and how many of them also rated
      this one (kNN and, when the two movies' neighbour lists hold the pair, ALS reasons; from
      the build's co-occurrence counts, knn_neighbors.co_raters and movie_stats.vote_count);
    shared_genres: the genres this movie shares with it (content-neighbour reasons);
    top_viewers, top_viewers_with_this: how many viewers NeuMF finds likeliest to watch it, and
      how many of them have this movie among their own top predictions (NeuMF reasons).
    Fields that do not apply are None.
    """

    pick_id: int
    pick_raters: int | None = None
    rated_both: int | None = None
    shared_genres: tuple[str, ...] | None = None
    top_viewers: int | None = None
    top_viewers_with_this: int | None = None

    def to_json(self) -> dict[str, object]:
        """The fields that apply, as the API returns them."""
        out: dict[str, object] = {"pick_id": self.pick_id}
        for name in ("pick_raters", "rated_both", "shared_genres", "top_viewers", "top_viewers_with_this"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Recommendation:
    """One recommended movie, with why it was chosen.

    The reason comes in two parts, made once here and shown as they are by the page and the API:
    a head naming the picks behind it ("Because you picked Heat and Casino") and a detail
    sentence with the evidence ("41 of the 120 people who rated Heat also rated this"), whose
    numbers `evidence` also gives as fields (None for a movie that only rounds out the list).
    """

    movie_id: int
    score: float
    reason_head: str
    reason_detail: str
    source: str
    because_of: tuple[int, ...]
    section: str  # 'popular' | 'less_known'
    evidence: Evidence | None = None

    @property
    def reason(self) -> str:
        """Both parts on one line: "Because you picked Heat: people who rated it also rated this"."""
        return f"{self.reason_head}: {self.reason_detail[:1].lower()}{self.reason_detail[1:]}"


@dataclass(frozen=True)
class RecommendationSet:
    """The ten for one profile: five popular, five less known. `picks` are its liked ids."""

    picks: tuple[int, ...]
    popular: tuple[Recommendation, ...]
    less_known: tuple[Recommendation, ...]

    def all(self) -> tuple[Recommendation, ...]:
        """Popular then less known, in display order."""
        return self.popular + self.less_known

    def movie_ids(self) -> list[int]:
        """The recommended movie ids in display order."""
        return [r.movie_id for r in self.all()]
