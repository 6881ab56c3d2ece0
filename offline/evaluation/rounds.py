"""The second round: the simulated visitor gives feedback on the ten, and the list refreshes.

After the first ten (the product's, for the three picks), the visitor marks each of them from
their held-out ratings, as a person would on the result page: "loved" when they rated it 4 or
more (it joins the picks), "not for me" when they rated it lower, "not interested" when they
never rated it. The refreshed ten come from the same `Recommender.recommend` the web app calls,
with exactly the profile the page would build (webapp/marks.py's mapping), and are scored on the
relevant movies not shown yet (cases whose relevant movies were all shown are skipped: nothing
is left to find).

Compared, on the same users: the first round, and the next ten without feedback (the same
picks, the first ten left out and nothing else learned): what feedback adds beyond paging on.
The report also splits these figures by how many of the first ten the visitor had rated
(`by_rated_in_first`): a visitor who rated none of them had no hit in the first round, and says
only "not interested" ten times, so this shows where the second round gains and where it loses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from offline.evaluation.cases import VARIANTS, Case
from offline.evaluation.methods import Shown
from webapp.marks import PageState
from webapp.recommend import Profile, Recommender

SECOND_ROUND = "second round: feedback on the first ten"
FIRST_ROUND_SAME_USERS = "first round (the same users)"
NEXT_TEN = "second round: next ten without feedback"
ROUND_METHODS = (FIRST_ROUND_SAME_USERS, SECOND_ROUND, NEXT_TEN)
ROUND_KEYS = {  # the report's names of the round methods
    FIRST_ROUND_SAME_USERS: "first_round",
    SECOND_ROUND: "second_round",
    NEXT_TEN: "next_ten_without_feedback",
}
# Groups of "how many of the first ten the visitor had rated" (loved or not for me), inclusive.
RATED_GROUPS = ((0, 0), (1, 2), (3, 5), (6, 10))
RATED_IN_FIRST = "rated_in_first"  # the per-case column the tally keeps for the round methods
NOT_INTERESTED = "not_interested"  # the mark of a shown movie the visitor never rated


def feedback_profile(case: Case, first: Shown) -> Profile:
    """The profile the result page builds from the visitor's marks on the first ten (the web
    app's own mapping, webapp.marks.PageState)."""
    state = PageState(tuple(case.picks))
    for movie in first.ten:
        state = state.with_mark(movie, visitor_mark(case, movie))
    return state.profile()


def visitor_mark(case: Case, movie: int) -> str:
    """The simulated visitor's mark on a shown movie, from their held-out ratings."""
    if movie in case.relevant:
        return "loved"
    return "not_for_me" if movie in case.rated_below else NOT_INTERESTED


def remaining_case(case: Case, first: Shown) -> Case | None:
    """The case scored on the relevant movies not shown in the first round (None: none left)."""
    left = case.relevant - set(first.ten)
    if not left:
        return None
    return dataclasses.replace(
        case, relevant=frozenset(left), relevant_less_known=case.relevant_less_known & left
    )


def after_first_ten(rec: Recommender, case: Case) -> tuple[Shown, Case, Profile] | None:
    """(the first ten, the case scored on what they left, the profile the visitor's marks make);
    None when the first ten held every relevant movie. The first ten of three plain picks do not
    depend on the weights after feedback, so one call serves every after-feedback candidate."""
    first = Shown(*rec.recommend_ids(Profile.of_picks(case.picks)))
    later = remaining_case(case, first)
    if later is None:
        return None
    return first, later, feedback_profile(case, first)


def second_round(rec: Recommender, case: Case) -> tuple[Case, dict[str, tuple[Case, Shown]]] | None:
    """{method: (the case it is scored on, what it shows)} for the three round methods."""
    found = after_first_ten(rec, case)
    if found is None:
        return None
    first, later, profile = found
    refreshed = Shown(*rec.recommend_ids(profile))
    paged = Shown(*rec.recommend_ids(Profile(tuple(case.picks), excluded=tuple(first.ten))))
    return later, {
        FIRST_ROUND_SAME_USERS: (case, first),
        SECOND_ROUND: (later, refreshed),
        NEXT_TEN: (later, paged),
    }


def rated_in_first(case: Case, first: Shown) -> int:
    """How many of the first ten the visitor had rated (held out): the ones they mark "loved" or
    "not for me"; the rest they mark "not interested"."""
    return sum(1 for movie in first.ten if visitor_mark(case, movie) != NOT_INTERESTED)


def group_label(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def by_rated_in_first(rows: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per variant and RATED_GROUPS group: users, and the mean HR@10 / NDCG@10 of each round
    method on them. `rows`: the tally's per-case rows (the round methods carry RATED_IN_FIRST)."""
    out: dict[str, list[dict[str, Any]]] = {}
    if rows.empty or RATED_IN_FIRST not in rows:
        return out
    rounds = rows[rows["method"].isin(ROUND_METHODS) & rows[RATED_IN_FIRST].notna()]
    for variant in VARIANTS:
        mine = rounds[rounds["variant"] == variant]
        groups = []
        for low, high in RATED_GROUPS:
            inside = mine[mine[RATED_IN_FIRST].between(low, high)]
            users = int((inside["method"] == SECOND_ROUND).sum())
            if not users:
                continue
            groups.append({"rated": group_label(low, high), "users": users, **_round_means(inside)})
        if groups:
            out[variant] = groups
    return out


def _round_means(rows: pd.DataFrame) -> Mapping[str, dict[str, float]]:
    """{round's report name: {hr_at_10, ndcg_at_10}} over the rows."""
    return {
        key: {k: float(rows.loc[rows["method"] == name, k].mean()) for k in ("hr_at_10", "ndcg_at_10")}
        for name, key in ROUND_KEYS.items()
    }
