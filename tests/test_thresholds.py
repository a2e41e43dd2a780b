import json

import numpy as np
import pytest
from scipy import stats

from nadkit.errors import DataError, NotFittedError
from nadkit.thresholds import (
    POT,
    BestF1,
    Fixed,
    Quantile,
    TargetFPR,
    make_threshold,
    threshold_from_dict,
)


@pytest.fixture
def normal_scores():
    return np.random.default_rng(0).exponential(size=20_000)


def test_quantile_ignores_labelled_anomalies(normal_scores):
    s = np.r_[normal_scores, np.full(500, 100.0)]
    y = np.r_[np.zeros(len(normal_scores)), np.ones(500)]
    assert Quantile(0.9).fit(s, y).value_ == pytest.approx(np.quantile(normal_scores, 0.9), rel=1e-3)


@pytest.mark.parametrize("fpr", [0.001, 0.01, 0.05])
def test_target_fpr_is_met_on_calibration_data(normal_scores, fpr):
    t = TargetFPR(fpr).fit(normal_scores)
    realised = t.predict(normal_scores).mean()
    assert realised <= fpr
    assert realised >= fpr - 2 / len(normal_scores)


def test_best_f1_matches_brute_force():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.1).astype(int)
    s = rng.normal(size=2000) + 1.5 * y
    t = BestF1().fit(s, y)

    def f1(th):
        p = s > th
        tp = (p & (y == 1)).sum()
        return 2 * tp / (p.sum() + y.sum())

    brute = max(f1(th) for th in np.r_[s, s.min() - 1])
    assert f1(t.value_) == pytest.approx(brute)
    assert t.score_ == pytest.approx(brute)


def test_best_f1_needs_labels():
    with pytest.raises(DataError, match="needs labels"):
        BestF1().fit(np.arange(10.0))


def test_pot_recovers_tail_quantile():
    s = np.random.default_rng(2).exponential(size=200_000)
    t = POT(risk=1e-4, level=0.98).fit(s)
    true = stats.expon.ppf(1 - 1e-4)
    assert t.value_ == pytest.approx(true, rel=0.1)
    assert abs(t.gamma_) < 0.1  # exponential tail: GPD shape ≈ 0


def test_roundtrip_and_describe(normal_scores):
    for t in (Quantile(0.95), TargetFPR(0.01), POT(), Fixed(2.0)):
        t.fit(normal_scores, data_hash="abc")
        again = threshold_from_dict(json.loads(json.dumps(t.to_dict())))
        assert type(again) is type(t) and again.value_ == t.value_ and again.data_hash_ == "abc"
        np.testing.assert_array_equal(again.predict(normal_scores), t.predict(normal_scores))
        assert t.method in t.describe()


def test_bad_inputs():
    with pytest.raises(DataError, match="NaN/inf"):
        Quantile().fit(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="in \\(0, 1\\)"):
        Quantile(1.5)
    with pytest.raises(DataError, match="unknown threshold method"):
        make_threshold("magic")
    with pytest.raises(NotFittedError):
        Quantile().predict([1.0])
    with pytest.raises(DataError, match="shape"):
        Quantile().fit(np.arange(5.0), y=np.zeros(3))
