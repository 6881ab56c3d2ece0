"""Honest tuning: the blend weights of each reported fold are chosen on the other folds' users.

Every fold's simulated users (both variants) are shown the ten at each setting of a small grid
(GRID, today's defaults first). For fold k the setting with the best HR@10 over the cases of the
*other* folds wins (ties: NDCG@10, then grid order); fold k's figures are then those at that
setting. Each other fold's users were scored with models trained without them, and fold k's users
never take part in choosing fold k's weights, so every reported figure is held out twice: from
training and from tuning. The setting chosen on all folds together is the one the web app uses
(`webapp.recommend.BlendWeights`' defaults).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from webapp.recommend import BlendWeights
from webapp.schema import LESS_KNOWN, POPULAR

# Today's (before issue 8) weights, the grid's first setting.
TODAY_POPULAR = {"knn": 0.1, "als": 1.0, "neumf": 0.0, "popularity": 1.0}
TODAY_LESS_KNOWN = {"knn": 0.5, "als": 1.0, "neumf": 0.3, "popularity": 0.1}


@dataclass(frozen=True)
class Setting:
    """One point of the grid: a name for the report and the weights."""

    name: str
    weights: BlendWeights

    def describe(self) -> dict[str, Any]:
        w = self.weights
        return {
            "name": self.name,
            "popular": dict(w.popular),
            "less_known": dict(w.less_known),
            "popular_picks_prior": None if w.popular_picks_prior is None else dict(w.popular_picks_prior),
            "popular_picks": {section: dict(over) for section, over in w.popular_picks.items()},
            # not after_feedback: the blend's grid does not choose it (choose_after_feedback does,
            # per fold, and the report states that choice on its own)
        }


def _weights(
    popular: Mapping[str, float] | None = None,
    less_known: Mapping[str, float] | None = None,
    popular_picks_prior: Mapping[str, float] | None = None,
    popular_picks: Mapping[str, Mapping[str, float]] | None = None,
) -> BlendWeights:
    return BlendWeights(
        popular={**TODAY_POPULAR, **(popular or {})},
        less_known={**TODAY_LESS_KNOWN, **(less_known or {})},
        popular_picks_prior=popular_picks_prior,
        popular_picks=popular_picks or {},
    )


# The grid: every combination of these (today's weights first). Each setting costs one
# recommend pass over every case (about 0.1 s a fold on ml-latest-small), so 36 of them add
# about 15 s to `evaluate`. Not blind: a first 72-setting grid also tried popular kNN 0.3 and a
# popular-half prior of 0.5 (never among the best dozen, dropped to keep `evaluate` within 5
# minutes), and less-known kNN 0.25 was added after an exploratory run on the same folds.
POPULAR_KNN = (0.1,)
POPULAR_PRIOR = (1.0,)
LESS_KNOWN_KNN = (0.5, 0.25)
LESS_KNOWN_PRIOR = (0.1, 0.3, 0.6)
LESS_KNOWN_NEUMF = (0.3, 0.6)
# the situation "every pick is popular": no change, no popular-half prior (a third option, no
# prior at all, was dropped with EASE's options below, to keep `evaluate` within 5 minutes)
POPULAR_PICKS = (None, {POPULAR: 0.0})
# ... and the models then: no change, or EASE in place of most of the ALS fold-in (EASE's weight
# in the popular half / in the less-known half; ALS 0 / 0.5). The candidates come from a run on
# the same five folds with the other weights at their defaults (catalog picks, HR@10: 0.856
# without, 0.884 to 0.888 with these), a caveat the report states.
EASE_WHEN_POPULAR = (
    None,
    {POPULAR: {"ease": 3.0, "als": 0.0}, LESS_KNOWN: {"ease": 3.0, "als": 0.5}},
    {POPULAR: {"ease": 3.0, "als": 0.0}, LESS_KNOWN: {"ease": 1.0, "als": 0.5}},
)


# The weights after feedback (BlendWeights.after_feedback) and how hard a disliked movie's lists
# push (BlendWeights.negative): chosen like the blend, but on the second round's figures (the only
# cases that use them), for each fold on the other folds' users, at that fold's blend setting.
# The weights: the popular half's kNN at 0.5, and EASE added in the popular half or in both (an
# exploratory run on the same folds: second-round HR@10 in variant A 0.773, 0.778, 0.783); then
# EASE at 2 in both halves with the prior halved or ALS halved (a later exploratory run at push
# 0.1: A 0.806 and 0.810 against 0.790 for EASE 1 in both, B 0.816 and 0.812 against 0.816). The
# push: 1 (the lists subtracted at the disliked movie's full weight) down to 0.1, never 0, so a
# "not for me" always counts against its neighbours (an exploratory run, EASE in both halves:
# second-round HR@10 A / B 0.783 / 0.795 at 1, 0.801 / 0.803 at 0.5, 0.790 / 0.816 at 0.1). The
# simulated "not interested" is only "never rated", weaker than a visitor's click, which the
# report's caveat states.
_AFTER_WEIGHTS = (
    ("popular kNN 0.5", {POPULAR: {"knn": 0.5}}),
    ("popular kNN 0.5, EASE 1", {POPULAR: {"knn": 0.5, "ease": 1.0}}),
    (
        "popular kNN 0.5, EASE 1; less known EASE 1",
        {POPULAR: {"knn": 0.5, "ease": 1.0}, LESS_KNOWN: {"ease": 1.0}},
    ),
    (
        "popular kNN 0.5, EASE 2, prior 0.5; less known EASE 2, prior 0.3",
        {POPULAR: {"knn": 0.5, "ease": 2.0, "popularity": 0.5}, LESS_KNOWN: {"ease": 2.0, "popularity": 0.3}},
    ),
    (
        "popular kNN 0.5, EASE 2, ALS 0.5; less known EASE 2, ALS 0.5",
        {POPULAR: {"knn": 0.5, "ease": 2.0, "als": 0.5}, LESS_KNOWN: {"ease": 2.0, "als": 0.5}},
    ),
)
PUSHES = (1.0, 0.5, 0.25, 0.1)


def _after_feedback_candidates() -> tuple[tuple[str, Mapping[str, Mapping[str, float]], float], ...]:
    """(name, after_feedback, negative) for every pair, the web app's defaults first."""
    default = BlendWeights()
    out = [(f"{name}; push {push:g}", over, push) for name, over in _AFTER_WEIGHTS for push in PUSHES]
    out.sort(key=lambda c: not (c[1] == default.after_feedback and c[2] == default.negative))
    return tuple(out)


AFTER_FEEDBACK = _after_feedback_candidates()


_AFTER = "; after feedback: "


def after_feedback_grid(base: Setting) -> list[Setting]:
    """The blend setting `base` with each candidate of AFTER_FEEDBACK (the defaults first)."""
    return [
        Setting(
            f"{base.name}{_AFTER}{name}",
            dataclasses.replace(base.weights, after_feedback=over, negative=push),
        )
        for name, over, push in AFTER_FEEDBACK
    ]


def after_feedback_name(setting_name: str) -> str:
    """The after-feedback candidate's name within a combined setting's name."""
    return setting_name.rsplit(_AFTER, 1)[-1]


def blend_name(setting_name: str) -> str:
    """The blend grid's setting within a combined setting's name (itself when not combined)."""
    return setting_name.split(_AFTER, 1)[0]


def _fmt(x: float) -> str:
    return f"{x:g}"


def blend_grid() -> list[Setting]:
    """The candidate settings: today's weights first, then the rest of the factorial grid."""
    out = []
    for pk, pp, lk, lp, ln, situation, models in itertools.product(
        POPULAR_KNN,
        POPULAR_PRIOR,
        LESS_KNOWN_KNN,
        LESS_KNOWN_PRIOR,
        LESS_KNOWN_NEUMF,
        POPULAR_PICKS,
        EASE_WHEN_POPULAR,
    ):
        name = (
            f"popular kNN {_fmt(pk)}, prior {_fmt(pp)}; less known kNN {_fmt(lk)}, "
            f"prior {_fmt(lp)}, NeuMF {_fmt(ln)}"
        )
        if situation:
            name += "; every pick popular: " + ", ".join(
                f"{section.replace('_', ' ')} prior {_fmt(v)}" for section, v in situation.items()
            )
        if models:
            name += "; every pick popular: EASE " + " / ".join(
                f"{_fmt(over['ease'])} (ALS {_fmt(over['als'])})" for over in models.values()
            )
        out.append(
            Setting(
                name,
                _weights(
                    popular={"knn": pk, "popularity": pp},
                    less_known={"knn": lk, "popularity": lp, "neumf": ln},
                    popular_picks_prior=situation,
                    popular_picks=models,
                ),
            )
        )
    today = _weights()
    first = next(s for s in out if s.weights == today)
    return [Setting("today's weights", today)] + [s for s in out if s is not first]


CRITERION = (
    "HR@10 plus less-known HR@5 (the less-known half's own hit rate, over the users with a relevant "
    "less-known movie), variants A and B together; ties by NDCG@10, then grid order"
)


def _ranked(rows: pd.DataFrame, order: Sequence[str]) -> list[str]:
    """Setting names, best first: mean HR@10 plus mean less-known HR@5 (CRITERION; HR@10 alone
    let the choice trade the less-known half away for noise-sized HR@10 gains), then mean
    NDCG@10, then grid order. Rows without a less-known column rank on HR@10 alone."""
    columns = [c for c in ("hr_at_10", "less_known_hr_at_5", "ndcg_at_10") if c in rows.columns]
    means = rows.groupby("setting")[columns].mean()  # NaN (no relevant less-known movie) skipped
    score = means["hr_at_10"] + means.get("less_known_hr_at_5", 0.0)
    position = {name: i for i, name in enumerate(order)}
    return sorted(
        means.index,
        key=lambda s: (
            -round(float(score[s]), 12),
            -round(float(means.at[s, "ndcg_at_10"]), 12),
            position[s],
        ),
    )


def choose_held_out(rows: pd.DataFrame, order: Sequence[str]) -> dict[str, Any]:
    """The held-out choice per fold and the choice on all folds.

    rows: one per (setting, fold, variant, user) with hr_at_10 and ndcg_at_10. For each fold k,
    only the rows of the other folds decide. With one fold there is nothing to tune on: it keeps
    the grid's first setting (and `tuned` says so).
    """
    folds = sorted(int(f) for f in rows["fold"].unique())
    per_fold: dict[int, str] = {}
    tuned = len(folds) > 1
    for k in folds:
        others = rows[rows["fold"] != k]
        per_fold[k] = _ranked(others, order)[0] if tuned else order[0]
    return {"per_fold": per_fold, "all_folds": _ranked(rows, order)[0], "tuned": tuned}


def grid_table(rows: pd.DataFrame, order: Sequence[str]) -> list[dict[str, Any]]:
    """Per setting: HR@10 and NDCG@10 per fold and over all (both variants together), and per
    variant over all folds (for the report's tuning table)."""
    out = []
    for name in order:
        mine = rows[rows["setting"] == name]
        if mine.empty:
            continue
        out.append(
            {
                "setting": name,
                "hr_at_10": float(mine["hr_at_10"].mean()),
                "ndcg_at_10": float(mine["ndcg_at_10"].mean()),
                "by_variant": {v: float(g["hr_at_10"].mean()) for v, g in mine.groupby("variant")},
                "by_fold": {int(f): float(g["hr_at_10"].mean()) for f, g in mine.groupby("fold")},
            }
        )
    return out


def tuning_summary(rows: pd.DataFrame, grid: Sequence[Setting]) -> dict[str, Any]:
    """What the report states: the grid, the choice per fold (with its weights), the choice on
    all folds, and how much the per-fold choices vary."""
    order = [s.name for s in grid]
    choice = choose_held_out(rows, order)
    by_name = {s.name: s for s in grid}
    chosen = list(choice["per_fold"].values())
    weights = [by_name[name].weights for name in chosen]
    spread: dict[str, Any] = {}
    for section in ("popular", "less_known"):
        for source in ("knn", "als", "ease", "neumf", "popularity"):
            values = [float(getattr(w, section).get(source, 0.0)) for w in weights]
            spread[f"{section}.{source}"] = {"min": min(values), "max": max(values)}
            over = [float(w.for_section(section, popular_picks=True).get(source, 0.0)) for w in weights]
            spread[f"every pick popular: {section}.{source}"] = {"min": min(over), "max": max(over)}
    priors = [None if w.popular_picks_prior is None else w.popular_picks_prior.get(POPULAR) for w in weights]
    spread["popular_picks_prior.popular"] = sorted({p for p in priors if p is not None}) + (
        ["none"] if None in priors else []
    )
    return {
        "criterion": CRITERION,
        "tuned": choice["tuned"],
        "grid": [by_name[n].describe() for n in order],
        "per_fold": [
            {"fold": k, "setting": name, "weights": by_name[name].describe()}
            for k, name in choice["per_fold"].items()
        ],
        "distinct_choices": len(set(chosen)),
        "spread": spread,
        "all_folds": by_name[choice["all_folds"]].describe(),
        "table": grid_table(rows, order),
    }


def choose_after_feedback(
    prepared: Sequence[Any], blend: Mapping[int, Setting]
) -> tuple[dict[int, Setting], dict[str, Any]]:
    """Each fold's weights after feedback, chosen held out on the second round (tuning.py's
    AFTER_FEEDBACK at the fold's blend setting; with one fold, the first candidate, untuned).
    `prepared`: the folds (prepare.PreparedFold: .fold, .rec, .cases). Returns each fold's full
    setting and what the report states."""
    from offline.evaluation.methods import Shown
    from offline.evaluation.rounds import after_first_ten
    from offline.evaluation.scoring import score_case

    names = [name for name, _, _ in AFTER_FEEDBACK][: 1 if len(prepared) == 1 else None]
    rows = []
    for p in prepared:
        grid = after_feedback_grid(blend[p.fold])[: len(names)]
        # the first ten are the same at every candidate (plain picks): made once per case
        base = p.rec.with_weights(grid[0].weights)
        rounds = [(case, after_first_ten(base, case)) for case in p.cases]
        recs = [(setting, p.rec.with_weights(setting.weights)) for setting in grid]
        by_setting: dict[str, list[dict[str, Any]]] = {setting.name: [] for setting in grid}
        # a case at every candidate before the next case (the recommender's memo keeps its
        # source scores); the rows setting after setting, as before
        for case, found in rounds:
            if found is None:
                continue
            _, later, profile = found
            for setting, rec in recs:
                figures = score_case(Shown(*rec.recommend_ids(profile)), later)
                by_setting[setting.name].append(
                    {
                        "setting": after_feedback_name(setting.name),
                        "fold": p.fold,
                        "variant": case.variant,
                        "user_id": case.user_id,
                        **{k: figures[k] for k in ("hr_at_10", "ndcg_at_10", "less_known_hr_at_5")},
                    }
                )
        rows += [row for setting in grid for row in by_setting[setting.name]]
    frame = pd.DataFrame(rows)
    if rows:
        choice = choose_held_out(frame, names)
    else:  # no case had a second round: nothing to choose on
        choice = {"per_fold": {p.fold: names[0] for p in prepared}, "all_folds": names[0], "tuned": False}
    final = {}
    for p in prepared:
        grid = after_feedback_grid(blend[p.fold])
        final[p.fold] = next(s for s in grid if after_feedback_name(s.name) == choice["per_fold"][p.fold])
    summary = {
        "criterion": "second-round " + CRITERION + ", on the relevant movies not shown yet",
        "candidates": {
            name: {"after_feedback": {k: dict(v) for k, v in over.items()}, "negative": push}
            for name, over, push in AFTER_FEEDBACK
        },
        "tuned": choice["tuned"],
        "per_fold": [{"fold": k, "setting": name} for k, name in choice["per_fold"].items()],
        "all_folds": choice["all_folds"],
        "table": grid_table(frame, names) if rows else [],
    }
    return final, summary
