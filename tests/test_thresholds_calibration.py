"""TargetFPR's promise: the FPR interval from order statistics covers the FPR achieved on fresh
normals ~95 % of the time, the small-set warning, the saved state, and the default threshold
that ``fit`` sets (held-out, cross-fitted or training scores)."""

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from nadkit.errors import NotFittedError
from nadkit.models import make_detector
from nadkit.thresholds import (
    CalibrationWarning,
    Quantile,
    TargetFPR,
    fpr_interval,
    min_calibration_rows,
    threshold_from_dict,
)

SEEDS = 400


@pytest.mark.parametrize("dist", [stats.uniform, stats.norm, stats.expon])
def test_interval_covers_the_fresh_fpr_95_percent_of_the_time(dist):
    n, target = 3000, 0.01
    rng = np.random.default_rng(0)
    calibration = dist.rvs(size=(SEEDS, n), random_state=rng)
    t = TargetFPR(target).fit(calibration[0])
    lo, hi = t.fpr_interval_
    k = t.n_above_
    assert k == int(np.floor(target * (n + 1))) - 1 and t.expected_fpr_ <= target
    values = np.sort(calibration, axis=1)[:, n - 1 - k]  # the threshold each seed gets
    assert values[0] == t.value_
    true_fpr = dist.sf(values)  # the FPR on infinitely many fresh normals
    covered = ((lo <= true_fpr) & (true_fpr <= hi)).mean()
    assert 0.92 <= covered <= 0.98, covered
    assert abs(true_fpr.mean() - t.expected_fpr_) < 0.0005  # (k+1)/(n+1) ≤ target on average
    # a finite fresh set: the share flagged among m fresh normals, against interval(n_fresh=m)
    m = 5000
    fresh = dist.rvs(size=(SEEDS, m), random_state=rng)
    achieved = (fresh > values[:, None]).mean(axis=1)
    lo_m, hi_m = t.interval(n_fresh=m)
    assert lo_m < lo and hi < hi_m  # wider: it adds the sampling noise of m rows
    covered = ((lo_m <= achieved) & (achieved <= hi_m)).mean()
    assert 0.92 <= covered <= 0.99, covered


def test_interval_formula_is_the_beta_of_the_order_statistic():
    lo, hi = fpr_interval(1000, 9, level=0.9)
    assert (lo, hi) == pytest.approx(stats.beta.ppf([0.05, 0.95], 10, 991))
    # Quantile is an order statistic too: same value as numpy's "higher" quantile, and its interval
    s = np.random.default_rng(3).normal(size=2500)
    q = Quantile(0.99).fit(s)
    assert q.value_ == np.quantile(s, 0.99, method="higher")
    assert q.n_above_ == (s > q.value_).sum()
    assert q.fpr_interval_ == pytest.approx(fpr_interval(2500, q.n_above_))


def test_small_calibration_set_warns():
    rng = np.random.default_rng(1)
    with pytest.warns(CalibrationWarning, match=r"only 300 normal calibration scores .*want 1,000"):
        t = TargetFPR(0.01).fit(rng.normal(size=300))
    assert t.fpr_interval_[1] > 0.02  # 300 scores cannot pin 1 %
    with pytest.warns(CalibrationWarning, match="want 10,000"):  # 10/fpr for a small target
        TargetFPR(0.001).fit(rng.normal(size=5000))
    few = rng.normal(size=50)
    with pytest.warns(CalibrationWarning, match="cannot hold a target FPR of 0.01"):
        t = TargetFPR(0.01).fit(few)
    assert t.value_ == few.max() and t.n_above_ == 0
    assert min_calibration_rows(0.01) == 1000 and min_calibration_rows(1e-4) == 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        TargetFPR(0.01).fit(rng.normal(size=1000))  # enough: no warning


def test_round_trip_keeps_the_interval():
    s = np.random.default_rng(2).exponential(size=4000)
    for t in (TargetFPR(0.01), Quantile(0.995)):
        t.fit(s, data_hash="h")
        d = json.loads(json.dumps(t.to_dict()))
        assert d["fpr_interval_level"] == 0.95 and len(d["fpr_interval"]) == 2
        again = threshold_from_dict(d)
        assert again.fpr_interval_ == t.fpr_interval_ and again.n_above_ == t.n_above_
        assert again.describe() == t.describe() and "95 % interval" in t.describe()
        assert again.interval(n_fresh=100) == t.interval(n_fresh=100)
    # a threshold saved before the interval existed still loads, without an interval
    old = {"method": "fpr", "params": {"fpr": 0.01}, "value": 1.5, "n_calibration": 10, "n_normal": 10}
    legacy = threshold_from_dict(old)
    assert legacy.value_ == 1.5 and "interval" not in legacy.describe()
    with pytest.raises(NotFittedError, match="without its FPR interval"):
        legacy.interval()


def test_default_threshold_of_fit():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(1200, 8)).astype(np.float32)
    # IForest on few rows (each row in most trees): cross-fitted scores; the fitted model itself
    # is the one fitted on all rows, its scores unchanged by the cross-fit
    with pytest.warns(CalibrationWarning, match="only 200 normal calibration scores"):
        make_detector("iforest", n_estimators=50, random_state=0).fit(X[:200])
    det = make_detector("iforest", n_estimators=50, random_state=0).fit(X)
    assert "cross-fit" in det.calibration_source_ and isinstance(det.threshold_, TargetFPR)
    assert det.threshold_.fpr == 0.01 and det.threshold_.n_calibration_ == len(X)
    plain = make_detector("iforest", n_estimators=50, random_state=0)
    plain.n_features_in_ = X.shape[1]
    plain._fit(X)
    np.testing.assert_array_equal(det.score(X), plain.score(X))
    # PCA with ≥ 20 rows per feature: its training residuals are practically fresh
    pca = make_detector("pca").fit(X)
    assert pca.calibration_source_ == "training rows" and pca.threshold_.method == "fpr"
    small = make_detector("pca").fit(X[:100])  # 100 rows, 8 features: cross-fitted
    assert "cross-fit" in small.calibration_source_


def test_effective_count_counts_independent_values_once_and_repeated_ones_once_per_block():
    from nadkit.thresholds.base import effective_count

    rng = np.random.default_rng(1)
    assert effective_count(rng.normal(size=4000)) == pytest.approx(4000, rel=0.1)
    assert 250 < effective_count(np.repeat(rng.normal(size=400), 10)) < 550    # 400 blocks of 10
    assert effective_count(np.ones(50)) == 50 and effective_count(np.arange(2.0)) == 2


def test_a_serial_interval_covers_autocorrelated_scores_far_better_than_an_independent_one():
    """Scores of a series share their neighbours' values (here a moving max over 32 steps of
    i.i.d. Exp(1), whose marginal FPR at v is exactly 1 − (1 − e^−v)^32): counted as
    independent, the 95 % interval is too narrow; counted by their effective number it widens
    and covers the true FPR most of the time. The threshold itself is the same."""
    rng = np.random.default_rng(0)
    reps, n, k = 200, 3000, 32
    e = rng.exponential(size=(reps, n + k - 1))
    scores = np.lib.stride_tricks.sliding_window_view(e, k, axis=1).max(axis=2)
    covered = {False: 0, True: 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        for s in scores:
            for serial in (False, True):
                t = TargetFPR(0.01)
                t.serial = serial
                t.fit(s)
                true_fpr = 1 - (1 - np.exp(-t.value_)) ** k
                lo, hi = t.fpr_interval_
                covered[serial] += lo <= true_fpr <= hi
                if serial:
                    assert t.n_effective_ < n / 10 and t.value_ == np.sort(s)[n - 1 - t.n_above_]
    assert covered[False] / reps < 0.4 and covered[True] / reps > 0.7, covered


def test_a_serial_threshold_warns_by_its_effective_count_and_keeps_it_when_saved():
    x = np.repeat(np.random.default_rng(2).exponential(size=300), 20)     # 6,000 scores, ~300 independent
    t = TargetFPR(0.01)
    t.serial = True
    with pytest.warns(CalibrationWarning, match=r"6,000 calibration scores of a series.*about 20 steps.*"
                                                r"about \d+ independent ones"):
        t.fit(x)
    again = threshold_from_dict(json.loads(json.dumps(t.to_dict())))
    assert again.n_effective_ == t.n_effective_ and again.interval() == t.interval()
    assert "independent ones" in again.describe()
    # a finite set of fresh steps counts by the same fraction: 6,000 steps ≈ n_effective values
    lo, hi = t.interval(n_fresh=6000)
    assert (lo, hi) == fpr_interval(t.n_effective_, t.n_above_ * t.n_effective_ / 6000,
                                    n_fresh=round(t.n_effective_))
    assert lo <= t.fpr_interval_[0] and t.fpr_interval_[1] <= hi
    plain = TargetFPR(0.01).fit(np.random.default_rng(3).normal(size=5000))
    assert "n_effective" not in plain.to_dict() and plain.n_effective_ == 5000
    bad = t.to_dict()
    bad["n_effective"] = 10 ** 6
    with pytest.raises(Exception, match="n_effective"):
        threshold_from_dict(bad)
