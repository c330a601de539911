"""Target transforms: levels from the past only, encode and decode are inverses."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from hourcast.forecasting.target_transforms import (
    TARGET_TRANSFORMS,
    decode,
    encode_features,
    encode_target,
    origin_levels,
)


def test_origin_level_is_the_mean_of_the_week_before() -> None:
    values = np.r_[np.full(168, 10.0), np.full(10, 1000.0)]
    assert origin_levels(values, np.array([168]))[0] == pytest.approx(10.0)
    assert origin_levels(values, np.array([170]))[0] == pytest.approx((166 * 10 + 2000) / 168)


def test_origin_level_falls_back_to_older_values_then_to_one() -> None:
    values = np.r_[np.full(50, 20.0), np.full(400, np.nan)]
    assert origin_levels(values, np.array([440]))[0] == pytest.approx(20.0)
    assert origin_levels(np.full(10, np.nan), np.array([5]))[0] == 1.0


@pytest.mark.parametrize("transform", TARGET_TRANSFORMS)
def test_decode_inverts_encode_target(transform: str) -> None:
    target = np.array([0.0, 5.0, 250.0, 3000.0])
    scales = np.array([10.0, 10.0, 200.0, 2500.0])
    encoded = encode_target(target, scales, transform)  # type: ignore[arg-type]
    assert_allclose(decode(encoded, scales, transform, nonnegative=False), target)  # type: ignore[arg-type]


def test_features_are_scaled_only_in_value_columns() -> None:
    matrix = np.array([[100.0, 3.0], [50.0, 4.0]])
    out = encode_features(matrix.copy(), np.array([True, False]), np.array([10.0, 5.0]), "scale")
    assert_allclose(out, [[10.0, 3.0], [10.0, 4.0]])
    assert_allclose(decode(np.array([-2.0]), np.array([1.0]), "none", nonnegative=True), [0.0])
