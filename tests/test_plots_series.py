"""Series plots on real SMD data (read in place with pandas), including a long (> 50k steps) one."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from nadkit import plots
from nadkit.errors import DataError
from nadkit.metrics import event_ranges
from nadkit.thresholds import ChannelAlpha


def _smd(data_root, machine, part="test"):
    return pd.read_csv(data_root / "smd" / part / f"{machine}.txt.gz", header=None).to_numpy(float)


@pytest.fixture(scope="module")
def smd_slice(data_root):
    """machine-1-2 test rows 4000–9000 with per-channel labels from interpretation_label
    (``start-end`` there covers rows start … end−1, matching test_label) and a causal rolling
    mean/std as μ/σ (NaN during its 60-step warm-up)."""
    x = _smd(data_root, "machine-1-2")
    labels = np.zeros_like(x, dtype=np.int8)
    for line in (data_root / "smd" / "interpretation_label" / "machine-1-2.txt").read_text().split():
        span, dims = line.split(":")
        start, end = map(int, span.split("-"))
        labels[start:end, [int(d) - 1 for d in dims.split(",")]] = 1
    step_labels = pd.read_csv(data_root / "smd" / "test_label" / "machine-1-2.txt.gz", header=None)[0]
    np.testing.assert_array_equal(labels.any(axis=1), step_labels.to_numpy() == 1)
    frame = pd.DataFrame(x).shift(1).rolling(60)
    mu, sigma = frame.mean().to_numpy(), frame.std().to_numpy() + 0.01
    rows = slice(4000, 9000)
    time = pd.date_range("2019-01-01", periods=len(x), freq="1min").to_numpy()
    return time[rows], x[rows], mu[rows], sigma[rows], labels[rows]


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_series_channels_on_smd(smd_slice, tmp_path):
    time, x, mu, sigma, labels = smd_slice
    half = len(x) // 2
    alpha = ChannelAlpha(target_fpr=0.01).fit_channels(x[:half], mu[:half], sigma[:half])
    flags = alpha.predict_channels(x, mu, sigma)
    names = [f"metric-{k + 1}" for k in range(x.shape[1])]
    fig = plots.series_channels(time, x, mu, sigma, alpha.alpha_up_, alpha.alpha_down_, flags,
                                names, labels=labels, max_channels=3)
    assert len(fig.axes) == 3
    # by default the channels with the most flagged steps are drawn
    drawn = [ax.get_ylabel() for ax in fig.axes]
    top = np.argsort(-flags.sum(axis=0), kind="stable")[:3]
    assert sorted(drawn) == sorted(names[k] for k in top)
    for ax in fig.axes:
        k = names.index(ax.get_ylabel())
        shaded = [c for c in ax.collections if isinstance(c, PolyCollection) and c.get_label() == "labelled anomaly"]
        assert sum(len(c.get_paths()) for c in shaded) == len(event_ranges(labels[:, k]))
    plots.save(fig, tmp_path / "channels.png")
    _png(tmp_path / "channels.png")
    fig = plots.series_channels(None, x[:, 8], mu[:, 8], sigma[:, 8], 3.0, 2.0, flags[:, 8], ["m9"],
                                labels=labels[:, 8])
    plots.save(fig, tmp_path / "one.png")
    _png(tmp_path / "one.png")


def test_series_channels_draws_the_threshold_band(smd_slice):
    """With ``lower``/``upper`` the shaded band is the one the threshold applies: ChannelAlpha's
    σ floor widens it where the model's σ is tiny, so μ ± α·σ would be too narrow."""
    time, x, mu, sigma, _labels = smd_slice
    half = len(x) // 2
    tiny = sigma.copy()
    tiny[:, 0] = 1e-6                      # a channel whose model σ collapsed
    alpha = ChannelAlpha(target_fpr=0.01).fit_channels(x[:half], mu[:half], tiny[:half])
    lower, upper = alpha.bands(mu, tiny)
    assert (upper[:, 0] - lower[:, 0]).min() > 1e3 * 2e-6    # the floor, not σ, sets the width
    flags = alpha.predict_channels(x, mu, tiny)
    fig = plots.series_channels(time, x, mu, tiny, alpha.alpha_up_, alpha.alpha_down_, flags,
                                [f"m{k}" for k in range(x.shape[1])], channels=[0],
                                lower=lower, upper=upper, max_points=10**6)
    band = next(c for c in fig.axes[0].collections if isinstance(c, PolyCollection)
                and str(c.get_label()).startswith("μ"))
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.max() == pytest.approx(np.nanmax(upper[:, 0]))
    assert ys.min() == pytest.approx(np.nanmin(lower[:, 0]))
    with pytest.raises(DataError, match="both lower and upper"):
        plots.series_channels(time, x, mu, tiny, 3, 3, flags, [f"m{k}" for k in range(x.shape[1])],
                              lower=lower)


def test_series_scores_long_real_series(data_root, tmp_path):
    """Three SMD test files end to end (> 70k steps) are drawn decimated, spikes kept."""
    x = np.vstack([_smd(data_root, m) for m in ("machine-1-2", "machine-1-3", "machine-1-4")])
    y = np.concatenate([pd.read_csv(data_root / "smd" / "test_label" / f"{m}.txt.gz", header=None)[0]
                        for m in ("machine-1-2", "machine-1-3", "machine-1-4")])
    z = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    scores = np.abs(z).max(axis=1)
    scores[:128] = np.nan  # a warm-up leaves a gap
    assert len(scores) > 50_000
    fig = plots.series_scores(None, scores, threshold=float(np.nanquantile(scores, 0.99)), y=y,
                              max_points=4000)
    line = fig.axes[0].lines[0]
    assert len(line.get_xdata()) <= 4002
    assert np.nanmax(line.get_ydata()) == np.nanmax(scores)  # the envelope keeps the peaks
    shaded = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert sum(len(c.get_paths()) for c in shaded) == len(event_ranges(y))
    plots.save(fig, tmp_path / "scores.png")
    _png(tmp_path / "scores.png")


def test_series_plot_errors(smd_slice):
    time, x, mu, sigma, labels = smd_slice
    flags = np.zeros_like(x, dtype=bool)
    with pytest.raises(DataError, match="channel names"):
        plots.series_channels(time, x, mu, sigma, 3, 3, flags, ["a"])
    with pytest.raises(DataError, match="time has shape"):
        plots.series_scores(time[:10], x[:, 0])
    with pytest.raises(DataError, match="labels have shape"):
        plots.series_scores(None, x[:, 0], y=labels)
