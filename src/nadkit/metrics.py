"""Evaluation metrics in one place: threshold-free (AUROC, AUPRC, the low-FPR end: TPR at FPR
0.1 % and 1 %, partial AUROC for FPR ≤ 1 %) next to threshold metrics.

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

from nadkit.errors import DataError
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


def partial_auroc(y, scores, max_fpr: float = 0.01) -> float:
    """Partial AUROC over FPR ∈ [0, ``max_fpr``], McClish-standardised (scikit-learn's
    ``roc_auc_score(max_fpr=...)``): 0.5 for a random ranking, 1 for a perfect one over that
    range (the raw area, at most ``max_fpr``, is rescaled as ½·(1 + (A − A_min)/(A_max − A_min))
    with A_min = max_fpr²/2 and A_max = max_fpr). NaN when only one class is present.

    >>> partial_auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    1.0
    """
    y = np.asarray(y)
    if not 0 < y.sum() < len(y):
        return float("nan")
    return float(roc_auc_score(y, scores, max_fpr=max_fpr))


def threshold_at_fpr(y, scores, max_fpr: float = 0.01) -> float:
    """The lowest threshold (rule ``score > t``) whose FPR on the normal rows of ``y`` is at most
    ``max_fpr``: an *oracle* operating point, set on the labels of the data it is applied to (the
    cut :func:`tpr_at_fpr` reports)."""
    normal = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(y) == 0])
    if normal.size == 0:
        return float("nan")
    k = int(np.floor(max_fpr * normal.size + 1e-9))  # at most k normals may lie above
    return float(normal[normal.size - 1 - k]) if k < normal.size else float(np.nextafter(normal[0], -np.inf))


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


#: low-FPR operating points every labelled report gives (TPR at each, pAUROC up to the largest)
LOW_FPRS = (0.001, 0.01)


def binary_report(y, scores, threshold: float | None = None, pred=None, attack=None,
                  max_fpr: float = 0.01) -> dict[str, Any]:
    """Everything for a labelled evaluation: AUROC/AUPRC, the low-FPR end (TPR at FPR 0.1 % and
    1 %, ``pauroc_0.01``: McClish-standardised partial AUROC for FPR ≤ 1 %), threshold metrics
    and per class.

    Give ``threshold`` (rule: anomaly iff score > threshold) or ``pred`` directly. ``per_class``
    is the detection rate per attack class at that threshold; ``per_class_at_fpr_<max_fpr>`` the
    same at ``threshold_at_fpr_<max_fpr>``, the threshold that gives FPR ``max_fpr`` on *these*
    normals (an oracle operating point, set with the labels of the evaluated data).
    """
    s = check_scores(scores)
    y = check_labels(y, len(s))
    out: dict[str, Any] = {
        "n": len(y), "n_anomalies": int(y.sum()), "anomaly_share": float(y.mean()),
        "auroc": auroc(y, s), "auprc": auprc(y, s),
    }
    for f in sorted({*LOW_FPRS, max_fpr}):
        out[f"tpr_at_fpr_{f:g}"] = tpr_at_fpr(y, s, f)
    out[f"pauroc_{max_fpr:g}"] = partial_auroc(y, s, max_fpr)
    if pred is None and threshold is not None:
        pred = (s > threshold).astype(np.int8)
    if pred is not None:
        out["threshold"] = None if threshold is None else float(threshold)
        out.update(threshold_metrics(y, pred))
        if attack is not None:
            out["per_class"] = per_class_detection(attack, pred)
    if attack is not None and 0 < y.sum() < len(y):
        oracle = threshold_at_fpr(y, s, max_fpr)
        out[f"threshold_at_fpr_{max_fpr:g}"] = oracle
        out[f"per_class_at_fpr_{max_fpr:g}"] = per_class_detection(attack, s > oracle)
        out["operating_point_note"] = (
            f"per_class is at the model's threshold (fitted without these labels); "
            f"per_class_at_fpr_{max_fpr:g} is at threshold_at_fpr_{max_fpr:g}, the cut giving FPR "
            f"{max_fpr:g} on these normals (an oracle operating point: it uses the labels of the "
            f"evaluated data)")
    return out


# ==================================================================================================
# Series metrics: events (contiguous runs of 1s), range-based P/R (Tatbul et al. 2018),
# point adjustment, event detection rate, time to detect, per-channel F1, and `series_report`.
#
# Conventions: labels/predictions are 0/1 per time step; an "event" (real range) is a maximal run
# of 1s in ``y_true``, a "predicted range" a maximal run of 1s in ``y_pred``. Ranges are
# (start inclusive, end exclusive). Everything is computed with run boundaries from ``np.diff``,
# cumulative sums and ``np.bincount``: no loop over points or events.
# ==================================================================================================

_BIASES = ("flat", "front", "back", "middle")
_CARDINALITIES = ("one", "reciprocal", "udf_gamma")


def _binary(a, what: str) -> np.ndarray:
    """0/1 array (any shape) as bool, or a DataError naming the bad values."""
    arr = np.asarray(a)
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise DataError(f"{what} must be 0/1 (or boolean)")
    return arr.astype(bool)


def _runs(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True in the 1-D bool array ``b``."""
    d = np.diff(b.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def event_ranges(y) -> list[tuple[int, int]]:
    """Contiguous runs of 1s in ``y`` as (start, end) pairs, end exclusive.

    >>> event_ranges([0, 1, 1, 0, 0, 1])
    [(1, 3), (5, 6)]
    """
    starts, ends = _runs(_binary(y, "y").ravel())
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred")
    if y.ndim != 1 or y.shape != p.shape:
        raise DataError(f"y_true {y.shape} and y_pred {p.shape} must be 1-D arrays of equal length")
    return y, p


def _event_ids(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, id) where id[t] is the event index of step t (−1 outside events)."""
    starts, ends = _runs(y)
    ids = np.cumsum(np.diff(y.astype(np.int8), prepend=np.int8(0)) == 1) - 1
    return starts, ends, np.where(y, ids, -1)


def _detected(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per event: starts, ends and whether any step in it is flagged."""
    starts, ends, ids = _event_ids(y)
    hits = np.bincount(ids[y & p], minlength=len(starts)) > 0
    return starts, ends, hits


def point_adjust(y_true, y_pred) -> np.ndarray:
    """Point adjustment (Xu et al. 2018): every step of an event counts as flagged when any step
    of it is flagged; steps outside events keep their prediction. Report metrics computed on it
    only as *point-adjusted*, next to the unadjusted ones (it inflates scores a lot).

    >>> point_adjust([0, 1, 1, 1, 0, 1], [1, 0, 1, 0, 0, 0]).tolist()
    [1, 1, 1, 1, 0, 0]
    """
    y, p = _pair(y_true, y_pred)
    _, _, ids = _event_ids(y)
    _, _, hits = _detected(y, p)
    out = p.copy()
    out[y] = hits[ids[y]]
    return out.astype(np.int8)


def point_adjusted_f1(y_true, y_pred) -> float:
    """F1 after :func:`point_adjust`. Always report it labelled as point-adjusted, next to the
    point-wise and range-based F1, never alone."""
    return float(threshold_metrics(y_true, point_adjust(y_true, y_pred))["f1"])


def event_detection_rate(y_true, y_pred) -> float:
    """Share of events with at least one flagged step (NaN when there is no event).

    >>> event_detection_rate([1, 1, 0, 1, 0, 1], [0, 1, 0, 0, 0, 0])
    0.3333333333333333
    """
    y, p = _pair(y_true, y_pred)
    _, _, hits = _detected(y, p)
    return float(hits.mean()) if hits.size else float("nan")


def time_to_detect(y_true, y_pred, timestamps=None) -> dict[str, Any]:
    """Delay from each event's start to its first flagged step.

    Returns ``{"mean", "median", "per_event", "n_events", "n_detected", "unit"}``; ``per_event``
    has one delay per event, NaN for an event that was never flagged (mean and median are over
    the detected events; NaN if none). The unit is steps, or with ``timestamps`` (one per step)
    their difference: seconds for datetimes, the timestamps' own unit for numbers.

    >>> r = time_to_detect([0, 1, 1, 1, 0, 1, 1], [0, 0, 0, 1, 0, 0, 0])
    >>> r["per_event"].tolist(), r["mean"]
    ([2.0, nan], 2.0)
    """
    y, p = _pair(y_true, y_pred)
    starts, _, ids = _event_ids(y)
    flagged = np.flatnonzero(y & p)
    event, first = np.unique(ids[flagged], return_index=True)
    first_step = flagged[first]
    unit = "steps"
    if timestamps is None:
        delays = (first_step - starts[event]).astype(float)
    else:
        ts = np.asarray(timestamps)
        if ts.shape != y.shape:
            raise DataError(f"timestamps have shape {ts.shape}; expected {y.shape}")
        if np.issubdtype(ts.dtype, np.datetime64) or ts.dtype == object:
            ts = np.asarray(ts, dtype="datetime64[ns]")
            delays = (ts[first_step] - ts[starts[event]]) / np.timedelta64(1, "s")
            unit = "seconds"
        else:
            delays = (ts[first_step] - ts[starts[event]]).astype(float)
            unit = "timestamp units"
    per_event = np.full(len(starts), np.nan)
    per_event[event] = delays
    return {"mean": float(delays.mean()) if delays.size else float("nan"),
            "median": float(np.median(delays)) if delays.size else float("nan"),
            "per_event": per_event, "n_events": len(starts), "n_detected": int(event.size),
            "unit": unit}


def _bias_prefix(k: np.ndarray, length: np.ndarray, bias: str) -> np.ndarray:
    """Σ_{i=1..k} δ(i, L) for the positional bias δ of Tatbul et al. (closed forms, 0 ≤ k ≤ L):
    flat δ=1, front δ=L−i+1, back δ=i, middle δ=i for i ≤ L/2 else L−i+1."""
    k = k.astype(np.float64)
    L = length.astype(np.float64)
    if bias == "flat":
        return k
    if bias == "back":
        return k * (k + 1) / 2
    if bias == "front":
        return k * (L + 1) - k * (k + 1) / 2
    half = np.floor(L / 2)
    lo = np.minimum(k, half)
    hi = np.maximum(k, half)
    return lo * (lo + 1) / 2 + (hi - half) * (L + 1) - (hi * (hi + 1) - half * (half + 1)) / 2


def _cardinality_factor(n_overlaps: np.ndarray, cardinality: str, gamma) -> np.ndarray:
    """CardinalityFactor: 1 for at most one overlapping range, else γ(n) (1/n for reciprocal)."""
    n = n_overlaps.astype(np.float64)
    if cardinality == "one":
        return np.ones_like(n)
    if cardinality == "reciprocal":
        return 1.0 / np.maximum(n, 1.0)
    factor = np.ones_like(n) if gamma is None else np.asarray(gamma(np.maximum(n, 1.0)), float)
    return np.where(n > 1, factor, 1.0)


def _check_range_params(alpha: float, cardinality: str, bias: str) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise DataError(f"existence weight alpha must be in [0, 1], got {alpha}")
    if cardinality not in _CARDINALITIES:
        raise DataError(f"cardinality must be one of {_CARDINALITIES}, got {cardinality!r}")
    if bias not in _BIASES:
        raise DataError(f"positional bias must be one of {_BIASES}, got {bias!r}")


def _range_sums_flat(y: np.ndarray, f: np.ndarray, row_starts: np.ndarray, alpha: float = 0.0,
                     p_alpha: float = 0.0, cardinality: str = "reciprocal", bias: str = "flat",
                     gamma=None):
    """Range-based sums for several series laid end to end in the 1-D bool arrays ``y`` (labels)
    and ``f`` (flags); series k starts at ``row_starts[k]`` and no run crosses into the next
    series (each ends with a 0). Returns, per series, (Σ precision over predicted ranges,
    number of predicted ranges, Σ recall over real ranges, number of real ranges).

    An overlap segment (run of y & f) lies in exactly one real and one predicted range, and a
    (real, predicted) pair overlaps in at most one segment, so each range's Σω and its number of
    overlapping ranges (the cardinality factor's count) are bincounts over the segments.
    """
    n_rows = len(row_starts)
    rs, re = _runs(y)
    ps, pe = _runs(f)
    ss, se = _runs(y & f)

    def side(starts, ends, weight):
        owner = np.searchsorted(starts, ss, side="right") - 1  # the range holding each segment
        length = ends - starts
        o_start, o_len = starts[owner], length[owner]
        omega = (_bias_prefix(se - o_start, o_len, bias) - _bias_prefix(ss - o_start, o_len, bias)) \
            / _bias_prefix(length, length, bias)[owner]
        total = np.bincount(owner, weights=omega, minlength=len(starts))
        n_over = np.bincount(owner, minlength=len(starts))
        per_range = (1 - weight) * _cardinality_factor(n_over, cardinality, gamma) * total
        if weight:
            per_range += weight * (n_over > 0)
        row = np.searchsorted(row_starts, starts, side="right") - 1
        return (np.bincount(row, weights=per_range, minlength=n_rows),
                np.bincount(row, minlength=n_rows))

    p_sum, n_pred = side(ps, pe, p_alpha)
    r_sum, n_real = side(rs, re, alpha)
    return p_sum, n_pred, r_sum, n_real


def _range_sums(Y: np.ndarray, F: np.ndarray, alpha: float = 0.0, p_alpha: float = 0.0,
                cardinality: str = "reciprocal", bias: str = "flat", gamma=None):
    """:func:`_range_sums_flat` for each row of ``F`` (K, m) against ``Y`` (broadcast to it)."""
    Y, F = np.broadcast_arrays(np.atleast_2d(Y), np.atleast_2d(F))
    K, m = F.shape
    pad = np.zeros((K, 1), dtype=bool)
    return _range_sums_flat(np.hstack([Y, pad]).ravel(), np.hstack([F, pad]).ravel(),
                            np.arange(K) * (m + 1), alpha, p_alpha, cardinality, bias, gamma)


def range_precision_recall(y_true, y_pred, alpha: float = 0.0, cardinality: str = "reciprocal",
                           bias: str = "flat", *, p_alpha: float = 0.0,
                           gamma=None) -> tuple[float, float]:
    """Range-based precision and recall of Tatbul et al. (NeurIPS 2018).

    Recall averages, over real ranges R_i, ``alpha·Existence + (1−alpha)·γ·Σ_j ω(R_i, R_i∩P_j)``;
    precision averages the same over predicted ranges P_j with existence weight ``p_alpha``
    (0, as the paper recommends, unless given). ω is the positional-bias weighted share of the
    range covered (``bias``: flat, front, back, middle); γ = 1 for at most one overlapping range,
    else 1/k for ``cardinality="reciprocal"`` (k ranges), 1 for "one", and ``gamma(k)`` for
    "udf_gamma" (default 1, like ``prts``). Same values as ``prts.ts_precision/ts_recall`` with
    the same parameters; no predicted range gives precision 0, no real range recall 0 (as prts).

    >>> y = [0, 1, 1, 1, 1, 0, 0, 0]
    >>> range_precision_recall(y, [0, 0, 1, 1, 0, 0, 0, 1])
    (0.5, 0.5)
    >>> range_precision_recall(y, [0, 1, 0, 0, 0, 0, 0, 0], bias="front")  # ω = 4/(4+3+2+1)
    (1.0, 0.4)
    """
    _check_range_params(alpha, cardinality, bias)
    _check_range_params(p_alpha, cardinality, bias)
    y, p = _pair(y_true, y_pred)
    p_sum, n_pred, r_sum, n_real = _range_sums(y, p, alpha, p_alpha, cardinality, bias, gamma)
    precision = float(p_sum[0] / n_pred[0]) if n_pred[0] else 0.0
    recall = float(r_sum[0] / n_real[0]) if n_real[0] else 0.0
    return precision, recall


def range_f1(y_true, y_pred, alpha: float = 0.0, cardinality: str = "reciprocal",
             bias: str = "flat", **kw: Any) -> float:
    """Harmonic mean of :func:`range_precision_recall` (0 when both are 0)."""
    return fbeta(*range_precision_recall(y_true, y_pred, alpha, cardinality, bias, **kw), 1.0)


def per_channel_f1(labels, preds, kind: str = "point", **range_kw: Any) -> np.ndarray:
    """F1 of each channel's predictions against its own labels, both (n, c) 0/1.

    ``kind="point"`` is point-wise F1, ``"range"`` range-based F1 (:func:`range_f1`, keyword
    arguments passed on). A channel without any labelled anomaly gets NaN (F1 is undefined
    there; use ``np.nanmean`` to average over the labelled channels).

    >>> per_channel_f1([[1, 0], [1, 0], [0, 0]], [[1, 1], [0, 0], [0, 0]]).round(3).tolist()
    [0.667, nan]
    """
    Y = _binary(labels, "labels")
    P = _binary(preds, "preds")
    if Y.ndim != 2 or Y.shape != P.shape:
        raise DataError(f"labels {Y.shape} and preds {P.shape} must be (n, channels) arrays of one shape")
    n_pos = Y.sum(axis=0)
    if kind == "point":
        tp = (Y & P).sum(axis=0)
        denom = n_pos + P.sum(axis=0)
        f1 = np.divide(2.0 * tp, denom, out=np.zeros(len(n_pos)), where=denom > 0)
    elif kind == "range":
        alpha = range_kw.pop("alpha", 0.0)
        cardinality = range_kw.pop("cardinality", "reciprocal")
        bias = range_kw.pop("bias", "flat")
        p_alpha = range_kw.pop("p_alpha", 0.0)
        _check_range_params(alpha, cardinality, bias)
        p_sum, n_pred, r_sum, n_real = _range_sums(Y.T, P.T, alpha, p_alpha, cardinality, bias,
                                                   **range_kw)
        prec = np.divide(p_sum, n_pred, out=np.zeros(len(n_pos)), where=n_pred > 0)
        rec = np.divide(r_sum, n_real, out=np.zeros(len(n_pos)), where=n_real > 0)
        f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(len(n_pos)), where=prec + rec > 0)
    else:
        raise DataError(f"kind must be 'point' or 'range', got {kind!r}")
    return np.where(n_pos > 0, f1, np.nan)


def _nan_to_none(v: Any) -> Any:
    """JSON-safe copy: NaN → None, arrays → lists (reports are written with allow_nan=False)."""
    if isinstance(v, dict):
        return {k: _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, np.ndarray | list | tuple):
        return [_nan_to_none(x) for x in np.asarray(v, dtype=object).tolist()]
    if isinstance(v, float | np.floating):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def series_report(y, scores=None, threshold: float | None = None, pred=None, channel_labels=None,
                  channel_pred=None, timestamps=None, *, range_alpha: float = 0.0,
                  range_cardinality: str = "reciprocal", range_bias: str = "flat") -> dict[str, Any]:
    """Everything for a labelled series evaluation, as a JSON-safe dict (NaN → None).

    Steps whose score is NaN (the model's warm-up) are ignored: they are left out of the point
    metrics and masked (label 0, not flagged) for the event metrics; ``n_ignored`` and
    ``n_anomalies_ignored`` say how many. Contents: point ``auroc``/``auprc``; with ``threshold``
    (rule: score > threshold) or ``pred``: point precision/recall/F1/F2/FPR/confusion,
    ``range_precision``/``range_recall``/``range_f1`` (Tatbul et al., parameters in
    ``range_params``), ``point_adjusted_precision/recall/f1`` (labelled; never report alone),
    ``event_detection_rate``, ``time_to_detect_*``; with ``channel_labels`` and ``channel_pred``
    (n, c): ``per_channel_f1``/``per_channel_range_f1`` (None for channels without labels) and
    their means over labelled channels.

    >>> y = np.r_[np.zeros(50), np.ones(5), np.zeros(45)]
    >>> s = np.r_[np.full(3, np.nan), np.linspace(0, 1, 97)]; s[50:55] += 2
    >>> r = series_report(y, s, threshold=2.0)
    >>> r["n_ignored"], r["auroc"], r["range_f1"], r["point_adjusted_f1"], r["f1"]
    (3, 1.0, 1.0, 1.0, 1.0)
    """
    y = _binary(y, "y")
    if y.ndim != 1 or y.size == 0:
        raise DataError(f"y must be a non-empty 1-D 0/1 array; got shape {y.shape}")
    n = y.size
    valid = np.ones(n, dtype=bool)
    out: dict[str, Any] = {"n": n}
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (n,):
            raise DataError(f"scores have shape {s.shape}; expected ({n},) to match the labels")
        if np.isinf(s).any():
            raise DataError(f"scores contain {int(np.isinf(s).sum())} inf values")
        valid = ~np.isnan(s)
        if not valid.any():
            raise DataError("every score is NaN (the series is shorter than the model's window?)")
    out.update({"n_ignored": int((~valid).sum()), "n_anomalies_ignored": int((y & ~valid).sum()),
                "n_anomalies": int(y[valid].sum()), "anomaly_share": float(y[valid].mean())})
    ym = y & valid  # labels with the ignored steps masked out
    out["n_events"] = len(_runs(ym)[0])
    if scores is not None:
        out["auroc"] = auroc(y[valid], s[valid])
        out["auprc"] = auprc(y[valid], s[valid])
    if pred is None and threshold is not None:
        if scores is None:
            raise DataError("a threshold needs scores")
        pred = np.where(valid, s > threshold, False)
    if pred is not None:
        p = _binary(pred, "pred")
        if p.shape != (n,):
            raise DataError(f"pred has shape {p.shape}; expected ({n},)")
        p = p & valid
        out["threshold"] = None if threshold is None else float(threshold)
        out.update(threshold_metrics(y[valid], p[valid]))
        kw = {"alpha": range_alpha, "cardinality": range_cardinality, "bias": range_bias}
        rp, rr = range_precision_recall(ym, p, **kw)
        out.update({"range_precision": rp, "range_recall": rr, "range_f1": fbeta(rp, rr, 1.0),
                    "range_params": kw})
        pa = threshold_metrics(y[valid], point_adjust(ym, p)[valid])
        out.update({"point_adjusted_precision": pa["precision"],
                    "point_adjusted_recall": pa["recall"], "point_adjusted_f1": pa["f1"]})
        out["event_detection_rate"] = event_detection_rate(ym, p)
        ttd = time_to_detect(ym, p, timestamps)
        out.update({"n_events_detected": ttd["n_detected"], "time_to_detect_mean": ttd["mean"],
                    "time_to_detect_median": ttd["median"], "time_to_detect_unit": ttd["unit"],
                    "time_to_detect": ttd["per_event"]})
    if (channel_labels is None) != (channel_pred is None):
        raise DataError("per-channel F1 needs both channel_labels and channel_pred")
    if channel_labels is not None:
        cl = _binary(channel_labels, "channel_labels")
        cp = _binary(channel_pred, "channel_pred")
        if cl.ndim != 2 or cl.shape[0] != n or cl.shape != cp.shape:
            raise DataError(f"channel_labels {cl.shape} and channel_pred {cp.shape} must both be "
                            f"({n}, channels)")
        cl, cp = cl & valid[:, None], cp & valid[:, None]
        f1p = per_channel_f1(cl, cp, "point")
        f1r = per_channel_f1(cl, cp, "range", alpha=range_alpha, cardinality=range_cardinality,
                             bias=range_bias)
        labelled = ~np.isnan(f1p)
        out.update({
            "n_channels": int(cl.shape[1]), "n_channels_labelled": int(labelled.sum()),
            "per_channel_f1": f1p, "per_channel_f1_mean": float(f1p[labelled].mean()) if labelled.any() else float("nan"),
            "per_channel_range_f1": f1r,
            "per_channel_range_f1_mean": float(f1r[labelled].mean()) if labelled.any() else float("nan"),
        })
    return _nan_to_none(out)
