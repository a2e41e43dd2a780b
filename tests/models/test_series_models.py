"""Series detectors (DC-VAE, Seq2Seq) on a real SMD machine: quality well above chance, the
NaN warm-up, chunked = whole-series scoring, stream = window scoring where the receptive field
fits the window, save → load identical, seeded determinism, per-channel α bands, bad input."""

import numpy as np
import pytest
from sklearn.base import clone

from nadkit import artifact
from nadkit.data import load_dataset
from nadkit.data.series import SeriesPreprocessor
from nadkit.errors import DataError
from nadkit.metrics import auroc
from nadkit.models import DCVAE, Seq2Seq, make_detector
from nadkit.models.series_base import SMOOTH_STATS
from nadkit.pipeline import SeriesPipeline

SMALL = {
    "dcvae": {"window": 32, "cnn_units": (32,) * 4, "dilations": (1, 2, 4, 8, 16), "step_budget": 150,
              "batch_size": 32, "train_stride": 4},
    "seq2seq": {"window": 16, "hidden": 32, "step_budget": 150, "batch_size": 32, "train_stride": 4},
}


@pytest.fixture(scope="module")
def smd(data_root):
    """SMD machine-1-2 standardised on its train file; test = the second half of its test file."""
    train, test = load_dataset("smd", "machine-1-2"), load_dataset("smd", "machine-1-2:test")
    test = test.slice(12_000, None)
    pre = SeriesPreprocessor()
    return {"X_train": pre.fit_transform(train.slice(0, 12_000), window=32), "X_test": pre.transform(test),
            "y": test.y, "channel_labels": test.channel_labels, "pre": pre, "test": test}


@pytest.fixture(scope="module", params=sorted(SMALL))
def fitted(request, smd):
    return request.param, make_detector(request.param, **SMALL[request.param]).fit(smd["X_train"])


def test_quality_on_smd(fitted, smd):
    name, det = fitted
    s = det.score(smd["X_test"])
    ok = np.isfinite(s)
    assert ok.sum() == len(s) - det.window + 1 and np.isnan(s[: det.window - 1]).all()
    a = auroc(smd["y"][ok], s[ok])
    assert a > 0.8, f"{name} AUROC {a:.3f} on SMD machine-1-2"


def test_contract(fitted, smd):
    _, det = fitted
    X = smd["X_test"][:600]
    f = det.score_features(X)
    assert f.shape == X.shape and np.isnan(f[: det.window - 1]).all()
    # the step score: mean, max or top-3 mean over channels, then the causal moving statistic
    # over `smooth` steps
    k, smooth = det.smooth, SMOOTH_STATS[det.smooth_stat]
    over = {"mean": lambda c: c.mean(axis=1), "max": lambda c: c.max(axis=1),
            "top3": lambda c: -np.sort(-c, axis=1)[:, :3].mean(axis=1)}
    own = det.aggregate
    for how in (own, *(a for a in over if a != own)):
        det.set_params(aggregate=how)
        np.testing.assert_allclose(smooth(over[how](f[det.window - 1:]), k), det.score(X)[det.window - 1:],
                                   err_msg=how)
    det.set_params(aggregate=own)
    mu, sigma = det.gaussian(X)
    scale = det.train_scale_ if det.channel_score == "unit" else det.residual_scale_
    np.testing.assert_allclose(np.abs(X - mu) / scale, f, rtol=1e-5)
    assert np.isfinite(sigma[det.window - 1:]).all() and (sigma[det.window - 1:] > 0).all()
    assert set(np.unique(det.predict(X))) <= {0, 1} and det.predict(X)[: det.window - 1].sum() == 0
    # a pure function of the last context_ steps: a later start gives the same scores there
    k = det.context_ + 50
    np.testing.assert_allclose(det.score(X[50:])[k - 50:], det.score(X)[k:], rtol=1e-4, atol=1e-5)
    assert clone(det).get_params() == det.get_params()
    assert det.series_info()["n_unscored"] == det.window - 1


TINY = {**SMALL["dcvae"], "epochs": 1}


def test_chunked_scoring_equals_one_pass_and_seeded(smd):
    det = DCVAE(**TINY).fit(smd["X_train"][:3000])
    X = smd["X_test"][:3000]
    np.testing.assert_array_equal(clone(det).fit(smd["X_train"][:3000]).score(X), det.score(X))
    whole = det.gaussian(X)
    det.infer_chunk = 257                       # many overlapping chunks, batched
    for a, b in zip(det.gaussian(X), whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_stream_equals_windows_when_the_receptive_field_fits(smd):
    X_train, X = smd["X_train"][:3000], smd["X_test"][:400]
    mirrored = DCVAE(**TINY, layout="mirrored").fit(X_train)
    assert mirrored.receptive_field_ <= mirrored.window
    stream = mirrored.gaussian(X)
    mirrored.set_params(inference="window")
    for a, b in zip(mirrored.gaussian(X), stream, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    legacy = DCVAE(**TINY).fit(X_train)                      # published layout: R = 41 > T = 32
    # the score's context adds the smooth - 1 earlier step scores of its moving mean
    assert legacy.receptive_field_ == 41 and legacy.context_ == 41 + legacy.smooth - 1
    windowed = clone(legacy).set_params(inference="window")
    windowed.__dict__.update({k: v for k, v in legacy.__dict__.items() if k.endswith("_")})
    assert windowed.context_ == 32 + legacy.smooth - 1
    diff = np.nanmax(np.abs(windowed.gaussian(X)[0] - legacy.gaussian(X)[0]))
    assert 0 < diff < 5                         # zero-padded cone vs real past: close, not equal


def test_horizon_forecasts_from_the_past_only(smd):
    X_train, X = smd["X_train"][:3000], smd["X_test"][:400]
    spiked = X.copy()
    spiked[300] += 50.0                                         # a spike at step 300
    ahead = DCVAE(**TINY, horizon=1).fit(X_train)
    assert ahead.receptive_field_ == 42 and ahead.context_ == 42 + ahead.smooth - 1  # one more than h=0
    mu, mu2 = ahead.gaussian(X)[0], ahead.gaussian(spiked)[0]
    np.testing.assert_array_equal(mu2[:301], mu[:301])          # μ at step 300 does not see it
    assert np.abs(mu2[301] - mu[301]).max() > 1e-3              # μ one step later does
    published = DCVAE(**TINY).fit(X_train)                      # the reconstruction sees x_t
    assert np.abs(published.gaussian(spiked)[0][300] - published.gaussian(X)[0][300]).max() > 1e-3
    with pytest.raises(DataError, match="horizon"):
        DCVAE(**TINY, horizon=32).fit(X_train)


def test_save_load_identical(fitted, smd, tmp_path):
    name, det = fitted
    pipe = SeriesPipeline(det, smd["pre"])
    artifact.save(pipe, tmp_path / name)
    manifest = artifact.read_manifest(tmp_path / name)
    assert manifest["schema"]["window"] == 32 and len(manifest["schema"]["channels"]) == 38
    assert manifest["series"]["context"] == det.context_ and manifest["input_kind"] == "series"
    again = artifact.load(tmp_path / name)
    assert isinstance(again, SeriesPipeline)
    X = smd["X_test"][:2000]
    np.testing.assert_array_equal(again.detector.score(X), det.score(X))
    assert again.threshold.value_ == det.threshold_.value_ and again.detector.get_params() == det.get_params()
    # the default threshold counts the tail's autocorrelated step scores by their effective
    # number (benchmarks/series_calibration.py, amendment 1), and keeps that count when saved
    t = det.threshold_
    assert 1 <= t.n_effective_ < t.n_normal_ / 5 and again.threshold.n_effective_ == t.n_effective_
    from nadkit.thresholds import fpr_interval
    lo, hi = fpr_interval(t.n_normal_, t.n_above_)
    assert t.fpr_interval_[0] < lo and hi < t.fpr_interval_[1] and again.threshold.interval() == t.interval()


def test_seq2seq_seeded():
    X = np.random.default_rng(0).normal(size=(1500, 4)).astype(np.float32)
    a = Seq2Seq(window=16, hidden=8, epochs=1, random_state=3).fit(X)
    b = Seq2Seq(window=16, hidden=8, epochs=1, random_state=3).fit(X)
    np.testing.assert_array_equal(a.score(X), b.score(X))
    np.testing.assert_array_equal(a.residual_scale_, b.residual_scale_)


def test_alpha_bands_per_channel(fitted, smd):
    _, det = fitted
    pipe = SeriesPipeline(det, smd["pre"])
    val = smd["test"].slice(0, 6000)
    pipe.calibrate(val, method="alpha", target_fpr=0.01)
    b = pipe.bands(val)
    ok = np.isfinite(b["step_score"])
    outside = (b["value"] < b["lower"]) | (b["value"] > b["upper"])
    on_edge = np.minimum(np.abs(b["value"] - b["lower"]), np.abs(b["value"] - b["upper"])) <= 1e-6 * (
        1 + np.abs(b["value"]))                 # the α quantiles put a few values exactly on a limit
    assert ((outside == b["flag"].astype(bool)) | on_edge)[ok].all()
    assert b["flag"][~ok].sum() == 0 and (b["step_flag"] == b["flag"].any(axis=1)).all()
    pipe.calibrate(val, method="alpha", channel_labels=val.channel_labels)
    assert pipe.threshold.alpha_up_.shape == (38,)
    out = pipe.detect(val.slice(0, 100))
    assert len(out) == 100 * 38 and list(out.columns[:3]) == ["step", "channel", "value"]
    assert not out["scored"].iloc[: (det.window - 1) * 38].any()


@pytest.mark.filterwarnings("ignore::nadkit.thresholds.CalibrationWarning")
def test_alpha_target_holds_for_the_step_flag(fitted, smd):
    """On a real series: --fpr 0.01 is the share of normal steps flagged in any of the 38
    channels (labelled anomalies left out), on the calibration normals, on held-out halves of
    them and, roughly, on a later normal period; no flat channel is flagged at its value."""
    _, det = fitted
    pipe = SeriesPipeline(det, smd["pre"])
    val, later = smd["test"].slice(0, 6000), smd["test"].slice(6000, None)
    pipe.calibrate(val, method="alpha", target_fpr=0.01)
    thr = pipe.threshold
    assert thr.n_normal_ == int(((val.y == 0) & ~np.isnan(det.score(pipe.transform(val)))).sum())
    b = pipe.bands(later)
    normal = (later.y == 0) & np.isfinite(b["step_score"])
    rate = b["step_flag"][normal].mean()
    assert thr.step_fpr_ <= 0.01 and thr.expected_fpr_ < 0.0125   # 38 channels, 5.9k steps: at the limit
    # bands from one half of this period flag far more of the other half (SMD drifts): reported
    assert 0 < thr.held_out_fpr_ < 0.5 and "held-out" in thr.describe()
    assert rate < 0.1                                 # a later period, after drift
    assert b["flag"][normal].mean(axis=0).max() < 0.05
    flat = ~np.isnan(thr.flat_value_)
    at_value = np.isclose(pipe.transform(later), thr.flat_value_) & flat
    assert not b["flag"][at_value].any()


def test_bad_input(fitted, smd):
    _, det = fitted
    X = smd["X_test"][:200].copy()
    with pytest.raises(DataError, match="fewer than the window length"):
        det.score(X[: det.window - 1])
    with pytest.raises(DataError, match="features; the model was fitted on 38"):
        det.score(X[:, :10])
    X[50, 3] = np.nan
    with pytest.raises(DataError, match="NaN/inf"):
        det.score(X)
    with pytest.raises(DataError, match="aggregate must be"):
        Seq2Seq(aggregate="median").fit(smd["X_train"][:500])
    with pytest.raises(DataError, match="legacy layout needs len"):
        DCVAE(dilations=(1, 2)).fit(smd["X_train"][:500])


def test_step_budget_below_one_epoch_bounds_the_cost(smd):
    det = DCVAE(**{**TINY, "epochs": None, "step_budget": 3}).fit(smd["X_train"][:3000])
    assert det.epochs_run_ == 1 and det.train_result_.batches_per_epoch == 3


def test_smooth_is_a_causal_moving_mean_or_max_of_the_step_score(smd):
    """``smooth=k``: the step score is the mean (``smooth_stat="mean"``) or the max (``"max"``)
    of the last k unsmoothed step scores (fewer at the start); ``smooth=1`` is the per-step
    score; anything but an integer ≥ 1, or another statistic, is refused."""
    det = DCVAE(**TINY, smooth=1, aggregate="mean").fit(smd["X_train"][:3000])
    X = smd["X_test"][:400]
    raw = det.score(X)
    np.testing.assert_allclose(raw[det.window - 1:], np.nanmean(det.score_features(X)[det.window - 1:], axis=1))
    det.set_params(smooth=4, smooth_stat="mean")
    s, r = det.score(X), raw[det.window - 1:]
    assert np.isnan(s[: det.window - 1]).all()
    np.testing.assert_allclose(s[det.window - 1:][:3], np.cumsum(r[:3]) / [1, 2, 3])
    np.testing.assert_allclose(s[det.window - 1:][3:], np.convolve(r, np.ones(4) / 4, "valid"), rtol=1e-12)
    det.set_params(smooth_stat="max")                        # the max of the last 4 (fewer at the start)
    peak = det.score(X)[det.window - 1:]
    np.testing.assert_array_equal(peak[:3], np.maximum.accumulate(r[:3]))
    np.testing.assert_array_equal(peak[3:], np.lib.stride_tricks.sliding_window_view(r, 4).max(axis=1))
    smoothed_context = det.context_
    assert smoothed_context == det.set_params(smooth=1).context_ + 3
    for bad in (0, 2.5, True):
        with pytest.raises(DataError, match="smooth must be an integer"):
            DCVAE(**TINY, smooth=bad).fit(smd["X_train"][:3000])
    with pytest.raises(DataError, match="smooth_stat must be one of"):
        DCVAE(**TINY, smooth_stat="median").fit(smd["X_train"][:3000])


def test_validation_blocks_trains_on_the_latest_regime():
    """A series whose last fifth is a new regime (twice the amplitude): with the chronological
    tail the model never trains on it and predicts it badly; with the end of each of 5 blocks
    held out it trains on most of the last fifth, so the held-out residual scale shrinks. The
    default threshold's scores and the residual scale come from the held-out segments."""
    t = np.arange(10_000, dtype=np.float32)
    amp = np.where(t < 8000, 1.0, 2.0).astype(np.float32)
    noise = 0.05 * np.random.default_rng(0).normal(size=(10_000, 2)).astype(np.float32)
    X = np.stack([amp * np.sin(t / 7), amp * np.cos(t / 11)], axis=1) + noise
    cfg = {**TINY, "epochs": None, "step_budget": 600}
    tail, blocked = DCVAE(**cfg).fit(X), DCVAE(**cfg, validation_blocks=5).fit(X)
    assert tail.residual_source_ == "validation tail"
    assert blocked.residual_source_ == "5 held-out segments"
    w = blocked.window
    assert len(blocked.calibration_scores_) == 5 * (400 - w + 1) and len(tail.calibration_scores_) == 2000 - w + 1
    late = X[9600:]                                           # the last held-out segment
    resid = [np.sqrt(np.mean((late[w - 1:] - d._expected(late)) ** 2)) for d in (tail, blocked)]
    assert resid[1] < 0.7 * resid[0], resid


def test_unit_channel_score_weighs_channels_by_their_training_std(smd, tmp_path):
    """``channel_score="unit"``: |x − μ| / (the channel's std on the training series; 1 for a
    constant channel), kept through save → load."""
    X_train = smd["X_train"][:3000]
    det = DCVAE(**TINY, channel_score="unit", smooth=1, aggregate="mean").fit(X_train)
    std = X_train.std(axis=0, dtype=np.float64)
    np.testing.assert_allclose(det.train_scale_, np.where(std > 1e-3, std, 1.0))
    X = smd["X_test"][:400]
    mu, _ = det.gaussian(X)
    w = det.window
    np.testing.assert_allclose(det.score(X)[w - 1:], (np.abs(X - mu) / det.train_scale_).mean(axis=1)[w - 1:],
                               rtol=1e-6)
    pipe = SeriesPipeline(det, smd["pre"])
    artifact.save(pipe, tmp_path / "unit")
    np.testing.assert_array_equal(artifact.load(tmp_path / "unit").detector.score(X), det.score(X))


def test_a_series_too_short_for_a_held_out_tail_warns_that_the_threshold_is_in_sample(smd):
    """Without a held-out tail of window + 50 steps the default threshold is fitted on the
    training steps' own scores: the model says where it came from and warns that new data
    will see more alarms than the target."""
    from nadkit.thresholds.base import CalibrationWarning

    short = smd["X_train"][:200]                       # tail 40 steps < window 16 + 50
    with pytest.warns(CalibrationWarning, match=r"200 steps.*window \+ 50 = 66 steps.*calibrate"):
        det = Seq2Seq(**{**SMALL["seq2seq"], "step_budget": 5}).fit(short)
    assert det.calibration_source_ == "training series"
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        long = Seq2Seq(**{**SMALL["seq2seq"], "step_budget": 5}).fit(smd["X_train"][:2000])
    assert long.calibration_source_ == "validation tail of the training series"
    assert not [w for w in caught if "held-out tail" in str(w.message)]


def test_top3_aggregation_is_the_mean_of_the_three_largest_channel_scores():
    """DC-VAE's default step score (series_defaults amendment 10): an anomaly on 3 of 38
    channels is not averaged away by the 35 quiet ones; NaN rows stay NaN, as with mean/max."""
    det = DCVAE(smooth=1)
    assert DCVAE().aggregate == "top3"
    c = np.zeros((4, 38))
    c[1, :3] = 9.0                       # three channels far off
    c[2, :] = 1.0                        # every channel a little off
    c[3, 5] = np.nan
    got = det._aggregate(c)
    np.testing.assert_allclose(got[:3], [0.0, 9.0, 1.0])
    assert np.isnan(got[3])
    assert DCVAE(smooth=1, aggregate="mean")._aggregate(c[:3])[1] == pytest.approx(27 / 38)
    np.testing.assert_allclose(DCVAE(smooth=1)._aggregate(np.array([[1.0, 5.0]])), [3.0])  # fewer than 3
