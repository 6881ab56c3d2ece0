"""Issue 8's evaluation parts: EASE, held-out tuning of the blend, the cold-start curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offline.config import BuildConfig
from offline.evaluation.cases import Case, build_cases
from offline.evaluation.coldstart import cold_start_cases, curve_summary, draw_n, score_curve
from offline.evaluation.ease import Ease, ease_weights
from offline.evaluation.methods import FoldView, Shown, ease_shown
from offline.evaluation.tuning import blend_grid, choose_held_out, tuning_summary


# ---------------------------------------------------------------------- EASE
def _brute_force_ease(x: np.ndarray, lam: float) -> np.ndarray:
    """Column by column: ridge regression of item j on every other item (B_jj = 0), which is
    what EASE's closed form solves under its zero-diagonal constraint."""
    n = x.shape[1]
    b = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        b[others, j] = np.linalg.solve(a.T @ a + lam * np.eye(n - 1), a.T @ x[:, j])
    return b


def test_ease_closed_form_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((30, 7)) < 0.4).astype(float)
    for lam in (0.5, 3.0, 20.0):
        np.testing.assert_allclose(ease_weights(x, lam), _brute_force_ease(x, lam), atol=1e-10)


def _train() -> pd.DataFrame:
    """Users 1..6 rate movies 10, 11, 12 together; users 7..12 rate 20, 21, 22 together; movie
    30 is rated by two users only (below the support)."""
    rows = [(u, m) for u in range(1, 7) for m in (10, 11, 12)]
    rows += [(u, m) for u in range(7, 13) for m in (20, 21, 22)]
    rows += [(1, 30), (7, 30), (2, 20)]
    return pd.DataFrame(rows, columns=["user_id", "movie_id"]).assign(rating=4.0)


def test_ease_fits_the_binary_matrix_over_supported_movies() -> None:
    model = Ease(_train(), lam=1.0, min_support=3)
    assert 30 not in model.index  # two ratings < support 3
    assert list(model.movie_ids[:1]) == [20]  # the most rated first (7 users)
    x = pd.crosstab(_train()["user_id"], _train()["movie_id"]).clip(upper=1)[list(model.movie_ids)]
    np.testing.assert_allclose(model.b, ease_weights(x.to_numpy(float), 1.0), atol=1e-10)
    scores = model.scores([10, 30])  # 30 is outside the model: it adds nothing
    np.testing.assert_allclose(scores, model.b[model.index[10]])
    assert scores[model.index[11]] > scores[model.index[21]]


def test_ease_five_plus_five_keeps_pools_and_skips_picks() -> None:
    model = Ease(_train(), lam=1.0, min_support=3)
    view = FoldView(
        most_rated_popular=[20, 10, 11, 12],
        most_rated_less_known=[21, 22, 99],
        most_rated=[],
        catalog=[],
        vote_count={},
        popularity_rank={},
    )
    popular, less_known = model.masks(view.most_rated_popular, view.most_rated_less_known)
    only_10 = ease_shown(model, (10,), popular, less_known, view)
    assert set(only_10.first[:2]) == {11, 12}  # 10's co-rated movies first
    shown = ease_shown(model, (10, 21), popular, less_known, view)
    assert shown.first[0] == 20  # 21's co-rated movie (20 and 21 share six users)
    assert set(shown.first) == {20, 11, 12} and set(shown.second) == {22, 99}  # topped up
    assert not {10, 21} & set(shown.ten)


# ---------------------------------------------------------------------- held-out tuning
def _grid_rows(hr: dict[str, list[float]], users_per_fold: int = 4) -> pd.DataFrame:
    rows = []
    for setting, per_fold in hr.items():
        for fold, value in enumerate(per_fold):
            for user in range(users_per_fold):
                for variant in ("A", "B"):
                    rows.append(
                        {
                            "setting": setting,
                            "fold": fold,
                            "variant": variant,
                            "user_id": fold * 100 + user,
                            "hr_at_10": value,
                            "ndcg_at_10": value / 2,
                        }
                    )
    return pd.DataFrame(rows)


def test_held_out_choice_never_uses_the_folds_own_users() -> None:
    """A planted setting wins only on fold 0, by enough to win over all folds: fold 0 must not
    choose it (its own users are the only evidence for it), the other folds must."""
    rows = _grid_rows({"base": [0.5, 0.5, 0.5], "planted": [1.0, 0.4, 0.4]})
    choice = choose_held_out(rows, ["base", "planted"])
    assert choice["all_folds"] == "planted"  # mean 0.6 > 0.5
    assert choice["per_fold"] == {0: "base", 1: "planted", 2: "planted"}
    assert choice["tuned"]
    # and the other way round: a setting that loses only on fold 2 is chosen for fold 2
    rows = _grid_rows({"base": [0.5, 0.5, 0.5], "other": [0.6, 0.6, 0.0]})
    assert choose_held_out(rows, ["base", "other"])["per_fold"] == {0: "base", 1: "base", 2: "other"}


def test_held_out_choice_ties_by_ndcg_then_grid_order() -> None:
    rows = _grid_rows({"first": [0.5, 0.5], "second": [0.5, 0.5]})
    assert set(choose_held_out(rows, ["first", "second"])["per_fold"].values()) == {"first"}
    assert set(choose_held_out(rows, ["second", "first"])["per_fold"].values()) == {"second"}
    rows.loc[rows["setting"] == "second", "ndcg_at_10"] += 0.1
    assert set(choose_held_out(rows, ["first", "second"])["per_fold"].values()) == {"second"}


def test_held_out_choice_counts_the_less_known_half() -> None:
    """The criterion is HR@10 plus less-known HR@5: a setting a little behind on HR@10 but well
    ahead in the less-known half wins; users without a relevant less-known movie (NaN) are left
    out of that mean, not counted as misses."""
    rows = _grid_rows({"hr": [0.6, 0.6, 0.6], "halves": [0.55, 0.55, 0.55]})
    rows["less_known_hr_at_5"] = np.where(rows["setting"] == "hr", 0.1, 0.3)
    assert set(choose_held_out(rows, ["hr", "halves"])["per_fold"].values()) == {"halves"}
    # the same less-known hits, but "halves" has them only for half its users, the rest NaN
    rows.loc[(rows["setting"] == "halves") & (rows["user_id"] % 2 == 1), "less_known_hr_at_5"] = np.nan
    assert set(choose_held_out(rows, ["hr", "halves"])["per_fold"].values()) == {"halves"}
    # while a less-known gain smaller than the HR@10 loss does not win
    rows["less_known_hr_at_5"] = np.where(rows["setting"] == "hr", 0.1, 0.12)
    assert set(choose_held_out(rows, ["hr", "halves"])["per_fold"].values()) == {"hr"}


def test_one_fold_keeps_the_first_setting() -> None:
    rows = _grid_rows({"base": [0.1], "better": [0.9]})
    choice = choose_held_out(rows, ["base", "better"])
    assert choice["per_fold"] == {0: "base"} and not choice["tuned"]


def test_tuning_summary_reports_weights_per_fold() -> None:
    grid = blend_grid()[:2]
    rows = _grid_rows({grid[0].name: [0.5, 0.5, 0.9], grid[1].name: [0.6, 0.6, 0.5]})
    summary = tuning_summary(rows, grid)
    chosen = {e["fold"]: e["setting"] for e in summary["per_fold"]}
    assert chosen == {0: grid[0].name, 1: grid[0].name, 2: grid[1].name}
    assert summary["distinct_choices"] == 2
    fold2 = next(e for e in summary["per_fold"] if e["fold"] == 2)
    assert fold2["weights"]["popular"] == dict(grid[1].weights.popular)
    # the blend's grid does not choose the weights after feedback: its table must not show any
    # (each fold's own choice is reported by choose_after_feedback, and may differ)
    assert "after_feedback" not in fold2["weights"]
    pop = summary["spread"]["popular.popularity"]
    assert pop == {
        "min": min(grid[0].weights.popular["popularity"], grid[1].weights.popular["popularity"]),
        "max": max(grid[0].weights.popular["popularity"], grid[1].weights.popular["popularity"]),
    }
    assert [r["setting"] for r in summary["table"]] == [grid[0].name, grid[1].name]


def test_today_weights_lead_the_grid() -> None:
    """The grid's first setting (kept when nothing can be tuned) is today's weights."""
    from offline.evaluation.tuning import TODAY_LESS_KNOWN, TODAY_POPULAR

    first = blend_grid()[0].weights
    assert dict(first.popular) == TODAY_POPULAR and dict(first.less_known) == TODAY_LESS_KNOWN
    assert first.popular_picks_prior is None
    assert len({s.name for s in blend_grid()}) == len(blend_grid())


# ---------------------------------------------------------------------- cold-start curve
def _test_ratings() -> pd.DataFrame:
    """User u (1..12) likes u movies (ids 100u + i) and dislikes one."""
    rows = []
    for user in range(1, 13):
        rows += [(user, 100 * user + i, 4.5) for i in range(user)]
        rows.append((user, 100 * user + 99, 2.0))
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"])


def test_cold_start_cases_have_the_right_users() -> None:
    cfg = BuildConfig()
    cases = cold_start_cases(_test_ratings(), 0, set(), cfg)
    # n picks need n + 1 liked movies: users 2..12 for one pick, 11..12 for ten
    assert {n: len(c) for n, c in cases.items()} == {1: 11, 2: 10, 3: 9, 5: 7, 10: 2}
    for n, group in cases.items():
        for case in group:
            assert len(case.picks) == n and case.user_id >= n + 1
            assert len(case.relevant) == case.user_id - n  # the dislike is never relevant
            assert not set(case.picks) & case.relevant
    # three picks are the main table's variant A picks
    main = {
        c.user_id: c.picks for c in build_cases(_test_ratings(), 0, set(), set(), cfg) if c.variant == "A"
    }
    assert {c.user_id: c.picks for c in cases[3]} == main
    assert draw_n(range(20), 3, 5) == draw_n(list(range(20))[::-1], 3, 5)


def test_curve_summary_counts_users_per_point() -> None:
    cases = cold_start_cases(_test_ratings(), 0, set(), BuildConfig())

    def first_liked(case: Case) -> Shown:  # an oracle that finds one relevant movie
        return Shown((min(case.relevant),), ())

    def nothing(case: Case) -> Shown:
        return Shown((), ())

    curve = curve_summary(score_curve(cases, {"oracle": first_liked, "none": nothing}))
    assert curve["picks"] == [1, 2, 3, 5, 10]
    assert curve["users"] == {"1": 11, "2": 10, "3": 9, "5": 7, "10": 2}
    assert curve["methods"]["oracle"]["hr_at_10"] == [1.0] * 5
    assert curve["methods"]["none"]["hr_at_10"] == [0.0] * 5
    assert curve_summary([]) == {}


@pytest.mark.parametrize("n", [1, 10])
def test_cold_start_skips_users_without_enough_liked(n: int) -> None:
    ratings = _test_ratings()
    few = ratings[ratings["user_id"] <= n]
    assert cold_start_cases(few, 0, set(), BuildConfig(), (n,)) == {n: []}


def test_ease_with_lambda_is_a_fresh_fit() -> None:
    model = Ease(_train(), lam=1.0, min_support=3)
    other = model.with_lambda(5.0)
    np.testing.assert_allclose(other.b, Ease(_train(), lam=5.0, min_support=3).b, atol=1e-12)
    assert not np.allclose(other.b, model.b)


def test_the_web_apps_defaults_are_a_setting_of_the_grid() -> None:
    """The defaults are the grid's choice on all folds (docs/EVALUATION.md), so they must be one
    of its settings; today's (pre-tuning) weights lead the grid but are no longer the defaults."""
    from webapp.recommend import BlendWeights

    grid = blend_grid()
    assert any(s.weights == BlendWeights() for s in grid)
    assert grid[0].weights != BlendWeights()


@pytest.mark.parametrize("source", ["knn", "als", "ease", "neumf"])
def test_a_model_alone_stays_alone_in_every_situation(source: str) -> None:
    """The references ("kNN 5 + 5", ...) and "X only" rows use one model whatever the picks:
    the web app's adaptations (every pick popular: EASE for ALS; after feedback) stay off."""
    from offline.evaluation.methods import single_model

    weights = single_model(source)
    for section in ("popular", "less_known"):
        for feedback in (False, True):
            for popular_picks in (False, True):
                used = weights.for_section(section, feedback, popular_picks)
                assert {k: v for k, v in used.items() if v} == {source: 1.0}
