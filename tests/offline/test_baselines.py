"""Baselines and error metrics on hand-checkable fixtures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from offline.stages import baselines


def frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "movie_id", "rating"]).astype(
        {"user_id": "int32", "movie_id": "int32", "rating": "float32"}
    )


TRAIN = frame([(1, 10, 4.0), (1, 20, 3.0), (2, 10, 5.0)])


def test_rmse_and_mae() -> None:
    assert baselines.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3), abs=1e-12)
    assert baselines.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3, abs=1e-12)


def test_errors_of_no_rows_are_nan_without_a_warning() -> None:
    """A tiny data set's validation split can be empty (pytest turns the warning into an error)."""
    assert math.isnan(baselines.rmse([], [])) and math.isnan(baselines.mae(np.array([]), np.array([])))


def test_global_mean_is_clipped_constant() -> None:
    assert baselines.fit_global_mean(TRAIN) == pytest.approx(4.0, abs=1e-12)
    pred = baselines.predict_global_mean(4.0, frame([(9, 9, 1.0)] * 3))
    assert pred.tolist() == [4.0, 4.0, 4.0]
    assert baselines.predict_global_mean(7.0, TRAIN).tolist() == [5.0] * 3


def test_bias_model_matches_hand_computation() -> None:
    model = baselines.fit_bias(TRAIN, item_reg=1.0, user_reg=1.0)
    # mu = 4; b_10 = (0 + 1) / (2 + 1); b_20 = -1 / (1 + 1)
    b10, b20 = 1 / 3, -1 / 2
    # b_u1 = ((4 - 4 - b10) + (3 - 4 - b20)) / (2 + 1); b_u2 = (5 - 4 - b10) / (1 + 1)
    bu1, bu2 = ((0 - b10) + (-1 - b20)) / 3, (1 - b10) / 2
    assert model.global_mean == pytest.approx(4.0, abs=1e-12)
    assert model.item_bias.to_dict() == pytest.approx({10: b10, 20: b20}, abs=1e-12)
    assert model.user_bias.to_dict() == pytest.approx({1: bu1, 2: bu2}, abs=1e-12)
    pred = baselines.predict_bias(model, frame([(1, 10, 0), (2, 20, 0), (3, 20, 0), (3, 99, 0)]))
    expected = [4 + bu1 + b10, 4 + bu2 + b20, 4 + b20, 4.0]  # unknown ids get bias 0
    np.testing.assert_allclose(pred, expected, rtol=0, atol=1e-12)


def test_bias_predictions_are_clipped() -> None:
    train = frame([(1, 10, 5.0), (2, 10, 4.0), (2, 20, 5.0)])
    model = baselines.fit_bias(train, item_reg=0.0, user_reg=0.0)
    # mu = 14/3, b_20 = 1/3, b_u1 = 5 - mu - b_10 with b_10 = -1/6: 14/3 + 1/2 + 1/3 = 5.5
    assert baselines.predict_bias(model, frame([(1, 20, 0)])).tolist() == [5.0]
    assert baselines.clip_ratings(np.array([0.1, 3.0, 7.0])).tolist() == [0.5, 3.0, 5.0]


def test_evaluate_baselines_keys_and_inputs_untouched() -> None:
    test = frame([(1, 20, 2.0), (2, 10, 4.0)])
    before = TRAIN.copy(), test.copy()
    out = baselines.evaluate_baselines(TRAIN, test)
    assert set(out) == {"global_mean_rmse", "global_mean_mae", "bias_rmse", "bias_mae"}
    assert out["global_mean_mae"] == pytest.approx((2 + 0) / 2, abs=1e-12)
    pd.testing.assert_frame_equal(TRAIN, before[0])
    pd.testing.assert_frame_equal(test, before[1])
