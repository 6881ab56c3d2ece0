"""Ranking metrics on hand-made lists with exact expected values."""

from __future__ import annotations

import math

import pytest

from offline.evaluation.metrics import coverage, hit_rate_at_k, ndcg_at_k, precision_at_k, recall_at_k

RECOMMENDED = [10, 20, 30, 40, 50]
RELEVANT = {20, 50, 99}


def test_hit_rate() -> None:
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, 5) == 1.0
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, 1) == 0.0
    assert hit_rate_at_k(RECOMMENDED, RELEVANT, 2) == 1.0
    assert hit_rate_at_k(RECOMMENDED, set(), 5) == 0.0


def test_precision() -> None:
    assert precision_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert precision_at_k(RECOMMENDED, RELEVANT, 2) == pytest.approx(1 / 2)
    # fewer than k recommendations: still divided by k
    assert precision_at_k([20], RELEVANT, 10) == pytest.approx(1 / 10)


def test_recall() -> None:
    assert recall_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(2 / 3)
    assert recall_at_k(RECOMMENDED, RELEVANT, 3) == pytest.approx(1 / 3)
    assert recall_at_k(RECOMMENDED, [], 3) == 0.0


def test_ndcg() -> None:
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RECOMMENDED, RELEVANT, 5) == pytest.approx(dcg / ideal)
    assert ndcg_at_k([20, 50], RELEVANT, 2) == pytest.approx(1.0)
    assert ndcg_at_k([1, 2], RELEVANT, 2) == 0.0
    # one relevant item at position 2: 1/log2(3) over an ideal of 1
    assert ndcg_at_k([1, 7], {7}, 10) == pytest.approx(1 / math.log2(3))


def test_duplicates_count_once() -> None:
    assert precision_at_k([20, 20, 50], RELEVANT, 2) == pytest.approx(1.0)
    assert hit_rate_at_k([1, 1, 20], RELEVANT, 2) == 1.0


def test_values_in_range_and_bad_k() -> None:
    for metric in (hit_rate_at_k, precision_at_k, recall_at_k, ndcg_at_k):
        assert 0.0 <= metric(RECOMMENDED, RELEVANT, 3) <= 1.0
        with pytest.raises(ValueError):
            metric(RECOMMENDED, RELEVANT, 0)


def test_coverage() -> None:
    assert coverage([[1, 2, 3], [3, 4], []]) == 4
    assert coverage([]) == 0
