"""Plots of results (matplotlib, written as PNG): score histograms, ROC/PR, the low-FPR end
(achieved FPR/TPR by threshold, log-FPR ROC), per-class rates, training curves. Each function
returns a Figure; :func:`save` writes it atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from nadkit.errors import DataError
from nadkit.io import atomic_path
from nadkit.thresholds.base import Threshold


def save(fig: Figure, path: str | os.PathLike[str], dpi: int = 110) -> None:
    """Write ``fig`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def score_histogram(scores, y=None, threshold: float | None = None, title: str = "",
                    bins: int = 80) -> Figure:
    """Histogram of scores (log-spaced when they span decades), split by class if labelled."""
    s = np.asarray(scores, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4))
    positive = s[s > 0]
    use_log = positive.size == s.size and s.size > 0 and s.max() / max(positive.min(), 1e-300) > 1e3
    edges = np.geomspace(positive.min(), s.max(), bins) if use_log else np.linspace(s.min(), s.max(), bins)
    if y is None:
        ax.hist(s, bins=edges, color="tab:blue", alpha=0.8, label="all")
    else:
        y = np.asarray(y)
        ax.hist(s[y == 0], bins=edges, alpha=0.6, color="tab:blue", label=f"normal ({(y == 0).sum()})")
        ax.hist(s[y == 1], bins=edges, alpha=0.6, color="tab:red", label=f"anomaly ({(y == 1).sum()})")
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1.2, label=f"threshold {threshold:.4g}")
    if use_log:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("rows")
    ax.set_title(title or "Score distribution")
    ax.legend()
    return fig


def roc_pr(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "") -> Figure:
    """ROC and precision-recall curves side by side; ``curves`` maps a name to (y, scores)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        from nadkit.metrics import auprc, auroc
        a1.plot(fpr, tpr, label=f"{name} (AUROC {auroc(y, s):.3f})")
        a2.plot(rec, prec, label=f"{name} (AUPRC {auprc(y, s):.3f})")
    a1.plot([0, 1], [0, 1], color="grey", ls=":", lw=1)
    a1.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC")
    base = float(np.mean(next(iter(curves.values()))[0])) if curves else 0.0
    a2.axhline(base, color="grey", ls=":", lw=1, label=f"chance ({base:.2f})")
    a2.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    a1.legend(loc="lower right", fontsize=8)
    a2.legend(loc="lower left", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def per_class_rates(per_class: Mapping[str, Mapping[str, float]], title: str = "",
                    top: int = 30) -> Figure:
    """Horizontal bars: detection rate per attack class (FPR for 'normal')."""
    items = list(per_class.items())[:top]
    names = [f"{k} (n={v['n']})" for k, v in items]
    rates = [v["rate"] for _, v in items]
    colors = ["tab:blue" if k == "normal" else "tab:red" for k, _ in items]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(items) + 1.2))
    ax.barh(range(len(items)), rates, color=colors)
    ax.set_yticks(range(len(items)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share flagged (detection rate; FPR for normal)")
    ax.set_title(title or "Detection rate per class")
    return fig


def fpr_tpr_curve(y, scores, threshold=None, title: str = "", min_fpr: float = 1e-4,
                  max_points: int = 4000) -> Figure:
    """The low-FPR end, two panels. Left: the FPR achieved on the normal rows of ``y`` (and the
    TPR on its anomalies) against the threshold, log-y, with the model's ``threshold`` (a fitted
    :class:`~nadkit.thresholds.Threshold` or a number), its target FPR and, for order-statistic
    thresholds, the 95 % interval of the FPR it promised on this many fresh normals. Right: the
    ROC curve with log-x FPR from ``min_fpr`` to 1 and the model's operating point."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=float)
    if y.all() or not y.any():
        raise DataError("the FPR/TPR curve needs normal and anomalous rows")
    value = getattr(threshold, "value_", threshold)
    normal, attack = np.sort(s[~y]), np.sort(s[y])
    cuts = np.unique(np.r_[normal, attack])
    if cuts.size > max_points:  # keep the tail: every cut among the top normals, then a thin grid
        top = normal[-min(normal.size, max_points // 2):]
        grid = np.quantile(cuts, np.linspace(0, 1, max_points // 2))
        cuts = np.unique(np.r_[top, grid])
    fpr = (normal.size - np.searchsorted(normal, cuts, side="right")) / normal.size
    tpr = (attack.size - np.searchsorted(attack, cuts, side="right")) / attack.size
    floor = 0.5 / normal.size  # where FPR = 0 is drawn on the log axis
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.5))
    a1.step(cuts, np.maximum(fpr, floor), where="post", color="tab:blue", label=f"FPR on {normal.size:,} normals")
    a1.step(cuts, np.maximum(tpr, floor), where="post", color="tab:red", label=f"TPR on {attack.size:,} anomalies")
    promise = threshold.promise(n_fresh=int(normal.size)) if isinstance(threshold, Threshold) else None
    if promise is not None:
        a1.axhline(promise.target, color="black", ls=":", lw=1, label=f"target FPR {promise.target:g}")
    if promise is not None and promise.interval is not None:
        lo, hi = promise.interval
        a1.axhspan(max(lo, floor), max(hi, floor), color="grey", alpha=0.25,
                   label=f"95 % interval for {normal.size:,} fresh normals")
    if value is not None:
        a1.axvline(value, color="black", ls="--", lw=1.2, label=f"model threshold {value:.4g}")
    positive = cuts[cuts > 0]
    if positive.size == cuts.size and cuts.size > 1 and cuts.max() / positive.min() > 1e3:
        a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_ylim(floor * 0.8, 1.05)
    a1.set(xlabel="threshold (anomaly iff score > threshold)", ylabel="share flagged",
           title="Achieved FPR and TPR by threshold")
    a1.legend(fontsize=7, loc="lower left")
    roc_fpr, roc_tpr, _ = roc_curve(y, s)
    a2.plot(np.maximum(roc_fpr, min_fpr), roc_tpr, color="tab:purple", label="ROC")
    for f, ls in ((1e-3, ":"), (1e-2, "--")):
        a2.axvline(f, color="grey", ls=ls, lw=1)
        a2.text(f, 0.02, f" FPR {f:g}", fontsize=7, color="grey")
    if value is not None:
        fp, tp = float(np.mean(s[~y] > value)), float(np.mean(s[y] > value))
        a2.plot([max(fp, min_fpr)], [tp], "o", color="black",
                label=f"model threshold (FPR {fp:.4f}, TPR {tp:.3f})")
    a2.set_xscale("log")
    a2.set_xlim(min_fpr, 1.0)
    a2.set_ylim(0, 1.02)
    a2.set(xlabel="false-positive rate (log)", ylabel="true-positive rate", title="ROC, low-FPR end")
    a2.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_curves(history: Sequence[Mapping[str, float]], title: str = "") -> Figure:
    """Per-epoch losses logged by the shared trainer (and a GAN's MMD²)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    keys = sorted({k for row in history for k in row if k.endswith(("loss", "mmd2"))})
    epochs = [row.get("epoch", i) for i, row in enumerate(history)]
    for k in keys:
        ax.plot(epochs, [row.get(k, np.nan) for row in history], label=k)
    ax.set(xlabel="epoch", ylabel="loss", title=title or "Training curves")
    if keys:
        ax.legend()
    return fig


def leaderboard(rows: Sequence[Mapping[str, float]], metric: str = "auroc", title: str = "") -> Figure:
    """Bar chart of one metric across models."""
    names = [r["model"] for r in rows]
    vals = [r.get(metric, np.nan) for r in rows]
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(rows)), 4))
    bars = ax.bar(names, vals, color="tab:blue")
    for b, v in zip(bars, vals, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
    lo = np.nanmin(vals) if len(vals) else 0
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} by model")
    return fig


# -------------------------------------------------------------------------------- series plots
# Long series are drawn decimated: beyond ``max_points`` steps the values become per-bucket
# min/max envelopes (so spikes stay visible), bands per-bucket lowest/highest limits, and flags
# one marker per bucket that holds any. Only the drawing is reduced; labelled ranges are shaded
# exactly, one rectangle per range in a single collection.

def _time_axis(time, n: int) -> np.ndarray:
    if time is None:
        return np.arange(n)
    t = np.asarray(time)
    if t.shape != (n,):
        raise DataError(f"time has shape {t.shape}; expected ({n},)")
    if t.dtype == object:
        t = t.astype("datetime64[ns]")
    return t


def _buckets(n: int, max_points: int) -> np.ndarray | None:
    """Start index of each drawing bucket, or None when the series is short enough."""
    if n <= max_points:
        return None
    return np.arange(0, n, int(np.ceil(n / max(max_points // 2, 1))))


def _envelope(t: np.ndarray, v: np.ndarray, starts: np.ndarray | None):
    """(t, v) to draw: as is, or per bucket the min then the max at the bucket's start time."""
    if starts is None:
        return t, v
    lo, hi = np.fmin.reduceat(v, starts), np.fmax.reduceat(v, starts)
    return np.repeat(t[starts], 2), np.column_stack([lo, hi]).ravel()


def _flag_marks(t: np.ndarray, v: np.ndarray, flags: np.ndarray, starts: np.ndarray | None):
    """Points to mark: every flagged step, or the first flagged step of each bucket."""
    idx = np.flatnonzero(flags)
    if starts is not None and idx.size:
        _, first = np.unique(np.searchsorted(starts, idx, side="right"), return_index=True)
        idx = idx[first]
    return t[idx], v[idx]


def _shade_ranges(ax, t: np.ndarray, y, color: str = "tab:red", label: str | None = "labelled anomaly"):
    """Shade each labelled range [start, end) over the full height, as one PolyCollection."""
    from matplotlib.collections import PolyCollection

    from nadkit.metrics import _runs

    y = np.asarray(y).astype(bool)
    starts, ends = _runs(y)
    if not starts.size:
        return
    step = t[-1] - t[-2] if len(t) > 1 else (np.timedelta64(1, "s") if t.dtype.kind == "M" else 1)
    t_ext = np.r_[t, t[-1] + step]
    x0 = np.asarray(ax.convert_xunits(t_ext[starts]), dtype=float)
    x1 = np.asarray(ax.convert_xunits(t_ext[ends]), dtype=float)
    zero, one = np.zeros_like(x0), np.ones_like(x0)
    verts = np.stack([np.c_[x0, zero], np.c_[x0, one], np.c_[x1, one], np.c_[x1, zero]], axis=1)
    ax.add_collection(PolyCollection(verts, transform=ax.get_xaxis_transform(), facecolor=color,
                                     edgecolor="none", alpha=0.18, label=label))


def series_channels(time, x, mu, sigma, alpha_up, alpha_down, flags, channel_names, labels=None,
                    channels=None, max_channels: int = 8, max_points: int = 4000,
                    title: str = "", lower=None, upper=None) -> Figure:
    """One panel per channel: the values, μ, the band μ − α_down·σ … μ + α_up·σ shaded, flagged
    steps marked and labelled anomaly ranges shaded.

    ``x``, ``mu``, ``sigma``, ``flags`` are (n, c); ``alpha_up``/``alpha_down`` scalars or (c,);
    ``labels`` (n,) for all channels or (n, c) per channel. ``channels`` picks channels by index
    or name; by default the ``max_channels`` channels with the most flagged (then labelled)
    steps. NaN μ/σ (the warm-up) leave gaps. ``lower``/``upper`` (n, c), when given, are the
    band the threshold really applies (e.g. ``SeriesPipeline.bands``: with ChannelAlpha's σ
    floor and flat channels) and are drawn instead of μ ± α·σ.
    """
    x, mu, sigma = (np.asarray(a, dtype=float) for a in (x, mu, sigma))
    if x.ndim == 1:
        x, mu, sigma = x[:, None], mu[:, None], sigma[:, None]
    flags = np.asarray(flags).astype(bool).reshape(x.shape)
    n, c = x.shape
    if mu.shape != x.shape or sigma.shape != x.shape:
        raise DataError(f"x {x.shape}, mu {mu.shape} and sigma {sigma.shape} must have one shape")
    names = [str(v) for v in channel_names]
    if len(names) != c:
        raise DataError(f"{len(names)} channel names for {c} channels")
    if (lower is None) != (upper is None):
        raise DataError("give both lower and upper band limits, or neither")
    if lower is not None:
        lower, upper = (np.asarray(a, dtype=float).reshape(n, c) for a in (lower, upper))
    t = _time_axis(time, n)
    up = np.broadcast_to(np.asarray(alpha_up, dtype=float), (c,))
    down = np.broadcast_to(np.asarray(alpha_down, dtype=float), (c,))
    lab = None if labels is None else np.asarray(labels).astype(bool)
    if lab is not None and lab.ndim == 1:
        lab = np.broadcast_to(lab[:, None], (n, c))
    if lab is not None and lab.shape != (n, c):
        raise DataError(f"labels have shape {lab.shape}; expected ({n},) or ({n}, {c})")
    if channels is None:
        labelled = lab.sum(axis=0) if lab is not None else np.zeros(c)
        order = np.lexsort((np.arange(c), -labelled, -flags.sum(axis=0)))
        picked = np.sort(order[:max_channels])
    else:
        picked = np.array([names.index(str(ch)) if str(ch) in names else int(ch) for ch in channels])
        if picked.size and (picked.min() < 0 or picked.max() >= c):
            raise DataError(f"channel index out of range 0…{c - 1}")
    starts = _buckets(n, max_points)
    fig, axes = plt.subplots(len(picked), 1, figsize=(11, 1.9 * len(picked) + 0.6), sharex=True,
                             squeeze=False, layout="constrained")
    for ax, k in zip(axes[:, 0], picked, strict=True):
        if lower is None:
            lo_k, hi_k = mu[:, k] - down[k] * sigma[:, k], mu[:, k] + up[k] * sigma[:, k]
        else:
            lo_k, hi_k = lower[:, k], upper[:, k]
        if starts is None:
            tb, lo, hi = t, lo_k, hi_k
        else:
            tb, lo, hi = t[starts], np.fmin.reduceat(lo_k, starts), np.fmax.reduceat(hi_k, starts)
        ax.fill_between(tb, lo, hi, color="tab:blue", alpha=0.18, lw=0, step="post" if starts is not None else None,
                        label=f"μ −{down[k]:.3g}σ … μ +{up[k]:.3g}σ")
        ax.plot(*_envelope(t, x[:, k], starts), color="black", lw=0.6, label="value")
        ax.plot(*_envelope(t, mu[:, k], starts), color="tab:blue", lw=0.6, label="μ")
        ft, fv = _flag_marks(t, x[:, k], flags[:, k], starts)
        ax.scatter(ft, fv, s=9, color="tab:red", zorder=3, label=f"flagged ({int(flags[:, k].sum())})")
        if lab is not None:
            _shade_ranges(ax, t, lab[:, k])
        ax.set_ylabel(names[k], fontsize=8)
        ax.legend(loc="upper right", fontsize=6, ncol=5, framealpha=0.8)
    fig.suptitle(title or "Channels with their μ − α_down·σ … μ + α_up·σ band")
    return fig


def series_scores(time, scores, threshold: float | None = None, y=None, max_points: int = 6000,
                  title: str = "") -> Figure:
    """The per-step anomaly score with the threshold line and labelled ranges shaded."""
    s = np.asarray(scores, dtype=float).ravel()
    n = s.size
    t = _time_axis(time, n)
    starts = _buckets(n, max_points)
    fig, ax = plt.subplots(figsize=(11, 3.2), layout="constrained")
    ax.plot(*_envelope(t, s, starts), color="tab:blue", lw=0.6, label="score")
    if threshold is not None:
        ax.axhline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:.4g}")
        ft, fv = _flag_marks(t, s, s > threshold, starts)
        ax.scatter(ft, fv, s=6, color="tab:red", zorder=3, label=f"flagged ({int((s > threshold).sum())})")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n,):
            raise DataError(f"labels have shape {y.shape}; expected ({n},)")
        _shade_ranges(ax, t, y)
    ax.set_ylabel("anomaly score")
    ax.set_title(title or "Anomaly score per step")
    ax.legend(loc="upper right", fontsize=7, ncol=4, framealpha=0.8)
    return fig


def generated_windows(real, fake, channel_names: Sequence[str] | None = None, max_channels: int = 4,
                      title: str = "") -> Figure:
    """Real vs generated windows (each (n, window, channels)), one panel per channel: real
    windows in blue, generated ones in orange — how well a GAN's generator mimics the data."""
    real, fake = np.asarray(real), np.asarray(fake)
    if real.ndim != 3 or fake.ndim != 3 or real.shape[2] != fake.shape[2]:
        raise DataError(f"expected (n, window, channels) arrays with equal channels; got {real.shape}, {fake.shape}")
    c = min(real.shape[2], max_channels)
    names = list(channel_names) if channel_names is not None else [f"channel {j}" for j in range(real.shape[2])]
    fig, axes = plt.subplots(c, 1, figsize=(7, 1.8 * c), sharex=True, squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        for i, w in enumerate(real[:, :, j]):
            ax.plot(w, color="tab:blue", alpha=0.7, label="real" if i == 0 else None)
        for i, w in enumerate(fake[:, :, j]):
            ax.plot(w, color="tab:orange", alpha=0.7, label="generated" if i == 0 else None)
        ax.set_ylabel(names[j], fontsize=8)
    axes[0, 0].legend(fontsize=8)
    axes[0, 0].set_title(title or "Real vs generated windows")
    axes[-1, 0].set_xlabel("step in window")
    return fig

