"""Saved thresholds: threshold.json as the code before the thresholds/ package wrote it loads
and predicts by its documented rule; every method saves its own state and round-trips; the
capabilities callers ask (per_channel, promise, label, bands) per kind."""

import json

import numpy as np
import pytest

from nadkit.artifact_schema import THRESHOLD_PARAMS, ThresholdFile
from nadkit.errors import DataError
from nadkit.thresholds import (
    METHODS,
    ChannelAlpha,
    Threshold,
    fpr_interval,
    make_threshold,
    threshold_from_dict,
)

TAIL = {"n": 3000, "scores": [3.9, 4.6, 5.8, 8.1], "p": [0.02, 0.01, 0.003, 0.000333],
        "excess_scale": 1.02}

#: threshold.json files in the format the single-module thresholds.py wrote (key order included)
SAVED = {
    "fpr": {"method": "fpr", "params": {"fpr": 0.01}, "value": 4.605, "n_calibration": 3000,
            "n_normal": 3000, "data_hash": "abc", "n_above": 29, "expected_fpr": 30 / 3001,
            "fpr_interval": [0.0067, 0.0139], "fpr_interval_level": 0.95, "normal_tail": TAIL},
    "quantile": {"method": "quantile", "params": {"q": 0.97}, "value": 3.5, "n_calibration": 2000,
                 "n_normal": 1900, "data_hash": None, "n_above": 56, "expected_fpr": 57 / 1901,
                 "fpr_interval": [0.0228, 0.0383], "fpr_interval_level": 0.95},
    "best-f1": {"method": "best-f1", "params": {"beta": 1.0}, "value": 2.25, "n_calibration": 3000,
                "n_normal": 2850, "data_hash": "abc", "validation_fbeta": 0.875, "normal_tail": TAIL},
    "best-accuracy": {"method": "best-accuracy", "params": {}, "value": 2.0, "n_calibration": 3000,
                      "n_normal": 2850, "data_hash": None, "validation_accuracy": 0.97},
    "pot": {"method": "pot", "params": {"risk": 0.001, "level": 0.98}, "value": 6.9,
            "n_calibration": 3000, "n_normal": 3000, "data_hash": None, "gpd_shape": -0.05,
            "gpd_scale": 0.98, "initial_threshold": 3.9},
    "fixed": {"method": "fixed", "params": {"value": 2.5}, "value": 2.5, "n_calibration": 3000,
              "n_normal": 3000, "data_hash": None},
    "alpha": {"method": "alpha", "params": {"grid": None, "metric": "point", "target_fpr": 0.01,
                                            "legacy_grid": False, "sigma_floor": 0.05},
              "value": None, "n_calibration": 2950, "n_normal": 2950, "data_hash": "h",
              "alpha_up": [3.1, 2.8, 3.3], "alpha_down": [3.0, -0.5, 3.2],
              "best_f1": [None, None, None], "fpr": [0.004, 0.003, 0.0],
              "sigma_min": [0.05, 0.04, 0.0], "flat_value": [None, None, 1.0], "step_fpr": 0.0095,
              "n_above": 28, "expected_fpr": 0.0098, "fpr_interval": [0.0065, 0.0136],
              "fpr_interval_level": 0.95, "held_out_fpr": 0.011, "normal_tail": TAIL},
}
#: an α threshold saved before the σ floor and flat values existed (and labelled: best F1 per channel)
SAVED_ALPHA_OLD = {"method": "alpha", "params": {"grid": [2.0, 3.0, 4.0], "metric": "range",
                                                 "target_fpr": None, "legacy_grid": False},
                   "value": None, "n_calibration": 900, "n_normal": 850, "data_hash": None,
                   "alpha_up": [4.0, 2.0], "alpha_down": [4.0, 3.0], "best_f1": [None, 0.8],
                   "fpr": [0.0, 0.01]}


@pytest.fixture(scope="module")
def scores():
    s = np.random.default_rng(0).exponential(size=5000) * 1.5
    return np.r_[s, 2.5, 2.25, 4.605]  # values on the thresholds: not flagged (score > value)


def _band_rule(d, x, mu, sigma):
    """The documented α rule, written out: x outside [μ − α_down·σ′, μ + α_up·σ′], σ′ = max(σ,
    sigma_min), a flat channel's value kept inside its band."""
    up, down = np.array(d["alpha_up"]), np.array(d["alpha_down"])
    floor = np.array(d.get("sigma_min") or [0.0] * len(up))
    flat = np.array([np.nan if v is None else v for v in d.get("flat_value") or [None] * len(up)])
    s = np.maximum(sigma, floor)
    lower, upper = mu - down * s, mu + up * s
    lower = np.where(np.isnan(flat), lower, np.minimum(lower, flat))
    upper = np.where(np.isnan(flat), upper, np.maximum(upper, flat))
    return ((x < lower) | (x > upper)).astype(np.int8), lower, upper


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(1)
    n = 4000
    mu = rng.normal(size=(n, 3))
    sigma = rng.uniform(0.01, 1.0, size=(n, 3))
    x = mu + 3 * sigma * rng.normal(size=(n, 3))
    x[::7, 2] = 1.0  # the flat channel at its calibration value
    return x, mu, sigma


@pytest.mark.parametrize("method", [m for m in SAVED if m != "alpha"])
def test_saved_scalar_threshold_loads_and_predicts_its_rule(method, scores):
    d = SAVED[method]
    t = threshold_from_dict(json.loads(json.dumps(d)))
    assert type(t) is METHODS[method] and not t.per_channel
    np.testing.assert_array_equal(t.predict(scores), (scores > d["value"]).astype(np.int8))
    if not t.follows_stream:   # a fixed threshold: the same value at every step
        np.testing.assert_array_equal(t.step_thresholds(scores), np.full(len(scores), d["value"]))
    assert json.dumps(t.to_dict()) == json.dumps(d)  # written back field for field, in order


def test_saved_alpha_threshold_loads_and_predicts_its_rule(series):
    x, mu, sigma = series
    t = threshold_from_dict(json.loads(json.dumps(SAVED["alpha"])))
    assert isinstance(t, ChannelAlpha) and t.per_channel
    flags, lower, upper = _band_rule(SAVED["alpha"], x, mu, sigma)
    assert 0 < flags.mean() < 0.5 and not flags[::7, 2].any()
    np.testing.assert_array_equal(t.predict_channels(x, mu, sigma), flags)
    lo, hi = t.bands(mu, sigma)
    np.testing.assert_array_equal(lo, lower)
    np.testing.assert_array_equal(hi, upper)
    with pytest.raises(DataError, match="no threshold per step"):
        t.step_thresholds(np.zeros(len(x)))
    assert json.dumps(t.to_dict()) == json.dumps(SAVED["alpha"])


def test_alpha_saved_before_the_sigma_floor_has_none(series):
    x, mu, sigma = series
    t = threshold_from_dict(SAVED_ALPHA_OLD)
    assert t.sigma_floor == 0.0 and t.n_channels_ == 2
    np.testing.assert_array_equal(t.predict_channels(x[:, :2], mu[:, :2], sigma[:, :2]),
                                  _band_rule(SAVED_ALPHA_OLD, x[:, :2], mu[:, :2], sigma[:, :2])[0])


def test_promise_of_a_saved_order_statistic():
    t = threshold_from_dict(SAVED["fpr"])
    p = t.promise(n_fresh=2000)
    assert p.target == 0.01 and p.expected_fpr == 30 / 3001
    assert p.interval == fpr_interval(3000, 29, n_fresh=2000)
    old = {k: v for k, v in SAVED["quantile"].items()
           if k not in ("n_above", "expected_fpr", "fpr_interval", "fpr_interval_level")}
    p = threshold_from_dict(old).promise(n_fresh=2000)  # saved before the interval existed
    assert p.target == pytest.approx(0.03) and p.interval is None and p.expected_fpr is None
    for method in ("best-f1", "pot", "fixed"):
        assert threshold_from_dict(SAVED[method]).promise(n_fresh=2000) is None
    # α bands at a step target FPR promise the step FPR (bands fitted on labels promise none)
    a = threshold_from_dict(SAVED["alpha"])
    p = a.promise(n_fresh=2000)
    m = round(a.expected_fpr_ * (a.n_normal_ + 1))
    assert p.target == 0.01 and p.expected_fpr == a.expected_fpr_
    assert p.interval == fpr_interval(a.n_normal_, m - 1, n_fresh=2000)


FITS = [("quantile", {"q": 0.95}), ("fpr", {"fpr": 0.02}), ("best-f1", {"beta": 2.0}),
        ("best-accuracy", {}), ("pot", {}), ("fixed", {"value": 1.5})]


@pytest.mark.parametrize(("method", "params"), FITS)
def test_every_scalar_method_round_trips_its_own_state(method, params, scores):
    y = (np.arange(len(scores)) % 20 == 0).astype(int)
    s = scores + 3 * y
    t = make_threshold(method, **params).fit(s, y if METHODS[method].needs_labels else None, data_hash="d")
    d = json.loads(json.dumps(t.to_dict()))
    back = threshold_from_dict(d)
    assert back.to_dict() == d and back.describe() == t.describe() and back.label() == t.label()
    np.testing.assert_array_equal(back.predict(s), t.predict(s))
    up, down = back.band_alphas(4)
    assert (up == t.value_).all() and (down == t.value_).all()


def test_scalar_fit_refuses_per_channel_scores_and_alpha_refuses_scores():
    with pytest.raises(DataError, match=r"one score per row, shape \(n,\); got shape \(100, 3\)"):
        make_threshold("fpr").fit(np.ones((100, 3)))
    with pytest.raises(DataError, match="fit_channels"):
        ChannelAlpha().fit(np.ones(100))
    with pytest.raises(DataError, match="not channels"):
        make_threshold("fixed", value=1.0).fit(np.ones(10)).predict_channels(1, 2, 3)


def test_labels_are_short_and_human():
    assert make_threshold("fpr", fpr=0.01).label() == "target FPR 1 %"
    assert make_threshold("quantile", q=0.99).label() == "quantile 0.99"
    assert make_threshold("best-f1").label() == "best F1 on labels"
    assert make_threshold("alpha", target_fpr=0.005).label() == "α bands (step FPR 0.5 %)"
    assert make_threshold("alpha", metric="range").label() == "α bands (range F1)"
    assert all(len(cls(**({"value": 1.0} if m == "fixed" else {})).label()) <= 40
               for m, cls in METHODS.items())


def test_every_registered_method_has_a_saved_file_schema():
    """A new method is its module plus a METHODS line, and its params in artifact_schema."""
    methods = set(ThresholdFile.model_fields["method"].annotation.__args__)
    assert set(METHODS) == set(THRESHOLD_PARAMS) == methods
    assert all(issubclass(cls, Threshold) and cls.method == name for name, cls in METHODS.items())
