"""Plots of results (matplotlib, written as PNG): score histograms, ROC/PR, per-class rates,
training curves. Each function returns a Figure; :func:`save` writes it atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from nadkit.io import atomic_path


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


def training_curves(history: Sequence[Mapping[str, float]], title: str = "") -> Figure:
    """Per-epoch losses logged by the shared trainer."""
    fig, ax = plt.subplots(figsize=(7, 4))
    keys = sorted({k for row in history for k in row if k.endswith("loss")})
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
