"""The cold-start curve: HR@10 and NDCG@10 against the number of picks (variant A).

For each count n in PICK_COUNTS, every test user with at least n + 1 liked movies (rated 4 or
more) picks n of them, drawn with the seed of their variant A picks (so n = 3 is exactly the
main table's variant A case), and is scored on the rest. The ten come from the same recommend
function as the web app's API (which takes 1 to N liked ids), at the fold's held-out weights;
the references are the same plain 5 + 5 lists as in the main table. Each point states how many
users it has: the larger counts only have the users with that many liked movies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from offline.config import BuildConfig
from offline.evaluation.cases import LIKED_RATING, Case, pick_seed
from offline.evaluation.methods import Method
from offline.evaluation.scoring import score_case

PICK_COUNTS = (1, 2, 3, 5, 10)


def draw_n(liked: Sequence[int], n: int, seed: int) -> tuple[int, ...]:
    """n of the sorted liked ids (for n = 3 the same three as cases.draw_picks)."""
    pool = np.sort(np.asarray(liked, dtype=np.int64))
    return tuple(int(x) for x in np.random.default_rng(seed).choice(pool, n, replace=False))


def cold_start_cases(
    test_ratings: pd.DataFrame,
    fold: int,
    less_known: set[int],
    cfg: BuildConfig,
    counts: Sequence[int] = PICK_COUNTS,
) -> dict[int, list[Case]]:
    """{n: the fold's cases with n picks}: users with at least n + 1 liked movies."""
    liked = test_ratings[test_ratings["rating"] >= LIKED_RATING]
    out: dict[int, list[Case]] = {n: [] for n in counts}
    for user_id, group in liked.groupby("user_id", sort=True):
        movies = sorted(set(group["movie_id"].astype(int)))
        for n in counts:
            if len(movies) < n + 1:
                continue
            picks = draw_n(movies, n, pick_seed(cfg, "A", int(user_id)))
            relevant = frozenset(movies) - set(picks)
            out[n].append(Case(int(user_id), fold, "A", picks, relevant, frozenset(relevant & less_known)))
    return out


def score_curve(cases: Mapping[int, Sequence[Case]], methods: Mapping[str, Method]) -> list[dict[str, Any]]:
    """Per-case rows (method, picks, user, fold, hr_at_10, ndcg_at_10) of one fold."""
    rows = []
    for n, group in cases.items():
        for name, method in methods.items():
            for case in group:
                figures = score_case(method(case), case)
                rows.append(
                    {
                        "method": name,
                        "picks": n,
                        "user_id": case.user_id,
                        "fold": case.fold,
                        "hr_at_10": figures["hr_at_10"],
                        "ndcg_at_10": figures["ndcg_at_10"],
                    }
                )
    return rows


def curve_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """{"picks": [...], "users": {n: users}, "methods": {name: {"hr_at_10": [...],
    "ndcg_at_10": [...]}}}: means per pick count over every fold."""
    if not rows:
        return {}
    frame = pd.DataFrame(rows)
    counts = sorted(int(n) for n in frame["picks"].unique())
    methods: dict[str, dict[str, list[float | None]]] = {}
    for name, group in frame.groupby("method", sort=False):
        means = group.groupby("picks")[["hr_at_10", "ndcg_at_10"]].mean()
        methods[str(name)] = {
            key: [float(means.at[n, key]) if n in means.index else None for n in counts]
            for key in ("hr_at_10", "ndcg_at_10")
        }
    first = frame[frame["method"] == frame["method"].iloc[0]]
    users = {str(n): int((first["picks"] == n).sum()) for n in counts}
    return {"picks": counts, "users": users, "variant": "A", "methods": methods}
