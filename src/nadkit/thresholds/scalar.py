"""Scalar thresholds: one value on one score per row, ``anomaly iff score > value_``.

:class:`Quantile` and :class:`TargetFPR` sit at an order statistic of the normal scores and
promise an FPR on fresh normals; :class:`BestF1` and :class:`BestAccuracy` need a labelled
validation split; :class:`POT` fits an extreme-value tail; :class:`Fixed` is given.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import stats

from nadkit.errors import DataError, NotFittedError
from nadkit.thresholds.base import (
    FPR_INTERVAL_LEVEL,
    CalibrationWarning,
    Promise,
    Threshold,
    fresh_interval,
    min_calibration_rows,
    percent,
    serial_count,
)
from nadkit.thresholds.tail import normal_tail
from nadkit.validation import check_labels, check_scores


class ScalarThreshold(Threshold):
    """A threshold on one score per row: ``fit(scores, y=None)`` sets ``value_`` from scores of
    shape (n,) (labels ``y`` (n,), if given, leave the anomalies out or, for the methods that
    need them, pick the value); ``predict`` flags ``score > value_`` elementwise, any shape.
    Scores of shape (n, c) are refused with a :class:`~nadkit.errors.DataError`: aggregate
    per-channel scores into one per row first (a series detector's ``score``), or use the
    per-channel ``alpha`` threshold."""

    def fit(self, scores, y=None, data_hash: str | None = None) -> ScalarThreshold:
        if np.ndim(scores) == 2:
            raise DataError(f"the {self.method!r} threshold takes one score per row, shape (n,); "
                            f"got shape {np.shape(scores)} (aggregate per-channel scores first, "
                            "or use the per-channel 'alpha' threshold)")
        s = check_scores(scores)
        if y is not None:
            y = check_labels(y, len(s))
        elif self.needs_labels:
            raise DataError(f"threshold method {self.method!r} needs labels (a labelled validation split)")
        self.value_ = float(self._fit(s, y))
        self._set_fitted(len(s), len(s) if y is None else (y == 0).sum(), data_hash)
        if self.n_normal_:  # the normal scores' upper tail, for incident severity (nadkit.incidents)
            self.normal_tail_ = normal_tail(s if y is None else s[y == 0])
        return self

    def _fit(self, s: np.ndarray, y: np.ndarray | None) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, scores) -> np.ndarray:
        self._check_fitted()
        return (np.asarray(scores) > self.value_).astype(np.int8)

    def _check_fitted(self) -> None:
        if not hasattr(self, "value_"):
            raise NotFittedError(f"{type(self).__name__} threshold is not fitted")

    def step_thresholds(self, scores, history=None) -> np.ndarray:
        """``value_`` for every step (a fixed threshold ignores ``history``)."""
        self._check_fitted()
        return np.full(len(np.asarray(scores)), self.value_)

    def band_alphas(self, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        v = np.full(n_channels, self.value_)
        return v, v

    def describe(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.method}({p}) = {self.value_:.6g} from {self.n_calibration_} scores"

    # -- saving: the value, checked finite ---------------------------------------------------------
    def _saved_value(self) -> float:
        return self.value_

    def _load_state(self, d: dict[str, Any]) -> None:
        value = float(d["value"])
        if not np.isfinite(value):
            raise DataError(f"saved {self.method!r} threshold value must be finite, got {value}")
        self.value_ = value


def _normal_scores(s: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    normal = s if y is None else s[y == 0]
    if normal.size == 0:
        raise DataError("no normal rows to calibrate on")
    return normal


class OrderStatistic(ScalarThreshold):
    """A threshold at an order statistic of the normal scores, with the FPR it promises:
    ``n_above_`` calibration normals above it, ``expected_fpr_`` = (k + 1)/(n + 1) on fresh
    normals and ``fpr_interval_``, the 95 % interval of that FPR (:func:`fpr_interval`)."""

    def _target(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _index(self, n: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, s, y):
        normal = _normal_scores(s, y)
        n_effective = serial_count(normal) if self.serial else None   # in time order
        normal = np.sort(normal)
        n = normal.size
        i = self._index(n)
        self._set_promise(n, n - 1 - i, n_effective)
        return normal[i]

    def _set_promise(self, n: int, n_above: int, n_effective: float | None = None) -> None:
        """The promise of k = ``n_above`` of n calibration scores above the threshold; with
        autocorrelated scores (``serial``) the interval and the warning count ``n_effective``
        independent ones, the k above scaled alike (the threshold itself is unchanged)."""
        self.n_above_ = int(n_above)
        self.expected_fpr_ = (n_above + 1) / (n + 1)
        self.n_effective_ = float(n if n_effective is None else min(max(n_effective, 1.0), n))
        self.fpr_interval_ = fresh_interval(n, self.n_above_, self.n_effective_)
        target, need = self._target(), min_calibration_rows(self._target())
        lo, hi = self.fpr_interval_
        if (n + 1) * target < 1:
            warnings.warn(f"{n:,} normal calibration scores cannot hold a target FPR of {target:g} "
                          f"(it needs at least {int(np.ceil(1 / target - 1)):,}; {need:,} or more to "
                          f"hold it reliably): the threshold is the largest normal score, expected "
                          f"FPR {self.expected_fpr_:.3g}", CalibrationWarning, stacklevel=4)
        elif self.n_effective_ < min(n, need):
            warnings.warn(f"{n:,} calibration scores of a series, but neighbouring steps' scores are "
                          f"correlated over about {n / self.n_effective_:.0f} steps: they count as "
                          f"about {self.n_effective_:,.0f} independent ones (want {need:,} or more for "
                          f"a target FPR of {target:g}), so the FPR on fresh normal steps lies in "
                          f"[{lo:.3g}, {hi:.3g}] (95 %); calibrate on a longer normal period",
                          CalibrationWarning, stacklevel=4)
        elif n < need:
            warnings.warn(f"only {n:,} normal calibration scores for a target FPR of {target:g} "
                          f"(want {need:,} or more): the FPR on fresh normals lies in "
                          f"[{lo:.3g}, {hi:.3g}] (95 %); calibrate on more normal rows",
                          CalibrationWarning, stacklevel=4)

    @property
    def _serial(self) -> bool:
        """Whether the scores were counted as fewer independent ones than there are."""
        return getattr(self, "n_effective_", self.n_normal_) < self.n_normal_

    def interval(self, level: float = FPR_INTERVAL_LEVEL, n_fresh: int | None = None) -> tuple[float, float]:
        """The ``level`` interval of the FPR on fresh normals (``n_fresh`` of them: the share
        flagged on a finite set; steps of a series count as the calibration scores did, by
        the same effective fraction); see :func:`fpr_interval`."""
        if not hasattr(self, "n_above_"):
            raise NotFittedError(f"{type(self).__name__} threshold is not fitted or was saved "
                                 "without its FPR interval")
        return fresh_interval(self.n_normal_, self.n_above_, getattr(self, "n_effective_", None), level, n_fresh)

    def promise(self, n_fresh: int | None = None) -> Promise | None:
        """Target FPR, expected FPR on fresh normals and the 95 % interval of the share flagged
        among ``n_fresh`` of them (the latter two None for thresholds saved without them)."""
        if not hasattr(self, "n_above_"):
            return Promise(self._target())
        return Promise(self._target(), self.expected_fpr_, self.interval(n_fresh=n_fresh))

    def describe(self) -> str:
        text = super().describe()
        if hasattr(self, "fpr_interval_"):
            lo, hi = self.fpr_interval_
            text += (f"; FPR on fresh normals: expected {self.expected_fpr_:.3g}, "
                     f"95 % interval [{lo:.3g}, {hi:.3g}]")
            if self._serial:
                text += f" (the scores count as about {self.n_effective_:,.0f} independent ones)"
        return text

    def _state(self) -> dict[str, Any]:
        if not hasattr(self, "n_above_"):
            return {}
        state = {"n_above": self.n_above_, "expected_fpr": self.expected_fpr_,
                 "fpr_interval": list(self.fpr_interval_), "fpr_interval_level": FPR_INTERVAL_LEVEL}
        if self._serial:
            state["n_effective"] = self.n_effective_   # autocorrelated (series) scores only
        return state

    def _load_state(self, d: dict[str, Any]) -> None:
        super()._load_state(d)
        try:  # optional: thresholds saved before the interval existed have none
            if d.get("n_above") is not None:
                self.n_above_ = int(d["n_above"])
                self.expected_fpr_ = float(d["expected_fpr"])
                lo, hi = (float(v) for v in d["fpr_interval"])
                self.fpr_interval_ = (lo, hi)
                if d.get("n_effective") is not None:
                    self.n_effective_ = float(d["n_effective"])
                    if not 1.0 <= self.n_effective_ <= self.n_normal_:
                        raise ValueError(f"n_effective {self.n_effective_} outside [1, n_normal]")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"saved {self.method!r} threshold has a malformed FPR interval: {exc}") from exc


class Quantile(OrderStatistic):
    """The ``q`` quantile of normal scores (labelled anomalies, if given, are left out): the
    order statistic ``np.quantile(..., method="higher")`` picks, with the FPR interval of
    :class:`OrderStatistic` (target FPR 1 − q)."""

    method = "quantile"

    def __init__(self, q: float = 0.99) -> None:
        if not 0 < q < 1:
            raise DataError(f"quantile q must be in (0, 1), got {q}")
        self.q = q

    def _target(self) -> float:
        return 1.0 - self.q

    def _index(self, n: int) -> int:
        return int(np.ceil(self.q * (n - 1)))  # numpy's "higher" method

    def params(self):
        return {"q": self.q}

    def label(self) -> str:
        return f"quantile {self.q:g}"


class TargetFPR(OrderStatistic):
    """Threshold that holds a target false-positive rate ``fpr`` on fresh normal data.

    With n normal calibration scores it is the (n − k)-th smallest, k = ⌊fpr·(n + 1)⌋ − 1
    normals lying above it: the largest k whose expected FPR on fresh normals, (k + 1)/(n + 1),
    is at most ``fpr`` (the split-conformal guarantee: a fresh normal is flagged with probability
    ≤ fpr). ``fpr_interval_`` is the 95 % interval of the FPR it achieves on fresh normals
    (Beta(k + 1, n − k), see :func:`fpr_interval`); with fewer than
    :func:`min_calibration_rows` normals a :class:`CalibrationWarning` says how wide it is,
    and with fewer than 1/fpr − 1 the largest normal score is used (no order statistic holds the
    target in expectation). On the calibration data itself the FPR is k/n ≤ fpr.
    """

    method = "fpr"

    def __init__(self, fpr: float = 0.01) -> None:
        if not 0 < fpr < 1:
            raise DataError(f"target FPR must be in (0, 1), got {fpr}")
        self.fpr = fpr

    def _target(self) -> float:
        return self.fpr

    def _index(self, n: int) -> int:
        k = max(int(np.floor(self.fpr * (n + 1) + 1e-9)) - 1, 0)
        return n - 1 - min(k, n - 1)

    def params(self):
        return {"fpr": self.fpr}

    def label(self) -> str:
        return f"target FPR {percent(self.fpr)}"


def _cuts(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score c (descending): (tp, fp) when flagging scores >= c, the cuts c,
    and all scores sorted descending."""
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    fp = np.cumsum(1 - y_sorted)
    last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # predict positive for score >= s_i
    return tp[last], fp[last], s_sorted[last], s_sorted


def _just_below(cut: float, s_sorted: np.ndarray) -> float:
    """A value v with "score > v" flagging exactly the scores >= ``cut``."""
    below = s_sorted[s_sorted < cut]
    return (cut + below[0]) / 2 if below.size else np.nextafter(cut, -np.inf)


class _ValidationScore:
    """Saves the validation score a labelled cut was chosen by (``score_``) as ``score_key``."""

    score_key: str

    def _state(self):
        return {self.score_key: getattr(self, "score_", None)}

    def _load_state(self, d):
        super()._load_state(d)
        if d.get(self.score_key) is not None:
            self.score_ = d[self.score_key]


class BestF1(_ValidationScore, ScalarThreshold):
    """Threshold that maximises F-beta on a labelled validation split (not the test set)."""

    method = "best-f1"
    needs_labels = True
    score_key = "validation_fbeta"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta

    def _fit(self, s, y):
        if y.sum() == 0:
            raise DataError("best-f1 needs at least one anomaly in the validation labels")
        tp, fp, cut, s_sorted = _cuts(s, y)
        b2 = self.beta**2
        fbeta = (1 + b2) * tp / ((1 + b2) * tp + b2 * (y.sum() - tp) + fp)
        i = int(np.argmax(fbeta))
        self.score_ = float(fbeta[i])
        # the rule is "score > value": put the value just below the chosen cut
        return _just_below(cut[i], s_sorted)

    def params(self):
        return {"beta": self.beta}

    def label(self) -> str:
        return f"best F{self.beta:g} on labels"



class BestAccuracy(_ValidationScore, ScalarThreshold):
    """Threshold with the best accuracy on a labelled validation split (the Cloudera
    prototype's rule, there applied to the test set; here only to validation data).

    >>> t = BestAccuracy().fit(np.array([0.1, 0.2, 0.9, 0.3]), np.array([0, 0, 1, 1]))
    >>> t.predict([0.1, 0.2, 0.9, 0.3]).tolist(), t.score_
    ([0, 0, 1, 1], 1.0)
    """

    method = "best-accuracy"
    needs_labels = True
    score_key = "validation_accuracy"

    def _fit(self, s, y):
        if y.sum() == 0:
            raise DataError("best-accuracy needs at least one anomaly in the validation labels")
        tp, fp, cut, s_sorted = _cuts(s, y)
        n_normal = len(y) - int(y.sum())
        correct = tp + (n_normal - fp)
        i = int(np.argmax(correct))
        if n_normal >= correct[i]:  # flagging nothing is at least as accurate
            self.score_ = n_normal / len(y)
            return float(s_sorted[0])
        self.score_ = float(correct[i] / len(y))
        return _just_below(cut[i], s_sorted)

    def label(self) -> str:
        return "best accuracy on labels"



class POT(ScalarThreshold):
    """Peaks-over-threshold (EVT, Siffer et al. 2017): a GPD fitted to the upper tail.

    ``level`` sets the initial threshold t (its quantile of normal scores); excesses over t
    are fitted with a generalised Pareto distribution; the returned threshold has exceedance
    probability ``risk`` under that fit.
    """

    method = "pot"

    def __init__(self, risk: float = 1e-3, level: float = 0.98) -> None:
        if not 0 < risk < 1 - level:
            raise DataError(f"POT needs 0 < risk < 1 - level; got risk={risk}, level={level}")
        self.risk = risk
        self.level = level

    def _fit(self, s, y):
        normal = _normal_scores(s, y)
        t = float(np.quantile(normal, self.level))
        excess = normal[normal > t] - t
        if excess.size < 10:
            raise DataError(f"POT needs at least 10 scores above the initial level; got {excess.size}")
        gamma, _, sigma = stats.genpareto.fit(excess, floc=0.0)
        ratio = self.risk * normal.size / excess.size
        if abs(gamma) < 1e-8:
            z = t - sigma * np.log(ratio)
        else:
            z = t + sigma / gamma * (ratio ** (-gamma) - 1.0)
        self.gamma_, self.sigma_, self.t_ = float(gamma), float(sigma), t
        return z

    def params(self):
        return {"risk": self.risk, "level": self.level}

    def label(self) -> str:
        return f"POT tail risk {self.risk:g}"

    def _state(self):
        return {"gpd_shape": self.gamma_, "gpd_scale": self.sigma_, "initial_threshold": self.t_}

    def _load_state(self, d):
        super()._load_state(d)
        for key, attr in (("gpd_shape", "gamma_"), ("gpd_scale", "sigma_"), ("initial_threshold", "t_")):
            if d.get(key) is not None:
                setattr(self, attr, d[key])


class Fixed(ScalarThreshold):
    """A threshold given by the user."""

    method = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def _fit(self, s, y):
        return self.value

    def params(self):
        return {"value": self.value}

    def label(self) -> str:
        return f"fixed {self.value:g}"
