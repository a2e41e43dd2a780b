"""One evaluation for both kinds of model: labelled data → a :class:`Report` → metrics.json and plots.

:func:`evaluate` scores labelled data with a pipeline (or a bare detector on its feature matrix)
and computes the numbers with :mod:`nadkit.metrics`: for tables :func:`table_metrics` (AUROC,
AUPRC, TPR at FPR 0.1 % / 1 %, pAUROC, P/R/F1/F2 at the threshold, detection per class at the
threshold and at the oracle FPR-1 % cut, the FPR the threshold promised), for series
:func:`series_metrics` (point, range-based and event metrics, per channel; VUS with TSB-AD when
asked). :func:`save` writes ``metrics.json`` and the plots (:func:`write_plots`, drawn by
:mod:`nadkit.plots`). ``nadkit evaluate``, the benches, the service's evaluation page and the
thesis protocol all go through here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nadkit.errors import DataError
from nadkit.thresholds import Threshold

#: what a terminal summary of a report shows, per kind (metrics.json has everything)
SUMMARY_KEYS = {
    "table": ("auroc", "auprc", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "pauroc_0.01", "precision", "recall",
              "f1", "f2", "fpr", "accuracy"),
    "series": ("auroc", "auprc", "precision", "recall", "f1", "range_f1", "point_adjusted_f1",
               "event_detection_rate"),
}
SERIES_NOTE = ("the first window-1 steps have no score and are left out (n_ignored); point_adjusted_* is "
               "point-adjusted (optimistic): read it next to the point and range metrics")


@dataclass
class Report:
    """An evaluation: ``metrics`` (the JSON-safe content of metrics.json) and what the plots need."""

    kind: str  # "table" or "series"
    metrics: dict[str, Any]
    name: str  # the model, in plot titles
    data: str  # the data, in plot titles
    y: np.ndarray
    scores: np.ndarray  # per row, or per step (NaN where a series model gives no score)
    threshold: Any = None  # the fitted Threshold (or a number)
    history: list[dict[str, float]] = field(default_factory=list)
    series: dict[str, Any] | None = None  # series: time, channel names and labels, the bands

    def to_dict(self) -> dict[str, Any]:
        """The metrics.json content."""
        return dict(self.metrics)

    def __getitem__(self, key: str) -> Any:
        return self.metrics[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.metrics.get(key, default)

    @property
    def summary_keys(self) -> tuple[str, ...]:
        """The metrics a one-line summary shows (:data:`SUMMARY_KEYS`)."""
        return SUMMARY_KEYS[self.kind]


# ---------------------------------------------------------------------------------- metrics
def score_metrics(y, scores, clusters=None) -> dict[str, float]:
    """Threshold-free AUROC/AUPRC and, with ``clusters``, the thesis' cluster-weighted AUROC."""
    from nadkit.metrics import auprc, auroc, cluster_weighted_auroc

    out = {"auroc": auroc(y, scores), "auprc": auprc(y, scores)}
    if clusters is not None:
        out["cluster_weighted_auroc"] = cluster_weighted_auroc(y, scores, clusters)
    return out


def table_metrics(y, scores, threshold: Any = None, attack=None, clusters=None) -> dict[str, Any]:
    """:func:`nadkit.metrics.binary_report` at ``threshold`` (a fitted Threshold or a number),
    the cluster-weighted AUROC with ``clusters``, and for a Threshold its method and the 95 %
    interval of the FPR it promised for this many fresh normals (``threshold_fpr_interval``)."""
    from nadkit.metrics import binary_report, cluster_weighted_auroc

    y = np.asarray(y)
    value = threshold if threshold is None or isinstance(threshold, int | float | np.number) else threshold.value_
    report = binary_report(y, scores, threshold=value, attack=attack)
    if clusters is not None:  # clustered models: the thesis' metric, labelled as such
        report["cluster_weighted_auroc"] = cluster_weighted_auroc(y, scores, clusters)
    if isinstance(threshold, Threshold):
        report["threshold_method"] = threshold.describe()
        n_normal = int((y == 0).sum())
        promise = threshold.promise(n_fresh=n_normal) if n_normal else None
        if promise is not None and promise.interval is not None:
            # what the threshold promised for this many fresh normals, next to what it achieved
            report["threshold_fpr_interval"] = list(promise.interval)
            report["threshold_expected_fpr"] = promise.expected_fpr
    return report


def series_metrics(y, scores, threshold: float | None = None, pred=None, channel_labels=None,
                   channel_pred=None, timestamps=None, vus_window: int | None = None) -> dict[str, Any]:
    """:func:`nadkit.metrics.series_report`, plus TSB-AD's VUS-PR/VUS-ROC on the finite scores
    with ``vus_window`` (the ``peers`` extra)."""
    from nadkit.io import json_safe
    from nadkit.metrics import series_report

    report = series_report(y, scores, threshold=threshold, pred=pred, channel_labels=channel_labels,
                           channel_pred=channel_pred, timestamps=timestamps)
    if vus_window is not None:
        from nadkit.experiments.peers import vus

        s = np.asarray(scores, dtype=np.float64)
        ok = np.isfinite(s)
        report.update(json_safe(vus(np.asarray(y)[ok], s[ok], vus_window)))
    return report


# -------------------------------------------------------------------------------- evaluate
def warn_one_class(y) -> None:
    """A warning when the labels have one class only (two-class metrics are then undefined)."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        warnings.warn(f"the labels have one class only ({len(y):,} rows, all "
                      f"{'attacks' if len(y) and y[0] else 'normal'}): AUROC, AUPRC and other "
                      "two-class metrics are undefined (null in metrics.json)", stacklevel=3)


def _name_of(data: Any, default: str) -> str:
    return str(getattr(data, "name", None) or default)


def evaluate(model: Any, data: Any, y=None, *, attack=None, threshold: Any = None,
             X: np.ndarray | None = None, name: str | None = None, data_name: str | None = None) -> Report:
    """Score labelled ``data`` with ``model`` and compute its :class:`Report`.

    ``model``: a table or series pipeline, or a bare table detector (then ``data`` is its
    feature matrix). ``y``/``attack`` default to ``data.y``/``data.attack``; ``threshold``
    (tables) to the model's own, a series is flagged by its pipeline's threshold; ``X`` is
    the already transformed feature matrix of a table pipeline. Undefined metrics (one
    class) are None; ``name``/``data_name`` go into plot titles (and ``data`` into metrics).
    """
    from nadkit.io import json_safe

    detector = getattr(model, "detector", model)
    y = getattr(data, "y", None) if y is None else y
    if y is None:
        raise DataError(f"evaluation needs labels: {_name_of(data, 'the data')} has none")
    warn_one_class(y)
    name = name or (getattr(model, "manifest", None) or {}).get("detector") or type(detector).__name__.lower()
    data_name = data_name or _name_of(data, "data")
    thr = threshold
    if thr is None:
        thr = model.threshold if detector is not model else getattr(detector, "threshold_", None)
    history = list(getattr(detector, "history_", None) or [])
    if getattr(detector, "input_kind", "table") == "series":
        return _evaluate_series(model, data, np.asarray(y), thr, name, data_name, history)
    attack = getattr(data, "attack", None) if attack is None else attack
    if X is None:
        X = model.transform(data) if detector is not model else np.asarray(data)
    scores = detector.score(X)
    clusters = detector.assign_clusters(X) if detector.has_tag("clusters") else None
    metrics = table_metrics(y, scores, thr, attack=attack, clusters=clusters)
    metrics["data"] = data_name
    return Report("table", json_safe(metrics), name, data_name, np.asarray(y), scores, thr, history)


def _evaluate_series(pipe: Any, series: Any, y: np.ndarray, thr: Any, name: str, data_name: str,
                     history: list) -> Report:
    from nadkit.io import json_safe

    b = pipe.bands(series)
    channel_labels = getattr(series, "channel_labels", None)
    metrics = series_metrics(y, b["step_score"], pred=b["step_flag"], channel_labels=channel_labels,
                             channel_pred=None if channel_labels is None else b["flag"],
                             timestamps=getattr(series, "time", None))
    metrics.update({"threshold_method": thr.describe(), "data": data_name,
                    "n_unscored": int(pipe.detector.n_unscored_), "note": SERIES_NOTE})
    n_normal = int((np.isfinite(b["step_score"]) & (y == 0)).sum())
    promise = thr.promise(n_fresh=n_normal) if n_normal and isinstance(thr, Threshold) else None
    if promise is not None and promise.interval is not None:
        # the step FPR the threshold promised for this many fresh normal steps, next to what it achieved
        metrics.update({"threshold_fpr_interval": list(promise.interval),
                        "threshold_expected_fpr": promise.expected_fpr, "threshold_fpr_n": n_normal})
    view = {"time": getattr(series, "time", None), "channels": list(pipe.preprocessor.channels_),
            "channel_labels": channel_labels, "bands": b}
    return Report("series", json_safe(metrics), name, data_name, y, b["step_score"], thr, history, view)


# ---------------------------------------------------------------------------------- output
def write_plots(report: Report, directory: str | os.PathLike[str], training: bool = False) -> list[Path]:
    """The report's PNG plots in ``directory``; the paths written. Tables: histogram, ROC/PR,
    the low-FPR end (both classes present), detection per class (with attack classes); series:
    the score per step with the labelled ranges, the channels with their bands. ``training``
    adds the training curves of a model that has them."""
    from nadkit import plots

    d = Path(directory)
    name, data, y, s, thr = report.name, report.data, report.y, report.scores, report.threshold
    value = float(thr) if isinstance(thr, int | float | np.number) else getattr(thr, "value_", None)
    figures: dict[str, Any] = {}
    if report.kind == "series":
        v = report.series or {}
        b = v["bands"]
        figures["scores.png"] = lambda: plots.series_scores(v["time"], s, threshold=value, y=y,
                                                            title=f"{name}: score per step on {data}")
        figures["channels.png"] = lambda: plots.series_channels(
            v["time"], b["value"], b["mu"], b["sigma"], b["alpha_up"], b["alpha_down"], b["flag"], v["channels"],
            labels=v["channel_labels"] if v["channel_labels"] is not None else y,
            lower=b["lower"], upper=b["upper"],
            title=f"{name}: channels with the threshold's bands on {data}")
    else:
        figures["histogram.png"] = lambda: plots.score_histogram(s, y, value, title=f"{name}: scores on {data}")
        figures["roc_pr.png"] = lambda: plots.roc_pr({name: (y, s)}, title=f"{name} on {data}")
        if len(np.unique(y)) == 2:  # the curve needs both classes
            figures["fpr_tpr.png"] = lambda: plots.fpr_tpr_curve(y, s, thr, title=f"{name} on {data}: low-FPR end")
        if "per_class" in report.metrics:
            figures["per_class.png"] = lambda: plots.per_class_rates(report.metrics["per_class"],
                                                                     title=f"{name}: detection per class")
    if training and report.history:
        figures["training.png"] = lambda: plots.training_curves(report.history, title=f"{name}: training")
    for file, draw in figures.items():
        plots.save(draw(), d / file)
    return [d / f for f in figures]


def save(report: Report, directory: str | os.PathLike[str], *, plots: bool = True, training: bool = False,
         atomic: bool = True, marker: str | None = "report", extra: Mapping[str, Any] | None = None) -> Path:
    """``metrics.json`` (the report's metrics and ``extra``) and the plots in ``directory``.
    ``atomic``: the whole directory appears at once (or nothing), with the output ``marker``;
    otherwise the files are written into it as they come."""
    from nadkit.io import atomic_dir, write_json, write_output_marker

    target = Path(directory)

    def write(d: Path) -> None:
        write_json(d / "metrics.json", {**report.metrics, **(extra or {})}, nan_as_null=True)
        if plots:
            write_plots(report, d, training=training)
        if marker:
            write_output_marker(d, marker)

    if atomic:
        with atomic_dir(target) as tmp:
            write(tmp)
    else:
        target.mkdir(parents=True, exist_ok=True)
        write(target)
    return target
