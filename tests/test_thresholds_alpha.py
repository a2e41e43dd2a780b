"""ChannelAlpha: DC-VAE's per-channel asymmetric μ ± α·σ thresholds."""

import json

import numpy as np
import pytest

from nadkit.errors import DataError, NotFittedError
from nadkit.metrics import range_precision_recall, threshold_metrics
from nadkit.thresholds import (
    CalibrationWarning,
    ChannelAlpha,
    fpr_interval,
    make_threshold,
    threshold_from_dict,
)


def _series(seed=0, n=6000, c=6):
    """Smooth μ, varying σ, Gaussian noise; spikes up in channel 1 and dips down in channel 4,
    each in short events labelled in that channel only."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    mu = np.sin(t / 50.0 + np.arange(c)) * 3
    sigma = 0.5 + 0.3 * (1 + np.cos(t / 80.0 + np.arange(c)))
    x = mu + sigma * rng.normal(size=(n, c))
    labels = np.zeros((n, c), int)
    for ch, sign, size in ((1, 1, 5.5), (4, -1, 4.5)):
        for s in rng.choice(np.arange(200, n - 20, 40), 25, replace=False):
            length = int(rng.integers(1, 6))
            x[s:s + length, ch] = mu[s:s + length, ch] + sign * size * sigma[s:s + length, ch]
            labels[s:s + length, ch] = 1
    mu[:127] = np.nan  # a DC-VAE-like warm-up
    sigma[:127] = np.nan
    return x, mu, sigma, labels


@pytest.fixture(scope="module")
def series():
    return _series()


@pytest.mark.parametrize("metric", ["point", "range"])
def test_recovers_injected_channels(series, metric):
    x, mu, sigma, labels = series
    half = len(x) // 2  # calibrate on the first half (validation), check on the second
    t = ChannelAlpha(metric=metric).fit_channels(x[:half], mu[:half], sigma[:half], labels[:half])
    assert t.n_calibration_ == half - 127
    assert 3.5 <= t.alpha_up_[1] < 5.5  # above the noise, below the spikes
    assert 3.5 <= t.alpha_down_[4] < 4.5
    unlabelled = [0, 2, 3, 5]
    assert np.isnan(t.best_f1_[unlabelled]).all() and (t.alpha_up_[unlabelled] == 8.0).all()
    assert t.best_f1_[1] > 0.95 and t.best_f1_[4] > 0.95
    flags = t.predict_channels(x[half:], mu[half:], sigma[half:])
    for ch in (1, 4):
        m = threshold_metrics(labels[half:, ch], flags[:, ch])
        assert m["recall"] > 0.95 and m["fpr"] < 0.002
    assert flags[:, unlabelled].mean() < 1e-3


@pytest.mark.parametrize("metric", ["point", "range"])
def test_search_finds_the_best_pair_on_the_grid(metric):
    """The vectorised search equals a brute-force scan of the grid with the metric functions."""
    x, mu, sigma, labels = _series(seed=1, n=1500)
    labels[:, 0] = labels[:, 1]  # channel 0: labels that do not match its (normal) values
    x[:, 4] += 0.5 * sigma[:, 4] * np.random.default_rng(2).standard_t(3, size=len(x))  # overlap
    grid = [1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0]
    t = ChannelAlpha(grid=grid, metric=metric).fit_channels(x, mu, sigma, labels)
    ok = ~np.isnan(mu[:, 0])
    z = (x[ok] - mu[ok]) / sigma[ok]
    for ch in (0, 1, 4):
        best = []
        for a in grid:
            for b in grid:
                flags = (z[:, ch] > a) | (-z[:, ch] > b)
                if metric == "point":
                    best.append(threshold_metrics(labels[ok, ch], flags)["f1"])
                else:
                    p, r = range_precision_recall(labels[ok, ch], flags, 0.0, "reciprocal", "front")
                    best.append(2 * p * r / (p + r) if p + r else 0.0)
        assert t.best_f1_[ch] == pytest.approx(max(best))
        chosen = (z[:, ch] > t.alpha_up_[ch]) | (-z[:, ch] > t.alpha_down_[ch])
        if metric == "point":
            assert threshold_metrics(labels[ok, ch], chosen)["f1"] == pytest.approx(max(best))


@pytest.mark.parametrize("metric", ["point", "range"])
def test_fine_grid_beats_or_ties_the_legacy_grid(series, metric):
    x, mu, sigma, labels = series
    fine = ChannelAlpha(metric=metric).fit_channels(x, mu, sigma, labels)
    legacy = ChannelAlpha(metric=metric, legacy_grid=True).fit_channels(x, mu, sigma, labels)
    assert set(np.unique(legacy.alpha_up_)) <= {2.0, 3.0, 4.0, 5.0, 6.0, 7.0}
    ok = ~np.isnan(fine.best_f1_)
    assert (fine.best_f1_[ok] >= legacy.best_f1_[ok] - 1e-12).all()
    assert fine.best_f1_[4] > legacy.best_f1_[4]  # the dips at 4.5σ sit between integer α


def test_tie_rules():
    """Every pair gives the same F1 here: upstream's scan keeps the smallest α, ours the middle."""
    n = 400
    x = np.zeros((n, 1))
    x[100:105] = 20.0
    labels = (x > 0).astype(int)
    mu, sigma = np.zeros_like(x), np.ones_like(x)
    legacy = ChannelAlpha(legacy_grid=True).fit_channels(x, mu, sigma, labels)
    assert (legacy.alpha_up_[0], legacy.alpha_down_[0], legacy.best_f1_[0]) == (2.0, 2.0, 1.0)
    ours = ChannelAlpha(grid=[1, 2, 3, 4, 5]).fit_channels(x, mu, sigma, labels)
    assert (ours.alpha_up_[0], ours.alpha_down_[0], ours.best_f1_[0]) == (3.0, 3.0, 1.0)
    # spikes at 20σ, noise-free elsewhere: the middle of the default grid 0.5 … 8
    assert ChannelAlpha().fit_channels(x, mu, sigma, labels).alpha_up_[0] == pytest.approx(4.2)
    # range mode, legacy: upstream's F1 = 2PR / (P + R + 1e-6)
    legacy_r = ChannelAlpha(metric="range", legacy_grid=True).fit_channels(x, mu, sigma, labels)
    assert legacy_r.best_f1_[0] == pytest.approx(2 / (2 + 1e-6))


def test_labels_for_all_channels_broadcast(series):
    x, mu, sigma, labels = series
    step = labels.any(axis=1).astype(int)
    t = ChannelAlpha().fit_channels(x, mu, sigma, step)
    same = ChannelAlpha().fit_channels(x, mu, sigma, np.repeat(step[:, None], x.shape[1], axis=1))
    np.testing.assert_array_equal(t.alpha_up_, same.alpha_up_)
    assert not np.isnan(t.best_f1_).any()


def _normal(seed, n, c):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n, c))
    sigma = rng.uniform(0.5, 2.0, size=(n, c))
    return mu + sigma * rng.standard_t(5, size=(n, c)), mu, sigma  # heavier tails than the Gaussian


@pytest.mark.parametrize("fpr", [0.002, 0.01, 0.05])
def test_target_fpr_holds_for_the_step_flag(fpr):
    """The target is the share of normal *steps* flagged in any channel, on the calibration
    normals (at most the target) and on fresh normals (inside the reported interval)."""
    n, c = 20_000, 3
    x, mu, sigma = _normal(5, n, c)
    t = ChannelAlpha(target_fpr=fpr).fit_channels(x, mu, sigma)
    step = t.predict_channels(x, mu, sigma).any(axis=1)
    assert step.mean() <= fpr and t.n_above_ == step.sum() and t.step_fpr_ == pytest.approx(step.mean())
    m = round(t.expected_fpr_ * (n + 1))          # the promise for fresh normals: m/(n + 1) ≤ target
    assert fpr - (2 * c + 1) / n <= t.expected_fpr_ <= fpr and m >= t.n_above_
    lo, hi = t.fpr_interval_
    assert lo < fpr < hi
    z = (x - mu) / sigma                          # every channel and side at one common level
    beyond = np.r_[(z > t.alpha_up_).sum(axis=0), (z < -t.alpha_down_).sum(axis=0)]
    assert beyond.max() - beyond.min() <= 1
    fresh = _normal(6, n, c)
    rate = t.predict_channels(*fresh).any(axis=1).mean()
    lo, hi = fpr_interval(n, m - 1, n_fresh=n)
    assert lo <= rate <= hi
    assert abs(rate - fpr) < 4 * np.sqrt(fpr / n) + 2 / n
    assert abs(t.held_out_fpr_ - fpr) < 4 * np.sqrt(fpr / n) + 4 / n
    assert np.isnan(t.best_f1_).all() and "step target FPR" in t.describe()
    assert "held-out" in t.describe()


def test_target_fpr_does_not_compound_over_channels():
    """19 channels at 1 %: about 1 % of fresh normal steps flagged, not 1 − 0.99¹⁹ ≈ 17 %."""
    n, c = 8000, 19
    t = ChannelAlpha(target_fpr=0.01).fit_channels(*_normal(7, n, c))
    rate = t.predict_channels(*_normal(8, n, c)).any(axis=1).mean()
    assert 0.005 < rate < 0.016
    assert t.fpr_.max() < 0.002                  # each channel's own share is far below the target


def test_flat_channel_is_never_flagged_at_its_value():
    """A channel flat at 0.5 with a decoder σ collapsed to ~0: μ's wobble used to flag it."""
    rng = np.random.default_rng(9)
    n = 6000
    x, mu, sigma = _normal(9, n, 3)
    x[:, 2] = 0.5
    mu[:, 2] = 0.5 + 1e-3 * rng.normal(size=n)
    sigma[:, 2] = 2.5e-3
    t = ChannelAlpha(target_fpr=0.01).fit_channels(x[:4000], mu[:4000], sigma[:4000])
    assert t.flat_value_[2] == 0.5 and np.isnan(t.flat_value_[:2]).all()
    wobble = mu[4000:].copy()
    wobble[:, 2] = 0.5 + 5e-3 * rng.normal(size=n - 4000)     # μ wobbles 5× more on fresh data
    flags = t.predict_channels(x[4000:], wobble, sigma[4000:])
    assert flags[:, 2].sum() == 0
    moved = x[4000:].copy()
    moved[::50, 2] = 0.7                                       # the channel leaves its value
    assert t.predict_channels(moved, wobble, sigma[4000:])[::50, 2].all()
    lower, upper = t.bands(wobble, sigma[4000:])
    assert (lower[:, 2] <= 0.5).all() and (upper[:, 2] >= 0.5).all()
    assert "1 flat channel" in t.describe()


def test_sigma_floor():
    """σ is never taken below sigma_floor × the channel's normal std."""
    x, mu, sigma = _normal(10, 5000, 2)
    sigma[:, 1] = 1e-4                                         # collapsed decoder σ
    t = ChannelAlpha(target_fpr=0.01).fit_channels(x, mu, sigma)
    np.testing.assert_allclose(t.sigma_min_, 0.05 * x.std(axis=0))
    lower, upper = t.bands(mu, sigma)
    np.testing.assert_allclose(mu[:, 1] - lower[:, 1], t.alpha_down_[1] * t.sigma_min_[1])
    np.testing.assert_allclose(upper[:, 1] - mu[:, 1], t.alpha_up_[1] * t.sigma_min_[1])
    np.testing.assert_allclose(upper[:, 0] - mu[:, 0], t.alpha_up_[0] * np.maximum(sigma[:, 0], t.sigma_min_[0]))
    off = ChannelAlpha(target_fpr=0.01, sigma_floor=0).fit_channels(x, mu, sigma)
    assert (off.sigma_min_ == 0).all()
    with pytest.raises(DataError, match="sigma_floor"):
        ChannelAlpha(sigma_floor=-1)


def test_too_few_steps_for_the_target_warns():
    x, mu, sigma = _normal(11, 150, 2)
    with pytest.warns(CalibrationWarning, match="step target FPR"):
        t = ChannelAlpha(target_fpr=0.01).fit_channels(x, mu, sigma)
    assert t.held_out_fpr_ is None                             # halves too short for 1 %


def test_target_fpr_leaves_labelled_anomalies_out(series):
    x, mu, sigma, labels = series
    with_labels = ChannelAlpha(target_fpr=0.01).fit_channels(x, mu, sigma, labels)
    without = ChannelAlpha(target_fpr=0.01).fit_channels(x, mu, sigma)
    assert with_labels.alpha_up_[1] < without.alpha_up_[1]  # the spikes no longer widen the band


def test_warmup_rows_are_ignored(series):
    x, mu, sigma, labels = series
    a = ChannelAlpha().fit_channels(x, mu, sigma, labels)
    b = ChannelAlpha().fit_channels(x[127:], mu[127:], sigma[127:], labels[127:])
    np.testing.assert_array_equal(a.alpha_up_, b.alpha_up_)
    np.testing.assert_array_equal(a.alpha_down_, b.alpha_down_)
    flags = a.predict_channels(x, mu, sigma)
    assert flags.dtype == np.int8 and not flags[:127].any()
    lower, upper = a.bands(mu, sigma)
    np.testing.assert_array_equal(flags[127:], ((x < lower) | (x > upper))[127:])


def test_json_roundtrip(series, tmp_path):
    x, mu, sigma, labels = series
    t = ChannelAlpha(metric="range").fit_channels(x, mu, sigma, labels, data_hash="abc")
    path = tmp_path / "threshold.json"
    path.write_text(json.dumps(t.to_dict(), allow_nan=False))
    again = threshold_from_dict(json.loads(path.read_text()))
    assert isinstance(again, ChannelAlpha) and again.metric == "range" and again.data_hash_ == "abc"
    np.testing.assert_array_equal(again.alpha_up_, t.alpha_up_)
    np.testing.assert_array_equal(again.best_f1_, t.best_f1_)  # NaN survives as null
    np.testing.assert_array_equal(again.predict_channels(x, mu, sigma), t.predict_channels(x, mu, sigma))
    assert again.describe() == t.describe() and "alpha" in t.describe()
    assert isinstance(make_threshold("alpha", target_fpr=0.01), ChannelAlpha)
    f = ChannelAlpha(target_fpr=0.01).fit_channels(x, mu, sigma, labels)
    again = threshold_from_dict(json.loads(json.dumps(f.to_dict(), allow_nan=False)))
    np.testing.assert_array_equal(again.predict_channels(x, mu, sigma), f.predict_channels(x, mu, sigma))
    assert again.describe() == f.describe() and again.fpr_interval_ == f.fpr_interval_
    # saved before the σ floor and the step-level fields existed: loads, no floor
    old = {k: v for k, v in t.to_dict().items() if k in
           ("method", "value", "n_calibration", "n_normal", "data_hash", "alpha_up", "alpha_down",
            "best_f1", "fpr")}
    old["params"] = {k: v for k, v in t.params().items() if k != "sigma_floor"}
    legacy = threshold_from_dict(old)
    assert (legacy.sigma_min_ == 0).all() and legacy.sigma_floor == 0 and np.isnan(legacy.flat_value_).all()
    with pytest.raises(DataError, match="malformed"):
        threshold_from_dict({**f.to_dict(), "sigma_min": [-1.0] * x.shape[1]})


def test_clear_errors(series):
    x, mu, sigma, labels = series
    t = ChannelAlpha()
    with pytest.raises(DataError, match="fit_channels"):
        t.fit(np.arange(10.0))
    with pytest.raises(NotFittedError):
        t.predict_channels(x, mu, sigma)
    with pytest.raises(DataError, match=r"labels .* or target_fpr"):
        t.fit_channels(x, mu, sigma)
    with pytest.raises(DataError, match="one shape"):
        t.fit_channels(x, mu[:, :2], sigma, labels)
    with pytest.raises(DataError, match="labels have shape"):
        t.fit_channels(x, mu, sigma, labels[:10])
    with pytest.raises(DataError, match="σ must be > 0"):
        t.fit_channels(x, mu, np.zeros_like(sigma), labels)
    with pytest.raises(DataError, match="inf"):
        t.fit_channels(np.full_like(x, np.inf), mu, sigma, labels)
    with pytest.raises(DataError, match="no row has finite"):
        t.fit_channels(x[:100], mu[:100], sigma[:100], labels[:100])
    with pytest.raises(DataError, match="metric"):
        ChannelAlpha(metric="event")
    with pytest.raises(DataError, match="not both"):
        ChannelAlpha(grid=[1, 2], legacy_grid=True)
    t.fit_channels(x, mu, sigma, labels)
    with pytest.raises(DataError, match="channels"):
        t.predict_channels(x[:, :3], mu[:, :3], sigma[:, :3])
    with pytest.raises(DataError, match="predict_channels"):
        t.predict(np.arange(3.0))
    with pytest.raises(DataError, match="malformed"):
        threshold_from_dict({"method": "alpha", "params": {}, "alpha_up": [1.0]})


def test_calibrate_help_says_fpr_is_a_step_target():
    """``nadkit calibrate --help`` describes --fpr for alpha as what fit_channels does: a target
    for the step flag (any channel), not one per channel (test_target_fpr_does_not_compound_…)."""
    from typer.testing import CliRunner

    from nadkit.cli import app

    shown = " ".join(CliRunner().invoke(app, ["calibrate", "--help"], env={"COLUMNS": "400"}).output.split())
    assert "--fpr holding a target false-positive rate for the step flag" in shown
    assert "1 % of normal steps (not 1 % per channel)" in shown
    assert "rate per channel" not in shown


def test_step_target_interval_counts_autocorrelated_steps_by_their_effective_number():
    """Normal steps of a series that hold their deviation for 20 steps: the step FPR's interval
    counts them as about n/20 independent steps (wider than counting every step), and keeps
    that when saved; steps that look independent keep the plain interval."""
    import json

    from nadkit.thresholds import threshold_from_dict

    x, mu, sigma = _normal(7, 1000, 3)
    held = np.repeat(x, 20, axis=0), np.repeat(mu, 20, axis=0), np.repeat(sigma, 20, axis=0)
    t = ChannelAlpha(target_fpr=0.01).fit_channels(*held)
    n = 20_000
    assert n / 40 < t.n_effective_ < n / 10
    m = round(t.expected_fpr_ * (n + 1))
    lo, hi = fpr_interval(n, m - 1)                       # every step counted as independent
    t_lo, t_hi = t.fpr_interval_
    assert t_lo < lo and hi < t_hi and t_hi - t_lo > 3 * (hi - lo) and "independent ones" in t.describe()
    again = threshold_from_dict(json.loads(json.dumps(t.to_dict())))
    assert again.n_effective_ == t.n_effective_ and again.fpr_interval_ == t.fpr_interval_
    plain = ChannelAlpha(target_fpr=0.01).fit_channels(*_normal(8, n, 3))
    assert plain.n_effective_ is None and "n_effective" not in plain.to_dict()
