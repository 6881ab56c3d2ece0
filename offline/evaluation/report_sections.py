"""The report's HTML sections (offline/evaluation/report.py puts them together): the protocol,
the goals, the held-out tuning, the product against the references, the methods, the second
round, the ablations, the rating errors and the folds. Also the number format they share.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from offline.evaluation.rating import rating_rows

SUMMARY_COLUMNS = [
    ("method", "method"),
    ("hr_at_10", "HR@10"),
    ("precision_at_10", "P@10"),
    ("ndcg_at_10", "NDCG@10"),
    ("coverage", "coverage"),
    ("popular_hr_at_5", "popular HR@5"),
    ("less_known_hr_at_5", "less-known HR@5"),
    ("less_known_median_count", "less-known median count"),
]


def fmt(value: Any) -> str:
    """Floats to 3 decimals, whole numbers plain, missing as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3f}"
    if isinstance(value, (int, float)):
        return f"{int(value)}"
    return str(value)


def protocol_html(protocol: Mapping[str, Any], seconds: Any) -> str:
    """A paragraph restating the protocol's settings."""
    pools = protocol.get("pools", {})
    text = (
        f"{protocol.get('folds', '?')} folds of users (seed {protocol.get('seed', '?')}); "
        f"each test user with at least {protocol.get('picks', 3) + 1} ratings of "
        f"{protocol.get('liked_rating', 4.0)} or more picks {protocol.get('picks', 3)} of them "
        f"and is shown ten movies; relevant = the rest of their liked movies. Popular = top "
        f"{pools.get('popular_share', 0.1):.0%} of rated movies by rating count; less known = "
        f"the rest with at least {pools.get('less_known_min_count', 5)} ratings. "
        f"Picker catalog: {protocol.get('catalog_size', 100)} movies."
    )
    sampled = protocol.get("sampled")
    if sampled:
        text += (
            f" Sampled ({sampled.get('why', 'large data')}): {sampled['folds_evaluated']} of "
            f"{sampled['of_folds']} folds evaluated, {sampled['test_users']:,} of its "
            f"{sampled['of_test_users']:,} test users simulated (a seeded sample)."
        )
    if seconds is not None:
        text += f" Run time: {seconds} s."
    return f"<p>{html.escape(text)}</p>"


def goals_html(goals: Sequence[Mapping[str, Any]]) -> str:
    """Goals with met / not met."""
    if not goals:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(g['goal'])}"
        + (f"<br><small>{html.escape(g['detail'])}</small>" if g.get("detail") else "")
        + f"</td><td>{html.escape(_short(g['value']))}</td>"
        f"<td>{html.escape(_short(g['bar']))}</td>"
        f"<td class='{'ok' if g['met'] else 'no'}'>{'met' if g['met'] else 'not met'}</td></tr>"
        for g in goals
    )
    return (
        "<h2>Goals</h2><table><thead><tr><th>goal</th><th>value</th><th>bar</th>"
        f"<th>met?</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _weights_text(w: Mapping[str, Any]) -> str:
    """'popular knn 0.1, als 1, ...; less known ...; every pick popular: prior 0.25'."""

    def part(mapping: Mapping[str, Any]) -> str:
        return ", ".join(f"{k} {fmt(float(v))}" for k, v in mapping.items())

    text = f"popular: {part(w.get('popular', {}))}; less known: {part(w.get('less_known', {}))}"
    prior = w.get("popular_picks_prior")
    if prior:
        text += "; when every pick is popular, prior " + ", ".join(
            f"{k.replace('_', ' ')} {fmt(float(v))}" for k, v in prior.items()
        )
    for key, when in (("popular_picks", "when every pick is popular"), ("after_feedback", "after feedback")):
        overrides = {k: v for k, v in (w.get(key) or {}).items() if v}
        if overrides:
            text += f"; {when}: " + "; ".join(
                f"{k.replace('_', ' ')} {part(v)}" for k, v in overrides.items()
            )
    return text


def _choice_text(choice: Mapping[str, Any], key: str, figure: str) -> tuple[str, str]:
    """(each fold's held-out choice, each candidate's in-sample HR@10 per variant) of one
    held-out choice (the weights after feedback, EASE's lambda), as escaped text."""
    chosen = ", ".join(f"fold {e['fold'] + 1}: {html.escape(e[key])}" for e in choice.get("per_fold", []))
    figures = "; ".join(
        f"{html.escape(r['setting'])}: {figure} A {fmt(r['by_variant'].get('A'))}"
        f", B {fmt(r['by_variant'].get('B'))}"
        for r in choice.get("table", [])
    )
    return chosen, figures


def tuning_html(tuning: Mapping[str, Any]) -> str:
    """The held-out choice of the blend per fold, the grid's figures and the spread."""
    if not tuning:
        return ""
    parts = [
        "<h2>Tuning the blend, held out</h2><p>Each fold's figures in this report are those "
        "of the blend setting that scored best on the <em>other</em> folds' simulated users "
        f"({html.escape(tuning.get('criterion', ''))}); no figure comes from users that "
        "chose their own weights. The web app's defaults are the setting that scores best on "
        "all folds together.</p>"
    ]
    if not tuning.get("tuned"):
        parts.append(
            "<p>Only one fold was evaluated: nothing to tune on, so it keeps the "
            "grid's first setting (today's weights).</p>"
        )
    rows = "".join(
        f"<tr><td>{e['fold'] + 1}</td><td>{html.escape(e['setting'])}</td>"
        f"<td>{html.escape(_weights_text(e['weights']))}</td></tr>"
        for e in tuning.get("per_fold", [])
    )
    parts.append(
        "<table><thead><tr><th>fold</th><th>chosen on the other folds</th>"
        f"<th>weights</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    allw = tuning.get("all_folds", {})
    varying = [
        f"{name.replace('_', ' ')} {fmt(r['min'])} to {fmt(r['max'])}"
        for name, r in tuning.get("spread", {}).items()
        if isinstance(r, Mapping) and r["min"] != r["max"]
    ]
    prior = tuning.get("spread", {}).get("popular_picks_prior.popular")
    if isinstance(prior, list) and len(prior) > 1:
        varying.append(
            "popular half's prior when every pick is popular: " + " or ".join(str(x) for x in prior)
        )
    parts.append(
        f"<p>{tuning.get('distinct_choices', 0)} distinct setting(s) chosen across the "
        "folds; "
        + (
            ("the weights vary: " + "; ".join(html.escape(v) for v in varying))
            if varying
            else "no weight varies between folds"
        )
        + ". "
        f"Chosen on all folds (the web app's defaults): "
        f"<strong>{html.escape(allw.get('name', ''))}</strong> "
        f"({html.escape(_weights_text(allw))}).</p>"
    )
    after = tuning.get("after_feedback")
    if after:
        chosen, figures = _choice_text(after, "setting", "second-round HR@10")
        parts.append(
            "<p>The weights after feedback (a profile beyond the plain picks) and the push (how "
            "hard a disliked movie's lists count against their neighbours) are chosen the "
            f"same way, on the second round's figures ({html.escape(after.get('criterion', ''))}): "
            f"{chosen}; the web app's: {html.escape(after.get('all_folds', ''))} "
            f"(in-sample: {figures}). A caveat: the simulated visitor's &quot;not interested&quot; "
            "is a movie they never rated and &quot;not for me&quot; one they rated below 4, both "
            "weaker evidence than a real visitor's click, so this protocol favours a light push; "
            "the push is never 0.</p>"
        )
    ease = tuning.get("ease")
    if ease:
        chosen, figures = _choice_text(ease, "lambda", "HR@10")
        parts.append(
            "<p>The EASE reference's lambda is chosen the same way, among "
            f"{', '.join(fmt(float(x)) for x in ease.get('lambdas', []))}: {chosen} "
            f"(in-sample: {figures}).</p>"
        )
    table = tuning.get("table", [])
    if table:
        folds = sorted({int(f) for r in table for f in r["by_fold"]})
        head = "".join(f"<th>fold {f + 1}</th>" for f in folds)
        body = "".join(
            f"<tr><td>{html.escape(r['setting'])}</td><td>{fmt(r['hr_at_10'])}</td>"
            f"<td>{fmt(r['ndcg_at_10'])}</td>"
            + "".join(f"<td>{fmt(r['by_variant'].get(v))}</td>" for v in ("A", "B"))
            + "".join(f"<td>{fmt(r['by_fold'].get(f, r['by_fold'].get(str(f))))}</td>" for f in folds)
            + "</tr>"
            for r in table
        )
        parts.append(
            "<p>The grid: HR@10 of every setting (in-sample, for comparison only).</p>"
            "<table><thead><tr><th>setting</th><th>HR@10 (A+B)</th><th>NDCG@10 (A+B)</th>"
            f"<th>HR@10 A</th><th>HR@10 B</th>{head}</tr></thead><tbody>{body}</tbody>"
            "</table>"
        )
    return "".join(parts)


def references_html(references: Mapping[str, Mapping[str, Any]]) -> str:
    """The ten against each plain 5 + 5 reference, paired per user, per variant."""
    if not references:
        return ""
    keys = [("hr_at_10", "HR@10"), ("ndcg_at_10", "NDCG@10"), ("less_known_hr_at_5", "less-known HR@5")]
    header = "".join(f"<th>{label}: difference &plusmn; SE (z)</th>" for _, label in keys)
    parts = [
        "<h2>The ten against the 5 + 5 references</h2><p>The ten minus the reference, per "
        "simulated user (paired); positive = the ten are better. |z| &ge; 2 is beyond "
        "noise.</p>"
    ]
    for variant, ref in references.items():
        body = "".join(
            f"<tr><td>{html.escape(name)}{' (best)' if name == ref.get('best') else ''}</td>"
            + "".join(
                f"<td>{d[k]['diff']:+.3f} &plusmn; {d[k]['se']:.3f} ({d[k]['z']:+.1f})</td>" for k, _ in keys
            )
            + "</tr>"
            for name, d in ref.get("paired", {}).items()
        )
        parts.append(
            f"<p>Variant {html.escape(variant)}.</p><table><thead><tr><th>reference"
            f"</th>{header}</tr></thead><tbody>{body}</tbody></table>"
        )
    return "".join(parts)


def _short(value: Any) -> str:
    """A compact rendering of a number or a dict of numbers."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items())
    return fmt(value)


def methods_table(methods: Sequence[Mapping[str, Any]], variant: str, main: Any) -> str:
    """The figures of every method of one variant."""
    header = "".join(f"<th>{html.escape(label)}</th>" for _, label in SUMMARY_COLUMNS)
    body = []
    for r in methods:
        if r["variant"] != variant:
            continue
        cls = " class='main'" if r["method"] == main else ""
        cells = "".join(f"<td>{html.escape(fmt(r.get(key)))}</td>" for key, _ in SUMMARY_COLUMNS)
        body.append(f"<tr{cls}>{cells}</tr>")
    users = next((r["users"] for r in methods if r["variant"] == variant), 0)
    return (
        f"<p>{users} simulated users.</p><table><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


ROUND_ROWS = (
    ("first_round_all_users", "first round, every simulated user"),
    ("first_round", "first round, the same users"),
    ("second_round", "second round: refreshed after feedback on the first ten"),
    ("next_ten_without_feedback", "second round: next ten without feedback"),
)


def second_round_html(rounds: Mapping[str, Mapping[str, Any]]) -> str:
    """HR@10 and NDCG@10 after the simulated visitor's feedback, against the first round."""
    if not rounds:
        return ""
    parts = [
        "<h2>Second round: feedback on the ten</h2><p>The simulated visitor marks each of "
        "the first ten from their held-out ratings (rated 4 or more: loved; lower: not for "
        "me; unrated: not interested) and gets a refreshed ten from the same profile the "
        "web app builds. Second-round figures count only relevant movies not shown in the "
        "first round; users with none left are not simulated.</p>"
    ]
    for variant, figures in rounds.items():
        body = "".join(
            f"<tr><td>{html.escape(label)}</td><td>{fmt(figures[key]['hr_at_10'])}</td>"
            f"<td>{fmt(figures[key]['ndcg_at_10'])}</td></tr>"
            for key, label in ROUND_ROWS
            if key in figures
        )
        parts.append(
            f"<p>Variant {html.escape(variant)}: {figures['users']} users.</p><table>"
            f"<thead><tr><th>round</th><th>HR@10</th><th>NDCG@10</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
        parts.append(_rated_groups_html(figures.get("by_rated_in_first", [])))
    return "".join(parts)


def _rated_groups_html(groups: Sequence[Mapping[str, Any]]) -> str:
    """The rounds' HR@10 split by how many of the first ten the visitor had rated."""
    if not groups:
        return ""
    keys = [key for key, _ in ROUND_ROWS[1:]]
    body = "".join(
        f"<tr><td>{html.escape(str(g['rated']))}</td><td>{g['users']}</td>"
        + "".join(f"<td>{g[key]['hr_at_10']:.3f}</td>" for key in keys)  # rates: 0.000, not 0
        + "</tr>"
        for g in groups
    )
    return (
        "<p>The same users by how many of the first ten they had rated (loved or not for me; "
        "the rest they marked not interested). Rating none of them means the first round "
        "missed.</p><table><thead><tr><th>rated of the first ten</th><th>users</th>"
        "<th>HR@10, first round</th><th>HR@10, second round</th>"
        "<th>HR@10, next ten without feedback</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def ablations_html(ablations: Mapping[str, Mapping[str, Mapping[str, float]]], variant: str = "A") -> str:
    """Paired per-user differences of the product against each ablation (one variant)."""
    if not ablations:
        return ""
    keys = [("hr_at_10", "HR@10"), ("ndcg_at_10", "NDCG@10"), ("less_known_hr_at_5", "less-known HR@5")]
    header = "".join(f"<th>{label}: difference &plusmn; SE (z)</th>" for _, label in keys)
    body = "".join(
        f"<tr><td>{html.escape(model)}</td>"
        + "".join(
            f"<td>{d[k]['diff']:+.3f} &plusmn; {d[k]['se']:.3f} ({d[k]['z']:+.1f})</td>" for k, _ in keys
        )
        + "</tr>"
        for model, d in ablations.items()
    )
    return (
        f"<h2>Ablations (variant {variant})</h2><p>The full list minus the list with one model "
        "removed, per simulated user (paired); positive = the model helps. |z| &ge; 2 is "
        "beyond noise.</p>"
        f"<table><thead><tr><th>model</th>{header}</tr></thead><tbody>{body}</tbody></table>"
    )


def rating_table(rating: Mapping[str, Any]) -> str:
    """RMSE and MAE per rating model."""
    rows = rating_rows(rating)
    if not rows:
        return "<p>No rating-prediction figures.</p>"
    body = "".join(
        f"<tr><td>{html.escape(r['model'])}</td><td>{fmt(r.get('rmse'))}</td>"
        f"<td>{fmt(r.get('mae'))}</td></tr>"
        for r in rows
    )
    note = (
        f"<p>One seeded split (seed {rating.get('split_seed')}, fractions "
        f"{rating.get('fractions')}); fitted on train + validation, scored on test."
    )
    if not any(r["model"] == "NeuMF" for r in rows):
        note += (
            " NeuMF is trained on implicit feedback (who rated what) and ranks movies; it "
            "does not predict ratings, so it has no RMSE."
        )
    note += "</p>"
    return (
        note + "<table><thead><tr><th>model</th><th>RMSE</th><th>MAE</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def folds_table(folds: Sequence[Mapping[str, Any]]) -> str:
    """Per-fold sizes and stage times."""
    if not folds:
        return ""
    stages = sorted({k for f in folds for k in f.get("seconds", {})})
    header = "".join(f"<th>{html.escape(s)} s</th>" for s in stages)
    body = "".join(
        f"<tr><td>{f['fold'] + 1}</td><td>{f['train_users']}</td><td>{f['test_users']}</td>"
        f"<td>{f['cases'].get('A', 0)}</td><td>{f['cases'].get('B', 0)}</td>"
        + "".join(f"<td>{fmt(f['seconds'].get(s))}</td>" for s in stages)
        + f"<td>{fmt(f['total_seconds'])}</td></tr>"
        for f in folds
    )
    return (
        "<h2>Folds</h2><table><thead><tr><th>fold</th><th>train users</th><th>test users</th>"
        f"<th>cases A</th><th>cases B</th>{header}<th>total s</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
