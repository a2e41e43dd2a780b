"""Evaluation metrics in one place: threshold-free (AUROC, AUPRC) next to threshold metrics.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
>>> r = binary_report(y, s, threshold=0.3)
>>> round(r["auroc"], 3), r["recall"], r["confusion"]
(0.75, 1.0, {'tn': 1, 'fp': 1, 'fn': 0, 'tp': 2})
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from nadkit.validation import check_labels, check_scores


def auroc(y, scores) -> float:
    """Area under the ROC curve (NaN when only one class is present)."""
    y = np.asarray(y)
    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")


def auprc(y, scores) -> float:
    """Average precision (area under the precision-recall curve; chance level = anomaly share)."""
    y = np.asarray(y)
    return float(average_precision_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")


def per_cluster(y, scores, clusters, metric=None) -> dict[int, dict[str, float]]:
    """Size, anomaly count and ``metric`` (default :func:`auroc`) of the rows of each cluster."""
    y, s, c = np.asarray(y), np.asarray(scores), np.asarray(clusters)
    metric = metric or auroc
    out = {}
    for k in np.unique(c):
        rows = c == k
        out[int(k)] = {"n": int(rows.sum()), "n_anomalies": int(y[rows].sum()),
                       "value": metric(y[rows], s[rows])}
    return out


def cluster_weighted_auroc(y, scores, clusters, metric=None) -> float:
    """The thesis' clustered-model AUROC: Σ_k (n_k / n) · AUROC_k over the rows routed to each
    cluster k. NOT the global AUROC of the scores: it ignores how scores of different clusters
    compare. A cluster holding one class only counts as 0 (what the thesis' torchmetrics gave).
    ``metric`` swaps in another per-cluster metric (e.g. :func:`auprc`).

    >>> y = np.array([0, 1, 0, 1]); s = np.array([0.1, 0.2, 5.0, 6.0])
    >>> cluster_weighted_auroc(y, s, [0, 0, 1, 1]), auroc(y, s)
    (1.0, 0.75)
    """
    parts = per_cluster(y, scores, clusters, metric)
    n = sum(p["n"] for p in parts.values())
    return float(sum(p["n"] / n * (p["value"] if np.isfinite(p["value"]) else 0.0)
                     for p in parts.values()))


def tpr_at_fpr(y, scores, max_fpr: float = 0.01) -> float:
    """Highest detection rate reachable with false-positive rate ≤ ``max_fpr`` (an oracle cut:
    reported as a threshold-free operating point, like AUROC)."""
    y = np.asarray(y)
    if not 0 < y.sum() < len(y):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    ok = fpr <= max_fpr
    return float(tpr[ok].max()) if ok.any() else 0.0


def mcc(y, pred) -> float:
    """Matthews correlation coefficient of 0/1 predictions (0 when undefined)."""
    c = confusion(y, pred)
    tp, fp, fn, tn = (float(c[k]) for k in ("tp", "fp", "fn", "tn"))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denom) if denom > 0 else 0.0


def confusion(y, pred) -> dict[str, int]:
    y = np.asarray(y).astype(bool)
    p = np.asarray(pred).astype(bool)
    return {"tn": int((~y & ~p).sum()), "fp": int((~y & p).sum()),
            "fn": int((y & ~p).sum()), "tp": int((y & p).sum())}


def fbeta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    denom = b2 * precision + recall
    return float((1 + b2) * precision * recall / denom) if denom > 0 else 0.0


def threshold_metrics(y, pred) -> dict[str, Any]:
    """Precision, recall, F1, F2, accuracy, FPR and the confusion matrix of 0/1 predictions."""
    c = confusion(y, pred)
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": precision, "recall": recall, "f1": fbeta(precision, recall, 1.0),
        "f2": fbeta(precision, recall, 2.0), "accuracy": (tp + tn) / max(tp + tn + fp + fn, 1),
        "fpr": fp / (fp + tn) if fp + tn else 0.0, "mcc": mcc(y, pred), "confusion": c,
    }


def per_class_detection(attack, pred) -> dict[str, dict[str, float]]:
    """Detection rate (share flagged) per attack class; for ``normal`` it is the FPR."""
    attack = np.asarray(attack).astype(str)
    pred = np.asarray(pred).astype(bool)
    classes, inverse, counts = np.unique(attack, return_inverse=True, return_counts=True)
    flagged = np.bincount(inverse, weights=pred, minlength=len(classes))
    order = np.argsort(-counts)
    return {str(classes[i]): {"n": int(counts[i]), "detected": int(flagged[i]),
                              "rate": float(flagged[i] / counts[i])} for i in order}


def binary_report(y, scores, threshold: float | None = None, pred=None, attack=None,
                  max_fpr: float = 0.01) -> dict[str, Any]:
    """Everything for a labelled evaluation: AUROC/AUPRC, TPR@FPR, threshold metrics, per class.

    Give ``threshold`` (rule: anomaly iff score > threshold) or ``pred`` directly.
    """
    s = check_scores(scores)
    y = check_labels(y, len(s))
    out: dict[str, Any] = {
        "n": len(y), "n_anomalies": int(y.sum()), "anomaly_share": float(y.mean()),
        "auroc": auroc(y, s), "auprc": auprc(y, s),
        f"tpr_at_fpr_{max_fpr:g}": tpr_at_fpr(y, s, max_fpr),
    }
    if pred is None and threshold is not None:
        pred = (s > threshold).astype(np.int8)
    if pred is not None:
        out["threshold"] = None if threshold is None else float(threshold)
        out.update(threshold_metrics(y, pred))
        if attack is not None:
            out["per_class"] = per_class_detection(attack, pred)
    return out
