"""The rolling target-FPR threshold (the series models' default): each step's threshold is
TargetFPR's order statistic of the last ``window`` scores before it, so it follows a moving
normal level; saved and loaded with its reference window, refused when that is malformed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nadkit.errors import DataError
from nadkit.models.base import default_threshold
from nadkit.thresholds import (
    CalibrationWarning,
    RollingFPR,
    TargetFPR,
    make_threshold,
    threshold_from_dict,
)
from nadkit.thresholds.rolling import rolling_thresholds


@pytest.mark.parametrize("window", [1, 40, 250])
def test_each_step_gets_target_fpr_of_its_window(window):
    rng = np.random.default_rng(window)
    reference, scores = rng.exponential(size=120), rng.exponential(size=400)
    scores[[3, 50, 51, 399]] = np.nan            # unscored steps never enter the window
    got = rolling_thresholds(reference, scores, window, 0.01)
    seen = list(reference)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        for t, s in enumerate(scores):
            want = TargetFPR(0.01).fit(np.array(seen[-window:])).value_
            assert got[t] == want, t
            if np.isfinite(s):
                seen.append(s)


def test_a_level_shift_is_followed_and_a_spike_is_flagged():
    rng = np.random.default_rng(0)
    cal = rng.normal(size=3000)
    rolling, fixed = RollingFPR(0.01, window=1000).fit(cal), TargetFPR(0.01).fit(cal)
    stream = np.concatenate([rng.normal(size=3000), rng.normal(size=3000) + 6.0])
    stream[1500:1505] += 8.0                       # a short spike before the shift
    flags = rolling.predict(stream)
    assert flags[1500:1505].all()
    assert 0.003 < flags[:1500].mean() < 0.03     # the target on a stationary stretch
    assert flags[3000:3008].all()                 # the shift is flagged at first ...
    assert 0.003 < flags[3100:].mean() < 0.03     # ... then followed
    assert fixed.predict(stream[3100:]).mean() > 0.9   # a fixed threshold flags it for ever


def test_series_models_default_to_it():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        thr = default_threshold(np.random.default_rng(0).normal(size=500), serial=True)
    assert isinstance(thr, RollingFPR) and thr.window == 250 and thr.reference_.size == 250
    assert type(default_threshold(np.random.default_rng(0).normal(size=500))) is TargetFPR
    assert "last 250 scores" in thr.describe() and thr.promise().target == 0.01


def test_saved_and_loaded_with_its_reference():
    rng = np.random.default_rng(1)
    thr = RollingFPR(0.02, window=300).fit(rng.normal(size=1000))
    back = threshold_from_dict(thr.to_dict())
    assert isinstance(back, RollingFPR) and back.window == 300
    np.testing.assert_array_equal(back.reference_, thr.reference_)
    s = rng.normal(size=2000) + np.linspace(0, 3, 2000)
    np.testing.assert_array_equal(back.predict(s), thr.predict(s))
    # a stream in chunks, carrying its window, flags what one call on the whole stream flags
    recent, chunks = None, []
    for part in np.array_split(s, 7):
        chunks.append(back.predict(part, history=recent if recent is not None else back.reference_))
        recent = back.recent(recent, part)
    np.testing.assert_array_equal(np.concatenate(chunks), thr.predict(s))


@pytest.mark.parametrize("change, message", [
    ({"reference": []}, "reference"),
    ({"reference": [0.5] * 301}, "reference"),
    ({"reference": [0.5, float("nan")]}, "reference"),
    ({"params": {"fpr": 0.02, "window": 0}}, "window"),
    ({"params": {"fpr": 0.02}}, "window"),
])
def test_a_malformed_saved_threshold_is_refused(change, message):
    d = {**RollingFPR(0.02, window=300).fit(np.random.default_rng(2).normal(size=1000)).to_dict(), **change}
    with pytest.raises(DataError, match=message):
        threshold_from_dict(d)


def test_bad_parameters_are_clear_errors():
    with pytest.raises(DataError, match="window"):
        RollingFPR(window=0)
    with pytest.raises(DataError, match="takes no window"):
        make_threshold("fpr", fpr=0.01, window=100)
    thr = RollingFPR(window=50).fit(np.arange(200.0))
    with pytest.raises(DataError, match="one score per step"):
        thr.predict(np.zeros((10, 2)))


def test_a_table_model_refuses_the_rolling_threshold():
    """Table rows are scored in batches (detect streams big files), so a window over them would
    restart per batch: calibrate says to use --method fpr instead."""
    import pandas as pd

    from nadkit.models import make_detector
    from nadkit.pipeline import Pipeline

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(400, 3)), columns=list("abc"))
    pipe = Pipeline(make_detector("pca")).fit(X)
    with pytest.raises(DataError, match="--method rolling is for series models"):
        pipe.calibrate(X, method="rolling", fpr=0.01)
