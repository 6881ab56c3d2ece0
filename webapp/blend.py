"""How the recommender weighs its sources: BlendWeights (per section, per situation, after
feedback) and the min-max scaling each source gets within the section it competes in.

Imports only numpy and the standard library (the web app stays light).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from webapp.schema import LESS_KNOWN, POPULAR

SOURCES = ("knn", "als", "ease", "neumf", "popularity")
NEGATIVE_LISTS = 0.25  # BlendWeights.negative's default: the evaluation's choice on all folds


@dataclass(frozen=True)
class BlendWeights:
    """How much each source counts in each section (0 turns a source off)."""

    # The setting of the evaluation's grid (offline/evaluation/tuning.py) that scores best on
    # all five folds of ml-latest-small together (HR@10 plus less-known HR@5, variants A and B);
    # the report's figures are held out: each fold's at the setting chosen on the other folds
    # (every fold chose this one). The ALS fold-in carries most of both halves, kNN widens
    # coverage, NeuMF's two-hop lists lift the less-known half, and a log-count prior steers each
    # half towards what more people have seen; when every pick is popular, EASE takes over from
    # the ALS fold-in and the popular half drops its prior (popular_picks, popular_picks_prior
    # below). The ablation tables of report.html show what removing each one costs.
    popular: Mapping[str, float] = field(
        default_factory=lambda: {"knn": 0.1, "als": 1.0, "neumf": 0.0, "popularity": 1.0}
    )
    less_known: Mapping[str, float] = field(
        default_factory=lambda: {"knn": 0.25, "als": 1.0, "neumf": 0.3, "popularity": 0.6}
    )
    # After feedback (a profile beyond the plain picks), these replace some of the weights above:
    # the co-ratings and EASE weights of four or more liked movies say more than those of three,
    # and the ALS fold-in counts for half. Chosen like the blend, held out, on the evaluation's
    # second round (tuning.AFTER_FEEDBACK; this is the choice on all five folds, three folds' own).
    after_feedback: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {
            POPULAR: {"knn": 0.5, "ease": 2.0, "als": 0.5},
            LESS_KNOWN: {"ease": 2.0, "als": 0.5},
        }
    )
    # The situation, not the visitor: when every liked movie is in the popular pool (the picker's
    # catalog grid is all popular movies), the picks already say "I like well-known films", and a
    # popularity prior on top crowds the ten with the most-rated movies. This replaces the
    # popularity weight of a section then (None or absent: no change). Only the prior changes,
    # so the models' relative weights, and the reasons, stay the same.
    popular_picks_prior: Mapping[str, float] | None = field(default_factory=lambda: {POPULAR: 0.0})
    # The same situation may also change the models' weights (overrides per section, before
    # after_feedback's): on catalog picks EASE ranks better than the ALS fold-in (the evaluation's
    # variant B), on picks that include less-known movies it does not.
    popular_picks: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {POPULAR: {"ease": 3.0, "als": 0.0}, LESS_KNOWN: {"ease": 1.0, "als": 0.5}}
    )
    # How hard a disliked movie counts against its kNN / EASE / NeuMF neighbours: its lists are
    # subtracted times this and its own weight (webapp.profile.disliked_weight). Chosen with
    # after_feedback, held out on the second round (tuning.AFTER_FEEDBACK): 0.25 on all folds,
    # 0.1 or 0.25 on each (with these weights the second round's HR@10 in-sample, variants A / B:
    # 0.768 / 0.814 at 1, 0.808 / 0.820 at 0.25). Never 0: a "not for me" counts against its
    # neighbours.
    negative: float = NEGATIVE_LISTS

    def for_section(
        self, section: str, feedback: bool = False, popular_picks: bool = False
    ) -> Mapping[str, float]:
        """The weights of one section (when every liked movie is popular: with popular_picks'
        overrides; after feedback: with its overrides; when every liked movie is popular: with
        popular_picks_prior's popularity weight)."""
        out = self.popular if section == POPULAR else self.less_known
        situation = self.popular_picks.get(section) if popular_picks else None
        extra = self.after_feedback.get(section) if feedback else None
        for over in (situation, extra):
            out = {**out, **over} if over else out
        prior = (self.popular_picks_prior or {}).get(section) if popular_picks else None
        return {**out, "popularity": float(prior)} if prior is not None else out

    @property
    def adapts_to_popular_picks(self) -> bool:
        """Whether the situation "every liked movie is popular" changes any weight."""
        return self.popular_picks_prior is not None or any(self.popular_picks.values())

    def without(self, source: str) -> "BlendWeights":
        """The same weights with one source switched off (for ablations)."""
        prior = self.popular_picks_prior
        if source == "popularity" and prior is not None:
            prior = {section: 0.0 for section in prior}
        return BlendWeights(
            popular={**self.popular, source: 0.0},
            less_known={**self.less_known, source: 0.0},
            after_feedback=_switched_off(self.after_feedback, source),
            popular_picks_prior=prior,
            popular_picks=_switched_off(self.popular_picks, source),
            negative=self.negative,
        )


def _switched_off(
    overrides: Mapping[str, Mapping[str, float]], source: str
) -> dict[str, Mapping[str, float]]:
    """Per-section overrides with one source's weight set to 0 wherever they set it."""
    return {section: {**over, source: 0.0} if source in over else over for section, over in overrides.items()}


def scale(values: np.ndarray) -> np.ndarray:
    """Values clipped at 0, then min-max scaled to [0, 1] (a new array; zeros when constant or
    empty)."""
    out = np.maximum(values, 0.0)
    if not len(out):
        return out
    lo, hi = out.min(), out.max()
    span = hi - lo
    if not span > 0:
        return np.zeros(len(out))
    out -= lo
    out /= span
    return out


def scale_reached(values: np.ndarray, size: int) -> np.ndarray:
    """scale over `size` values of which only these are given, the rest being 0: the scaled
    given ones, the same floats as scale of all of them (the missing ones scale to 0)."""
    if len(values) == size:  # nothing missing
        return scale(values)
    out = np.maximum(values, 0.0)
    # With a 0 among them the minimum is 0, and subtracting 0 changes no float.
    span = out.max() if len(out) else 0.0
    if not span > 0:
        return np.zeros(len(values))
    out /= span
    return out
