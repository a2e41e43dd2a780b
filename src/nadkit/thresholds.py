"""Threshold objects: fitted on scores of normal (or labelled validation) data, never test labels.

Each one turns scores into 0/1 labels with the rule ``anomaly iff score > value_`` and saves as
JSON (``to_dict``/``threshold_from_dict``), recording the method, its parameters, the value and
how many scores (and which data hash) set it.

>>> import numpy as np
>>> normal = np.random.default_rng(0).normal(size=10_000)
>>> t = TargetFPR(0.01).fit(normal)
>>> round(float(np.mean(t.predict(normal))), 3)
0.01
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from nadkit.errors import DataError, NotFittedError
from nadkit.validation import check_labels, check_scores


class Threshold:
    """Base class: ``fit(scores, y=None)`` sets ``value_``; ``predict(scores)`` gives 0/1."""

    method: ClassVar[str] = ""
    needs_labels: ClassVar[bool] = False

    def fit(self, scores, y=None, data_hash: str | None = None) -> Threshold:
        s = check_scores(scores)
        if y is not None:
            y = check_labels(y, len(s))
        elif self.needs_labels:
            raise DataError(f"threshold method {self.method!r} needs labels (a labelled validation split)")
        self.value_ = float(self._fit(s, y))
        self.n_calibration_ = len(s)
        self.n_normal_ = int(len(s) if y is None else (y == 0).sum())
        self.data_hash_ = data_hash
        if self.n_normal_:  # the normal scores' upper tail, for incident severity (nadkit.incidents)
            self.normal_tail_ = normal_tail(s if y is None else s[y == 0])
        return self

    def _fit(self, s: np.ndarray, y: np.ndarray | None) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, scores) -> np.ndarray:
        if not hasattr(self, "value_"):
            raise NotFittedError(f"{type(self).__name__} threshold is not fitted")
        return (np.asarray(scores) > self.value_).astype(np.int8)

    def params(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        if not hasattr(self, "value_"):
            raise NotFittedError(f"{type(self).__name__} threshold is not fitted")
        tail = {"normal_tail": self.normal_tail_} if getattr(self, "normal_tail_", None) else {}
        return {"method": self.method, "params": self.params(), "value": self.value_,
                "n_calibration": self.n_calibration_, "n_normal": self.n_normal_,
                "data_hash": self.data_hash_, **self._extra(), **tail}

    def _extra(self) -> dict[str, Any]:
        return {}

    def _restore(self, d: dict[str, Any]) -> None:
        """Set the fitted state from :meth:`to_dict`'s output (used by :func:`threshold_from_dict`)."""
        value = float(d["value"])
        if not np.isfinite(value):
            raise DataError(f"saved {self.method!r} threshold value must be finite, got {value}")
        self.value_ = value
        self.n_calibration_ = int(d.get("n_calibration", 0))
        self.n_normal_ = int(d.get("n_normal", 0))
        self.data_hash_ = d.get("data_hash")
        if d.get("normal_tail") is not None:
            self.normal_tail_ = d["normal_tail"]
        for key, attr in (("gpd_shape", "gamma_"), ("gpd_scale", "sigma_"),
                          ("initial_threshold", "t_"), ("validation_fbeta", "score_"),
                          ("validation_accuracy", "score_")):
            if d.get(key) is not None:
                setattr(self, attr, d[key])

    def describe(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.method}({p}) = {self.value_:.6g} from {self.n_calibration_} scores"

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({p})"


#: points of the normal-tail sketch a threshold keeps (geometrically spaced ranks from the top)
TAIL_POINTS = 128


def normal_tail(scores: np.ndarray, points: int = TAIL_POINTS) -> dict[str, Any] | None:
    """A small sketch of the upper tail of normal scores, for incident severity
    (:func:`nadkit.incidents.tail_probability`): scores at geometrically spaced ranks from the
    top with their tail probability ``p(v) = (#{normal > v} + 1) / (n + 1)``, and the mean excess
    of the top 1 % (at least 10) over the score below them (an exponential tail beyond the
    largest normal score). None without finite scores.

    >>> t = normal_tail(np.arange(1000.0))
    >>> t["n"], t["scores"][-1], round(t["p"][-1], 4)
    (1000, 999.0, 0.001)
    """
    s = np.sort(np.asarray(scores, dtype=np.float64))
    s = s[np.isfinite(s)]
    n = s.size
    if n == 0:
        return None
    ranks = np.unique(np.round(np.geomspace(1, n, min(points, n))).astype(int))
    values = np.unique(s[n - ranks])
    p = (n - np.searchsorted(s, values, side="right") + 1) / (n + 1)
    return {"n": int(n), "scores": values.tolist(), "p": p.tolist(), "excess_scale": excess_scale(s)}


def excess_scale(sorted_scores: np.ndarray) -> float:
    """Scale of an exponential tail beyond the largest score: the mean excess of the top 1 %
    (at least 10) of ``sorted_scores`` (ascending, finite) over the score just below them;
    0.0 with fewer than two scores.

    >>> excess_scale(np.arange(1000.0))
    5.5
    """
    n = len(sorted_scores)
    k = min(n - 1, max(10, int(np.ceil(0.01 * n))))
    return float(np.mean(sorted_scores[n - k:] - sorted_scores[n - k - 1])) if k >= 1 else 0.0


def _normal_scores(s: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    normal = s if y is None else s[y == 0]
    if normal.size == 0:
        raise DataError("no normal rows to calibrate on")
    return normal


class CalibrationWarning(UserWarning):
    """The calibration set is too small for the target false-positive rate to be held reliably."""


#: the level of the FPR interval that order-statistic thresholds store
FPR_INTERVAL_LEVEL = 0.95
#: ChannelAlpha's default σ floor, as a share of each channel's std on the calibration normals
SIGMA_FLOOR = 0.05


def min_calibration_rows(fpr: float) -> int:
    """Normal calibration scores wanted for a target FPR: at least 1,000 and 10/fpr (so that about
    ten or more calibration normals lie above the threshold)."""
    return max(1000, int(np.ceil(10.0 / fpr - 1e-9)))


def fpr_interval(n: int, n_above: int, level: float = FPR_INTERVAL_LEVEL,
                 n_fresh: int | None = None) -> tuple[float, float]:
    """Central ``level`` interval of the FPR that a threshold at an order statistic achieves on
    fresh normal data.

    The threshold ``t`` is the (n − k)-th smallest of ``n`` calibration normal scores
    (``k = n_above`` of them lie above it; the rule flags ``score > t``). For continuous i.i.d.
    scores with distribution F, F(X₍ⱼ₎) ~ Beta(j, n + 1 − j), so the FPR 1 − F(t) of fresh
    normals is Beta(k + 1, n − k): mean (k + 1)/(n + 1), whatever F is. With ``n_fresh`` the
    interval is for the *share* flagged among that many fresh normals, k′ ~ BetaBinomial(n_fresh,
    k + 1, n − k), i.e. it adds the sampling noise of a finite test set. Ties in the scores only
    lower the FPR (the interval is then conservative on its upper end).

    >>> lo, hi = fpr_interval(10_000, 99)
    >>> round(lo, 4), round(hi, 4)
    (0.0081, 0.012)
    """
    a, b = n_above + 1, n - n_above
    tail = (1.0 - level) / 2
    if n_fresh is None:
        return float(stats.beta.ppf(tail, a, b)), float(stats.beta.ppf(1 - tail, a, b))
    dist = stats.betabinom(n_fresh, a, b)
    return float(dist.ppf(tail) / n_fresh), float(dist.ppf(1 - tail) / n_fresh)


class _OrderStatistic(Threshold):
    """A threshold at an order statistic of the normal scores, with the FPR it promises:
    ``n_above_`` calibration normals above it, ``expected_fpr_`` = (k + 1)/(n + 1) on fresh
    normals and ``fpr_interval_``, the 95 % interval of that FPR (:func:`fpr_interval`)."""

    def _target(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def _index(self, n: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, s, y):
        normal = np.sort(_normal_scores(s, y))
        n = normal.size
        i = self._index(n)
        self._set_promise(n, n - 1 - i)
        return normal[i]

    def _set_promise(self, n: int, n_above: int) -> None:
        self.n_above_ = int(n_above)
        self.expected_fpr_ = (n_above + 1) / (n + 1)
        self.fpr_interval_ = fpr_interval(n, n_above)
        target, need = self._target(), min_calibration_rows(self._target())
        if (n + 1) * target < 1:
            warnings.warn(f"{n:,} normal calibration scores cannot hold a target FPR of {target:g} "
                          f"(it needs at least {int(np.ceil(1 / target - 1)):,}; {need:,} or more to "
                          f"hold it reliably): the threshold is the largest normal score, expected "
                          f"FPR {self.expected_fpr_:.3g}", CalibrationWarning, stacklevel=4)
        elif n < need:
            lo, hi = self.fpr_interval_
            warnings.warn(f"only {n:,} normal calibration scores for a target FPR of {target:g} "
                          f"(want {need:,} or more): the FPR on fresh normals lies in "
                          f"[{lo:.3g}, {hi:.3g}] (95 %); calibrate on more normal rows",
                          CalibrationWarning, stacklevel=4)

    def interval(self, level: float = FPR_INTERVAL_LEVEL, n_fresh: int | None = None) -> tuple[float, float]:
        """The ``level`` interval of the FPR on fresh normals (``n_fresh`` of them: the share
        flagged on a finite set); see :func:`fpr_interval`."""
        if not hasattr(self, "n_above_"):
            raise NotFittedError(f"{type(self).__name__} threshold is not fitted or was saved "
                                 "without its FPR interval")
        return fpr_interval(self.n_normal_, self.n_above_, level, n_fresh)

    def _extra(self):
        if not hasattr(self, "n_above_"):
            return {}
        return {"n_above": self.n_above_, "expected_fpr": self.expected_fpr_,
                "fpr_interval": list(self.fpr_interval_), "fpr_interval_level": FPR_INTERVAL_LEVEL}

    def _restore(self, d: dict[str, Any]) -> None:
        super()._restore(d)
        try:  # optional: thresholds saved before the interval existed have none
            if d.get("n_above") is not None:
                self.n_above_ = int(d["n_above"])
                self.expected_fpr_ = float(d["expected_fpr"])
                lo, hi = (float(v) for v in d["fpr_interval"])
                self.fpr_interval_ = (lo, hi)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"saved {self.method!r} threshold has a malformed FPR interval: {exc}") from exc

    def describe(self) -> str:
        text = super().describe()
        if hasattr(self, "fpr_interval_"):
            lo, hi = self.fpr_interval_
            text += (f"; FPR on fresh normals: expected {self.expected_fpr_:.3g}, "
                     f"95 % interval [{lo:.3g}, {hi:.3g}]")
        return text


class Quantile(_OrderStatistic):
    """The ``q`` quantile of normal scores (labelled anomalies, if given, are left out): the
    order statistic ``np.quantile(..., method="higher")`` picks, with the FPR interval of
    :class:`_OrderStatistic` (target FPR 1 − q)."""

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


class TargetFPR(_OrderStatistic):
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


class BestF1(Threshold):
    """Threshold that maximises F-beta on a labelled validation split (not the test set)."""

    method = "best-f1"
    needs_labels = True

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

    def _extra(self):
        return {"validation_fbeta": getattr(self, "score_", None)}


class BestAccuracy(Threshold):
    """Threshold with the best accuracy on a labelled validation split (the Cloudera
    prototype's rule, there applied to the test set; here only to validation data).

    >>> t = BestAccuracy().fit(np.array([0.1, 0.2, 0.9, 0.3]), np.array([0, 0, 1, 1]))
    >>> t.predict([0.1, 0.2, 0.9, 0.3]).tolist(), t.score_
    ([0, 0, 1, 1], 1.0)
    """

    method = "best-accuracy"
    needs_labels = True

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

    def _extra(self):
        return {"validation_accuracy": getattr(self, "score_", None)}


class POT(Threshold):
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

    def _extra(self):
        return {"gpd_shape": self.gamma_, "gpd_scale": self.sigma_, "initial_threshold": self.t_}


class Fixed(Threshold):
    """A threshold given by the user."""

    method = "fixed"

    def __init__(self, value: float) -> None:
        self.value = value

    def _fit(self, s, y):
        return self.value

    def params(self):
        return {"value": self.value}


class ChannelAlpha(Threshold):
    """DC-VAE's per-channel asymmetric band (seeds-spec §1.6–1.7): step t of channel c is flagged
    iff ``x < μ − α_down·σ`` or ``x > μ + α_up·σ``, with its own (α_up, α_down) per channel.

    ``fit_channels(x, mu, sigma, labels)`` chooses each channel's pair on ``grid`` (default
    0.5, 0.6, …, 8.0 for both sides) maximising point-wise F1 (``metric="point"``) or range-based
    F1 (``"range"``: Tatbul et al. with existence weight 0, reciprocal cardinality and front bias,
    as upstream) against the labels, which must come from a labelled validation period, never
    the test period. Ties go to the middle of the tied α_up values, then of the tied α_down
    values at that α_up (the widest margin on both sides of the chosen band). Channels without
    any labelled anomaly get the largest grid α (fewest alarms) and a NaN F1.
    ``legacy_grid=True`` searches upstream's integer grid 2…7 with its tie rule (the last pair
    of the descending scan wins, i.e. the smaller α) and its range F1 = 2PR/(P+R+1e−6).

    With ``target_fpr`` instead (no labels needed; steps with a labelled anomaly in any channel,
    if labels are given, are left out) the target holds for what a user sees, the *step* flag
    (any channel flagged): every channel and side gets about the same level, K normal values
    beyond its α (K or K + 1), chosen as large as possible such that the expected share of
    fresh normal steps flagged in some channel, m/(n + 1), is at most the target; m counts the
    calibration steps among the K + 1 most extreme of some channel side (the exchangeability
    argument of :class:`TargetFPR`, applied to each step's most extreme channel rank). A 1 %
    target thus flags about 1 % of normal steps, not 1 % per channel compounded over the
    channels. ``expected_fpr_`` (m/(n + 1)) and ``fpr_interval_`` (Beta(m, n + 1 − m)) are
    the promise for fresh normals (assuming independent steps, which steps of a series are
    not: a rough guide), ``n_above_`` the calibration normal steps flagged, and
    ``held_out_fpr_`` the step FPR measured on held-out normal steps: bands fitted the same
    way on each chronological half of the calibration normals, counted on the other half.
    Where the model's μ is biased for a channel (its normal values sit mostly on one side of
    μ), one α comes out negative: the band is shifted, not empty (α_up + α_down ≥ 0 always).

    σ floor: the bands use ``max(σ, sigma_min_)`` with ``sigma_min_ = sigma_floor`` × the
    channel's standard deviation on the calibration normals, so a decoder σ that collapses on a
    quiet channel cannot turn tiny deviations into alarms. A channel that is flat (one value)
    on all calibration normals keeps that value inside its band (``flat_value_``): it is never
    flagged while it stays there, and any other value is judged by the band as usual.

    Rows where x, μ or σ is NaN in any channel (the model's warm-up) are ignored. The search is
    vectorised: each step's z is mapped to its grid position and the F1 of every (α_up, α_down)
    pair comes from 2-D cumulative counts; the range metric is evaluated only around the
    labelled events, where it can differ between pairs.

    >>> rng = np.random.default_rng(0)
    >>> mu = np.zeros((5000, 2)); sigma = np.ones((5000, 2)); x = rng.normal(size=(5000, 2))
    >>> t = ChannelAlpha(target_fpr=0.01).fit_channels(x, mu, sigma)
    >>> steps = t.predict_channels(x, mu, sigma).any(axis=1)        # a step: any channel flagged
    >>> round(t.expected_fpr_, 4), round(float(steps.mean()), 4)     # fresh normals, calibration
    (0.01, 0.0092)
    """

    method = "alpha"
    LEGACY_GRID: ClassVar[tuple[float, ...]] = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
    RANGE_PARAMS: ClassVar[dict[str, Any]] = {"alpha": 0.0, "cardinality": "reciprocal",
                                              "bias": "front"}

    def __init__(self, grid=None, metric: str = "point", target_fpr: float | None = None,
                 legacy_grid: bool = False, sigma_floor: float = SIGMA_FLOOR) -> None:
        if not (isinstance(sigma_floor, (int, float)) and np.isfinite(sigma_floor) and sigma_floor >= 0):
            raise DataError(f"sigma_floor must be a finite number ≥ 0, got {sigma_floor!r}")
        if metric not in ("point", "range"):
            raise DataError(f"metric must be 'point' or 'range', got {metric!r}")
        if target_fpr is not None and not 0 < target_fpr < 1:
            raise DataError(f"target FPR must be in (0, 1), got {target_fpr}")
        if grid is not None:
            if legacy_grid:
                raise DataError("give either grid or legacy_grid=True, not both")
            grid = sorted({float(a) for a in np.atleast_1d(np.asarray(grid, dtype=float))})
            if not grid or not np.isfinite(grid).all() or grid[0] < 0:
                raise DataError("the α grid must hold finite values ≥ 0")
        self.grid = grid
        self.metric = metric
        self.target_fpr = target_fpr
        self.legacy_grid = legacy_grid
        self.sigma_floor = float(sigma_floor)

    def params(self):
        return {"grid": self.grid, "metric": self.metric, "target_fpr": self.target_fpr,
                "legacy_grid": self.legacy_grid, "sigma_floor": self.sigma_floor}

    def alpha_grid(self) -> np.ndarray:
        """The α values searched (ascending), shared by both sides."""
        if self.legacy_grid:
            return np.array(self.LEGACY_GRID)
        if self.grid is None:
            return np.round(np.arange(5, 81) / 10.0, 10)
        return np.array(self.grid)

    # -- the scalar Threshold API does not apply -------------------------------------------------
    def fit(self, scores, y=None, data_hash: str | None = None):
        raise DataError("the 'alpha' threshold sets a band per channel from the values x and the "
                        "model's μ and σ, not from one score per row: use "
                        "fit_channels(x, mu, sigma, labels) (CLI: nadkit calibrate --method alpha "
                        "on a series model)")

    def predict(self, scores):
        raise DataError("the 'alpha' threshold flags channels, not scores: use "
                        "predict_channels(x, mu, sigma)")

    # -- fitting --------------------------------------------------------------------------------
    def fit_channels(self, x, mu, sigma, labels=None, data_hash: str | None = None) -> ChannelAlpha:
        """Choose (α_up, α_down) per channel; ``x``, ``mu``, ``sigma`` are (n, c), ``labels``
        (n, c) per channel or (n,) for all channels."""
        x, mu, sigma = _series_arrays(x, mu, sigma)
        n, c = x.shape
        valid = np.isfinite(x).all(axis=1) & np.isfinite(mu).all(axis=1) & np.isfinite(sigma).all(axis=1)
        if not valid.any():
            raise DataError("no row has finite x, μ and σ in every channel (is the series shorter "
                            "than the model's window?)")
        if (sigma[valid] <= 0).any():
            raise DataError("σ must be > 0 in every channel")
        y = None
        if labels is not None:
            y = np.asarray(labels)
            if y.ndim == 1:
                y = np.broadcast_to(y[:, None], (y.shape[0], c))
            if y.shape != (n, c):
                raise DataError(f"labels have shape {np.shape(labels)}; expected ({n},) or ({n}, {c})")
            if not np.isin(y, (0, 1)).all():
                raise DataError("labels must be 0 (normal) or 1 (anomaly)")
            y = y.astype(bool) & valid[:, None]
        normal = valid[:, None] if y is None else valid[:, None] & ~y
        steps = valid if y is None else valid & ~y.any(axis=1)    # normal in every channel
        self._fit_floor(x, normal)
        z = np.where(valid[:, None], (x - mu) / np.where(valid[:, None], self._sigma(sigma), 1.0), np.nan)
        self.n_above_ = self.expected_fpr_ = self.fpr_interval_ = self.held_out_fpr_ = None
        if self.target_fpr is not None:
            if not steps.any():
                raise DataError("no step is normal in every channel: nothing to calibrate the "
                                "target FPR on")
            self.alpha_up_, self.alpha_down_, m = self._step_alphas(z[steps], warn=True)
            self.best_f1_ = np.full(c, np.nan)
            self.held_out_fpr_ = self._held_out_fpr(z[steps])
        else:
            if y is None:
                raise DataError("the 'alpha' threshold needs per-channel labels (a labelled "
                                "validation period) or target_fpr")
            grid = self.alpha_grid()
            iu, idn = _grid_positions(z, grid)
            if self.metric == "point":
                f1 = _point_f1_grid(iu, idn, y, len(grid))
            else:
                f1 = np.stack([_range_f1_grid(iu[:, k], idn[:, k], y[:, k], len(grid),
                                              self.RANGE_PARAMS, self.legacy_grid)
                               if y[:, k].any() else np.zeros((len(grid), len(grid)))
                               for k in range(c)])
            self.alpha_up_, self.alpha_down_, self.best_f1_ = _best_pairs(
                f1, grid, y.any(axis=0), self.legacy_grid)
        flags = self._flags(x, mu, sigma)
        self.fpr_ = (flags & normal).sum(axis=0) / np.maximum(normal.sum(axis=0), 1)
        self.step_fpr_ = float(flags[steps].any(axis=1).mean()) if steps.any() else None
        if self.target_fpr is not None:
            n_steps = int(steps.sum())
            self.n_above_ = int(flags[steps].any(axis=1).sum())
            self.expected_fpr_ = m / (n_steps + 1)
            self.fpr_interval_ = fpr_interval(n_steps, max(m - 1, 0))
        self.n_channels_ = c
        self.n_calibration_ = int(valid.sum())
        self.n_normal_ = int(steps.sum())
        self.data_hash_ = data_hash
        return self

    def _fit_floor(self, x: np.ndarray, normal: np.ndarray) -> None:
        """σ floor per channel (sigma_floor × the std of the normal x) and the value of each
        channel that is flat on the normal rows (NaN for the others)."""
        counts = normal.sum(axis=0)
        if (counts == 0).any():
            raise DataError(f"channels {np.flatnonzero(counts == 0)[:5].tolist()} have no normal rows "
                            "to calibrate on")
        xn = np.where(normal, x, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanmin(xn, axis=0), np.nanmax(xn, axis=0)
            self.sigma_min_ = self.sigma_floor * np.nanstd(xn, axis=0)
        self.flat_value_ = np.where(hi - lo <= 1e-9 * (1.0 + np.abs(lo)), lo, np.nan)

    def _sigma(self, sigma: np.ndarray) -> np.ndarray:
        return np.maximum(sigma, self.sigma_min_)

    def _step_alphas(self, z: np.ndarray, warn: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
        """(α_up, α_down) per channel from z (n, c) of steps normal in every channel, and m, the
        count whose m/(n + 1) is the expected step FPR on fresh normals.

        Each channel and side j gets a level K_j (α is its (K_j + 1)-th most extreme normal
        value). By exchangeability a fresh normal step is flagged with probability m/(n + 1),
        m = the number of calibration steps among the K_j + 1 most extreme of some j (the
        fresh step counted as one of n + 1), so the levels are the largest with
        m ≤ ⌊fpr·(n + 1)⌋: first one common K, then K + 1 for as many channel sides (in order)
        as still fit. Flat channels are left out (never flagged at their value)."""
        n = len(z)
        flat = ~np.isnan(self.flat_value_)
        up_sorted, down_sorted = np.sort(z, axis=0), np.sort(-z, axis=0)
        sides = [(k, sign) for k in np.flatnonzero(~flat) for sign in (1, -1)]
        # u[j, t]: how many normal values of channel side j are ≥ step t's own (1 = the extreme)
        u = np.empty((len(sides), n), dtype=np.int64)
        for j, (k, sign) in enumerate(sides):
            srt = up_sorted[:, k] if sign > 0 else down_sorted[:, k]
            u[j] = n - np.searchsorted(srt, sign * z[:, k], side="left")
        g = u.min(axis=0) if len(sides) else np.full(n, n + 1)
        target = self.target_fpr
        budget = int(np.floor(target * (n + 1) + 1e-9))
        g_sorted = np.sort(g)
        common = (int(g_sorted[budget]) - 1 if budget < n else n) - 1     # largest K: m(K) ≤ budget
        levels = np.full(len(sides), max(common, 0))
        fresh = g <= max(common, 0) + 1                        # steps that count towards m
        if common >= 0:
            for j in range(len(sides)):                        # K + 1 where it still fits
                add = (u[j] <= common + 2) & ~fresh
                if fresh.sum() + add.sum() <= budget:
                    fresh |= add
                    levels[j] += 1
        m = int(fresh.sum())
        if warn and common < 0:
            warnings.warn(f"{n:,} normal calibration steps cannot hold a step target FPR of {target:g} "
                          f"over {len(sides) // 2} channels: even with every band at the most extreme "
                          f"normal value the expected step FPR is {m / (n + 1):.3g}; calibrate on a "
                          "longer normal period", CalibrationWarning, stacklevel=3)
        elif warn and n < min_calibration_rows(target):
            warnings.warn(f"only {n:,} normal calibration steps for a step target FPR of {target:g} "
                          f"(want {min_calibration_rows(target):,} or more): the achieved rate will "
                          "be noisy; calibrate on a longer normal period", CalibrationWarning, stacklevel=3)
        level = np.full(z.shape[1], max(common, 0))
        up_level, down_level = level.copy(), level.copy()
        for (k, sign), lv in zip(sides, levels, strict=True):
            (up_level if sign > 0 else down_level)[k] = lv
        cols = np.arange(z.shape[1])
        up = up_sorted[np.clip(n - 1 - up_level, 0, n - 1), cols]
        down = down_sorted[np.clip(n - 1 - down_level, 0, n - 1), cols]
        return up, down, m

    def _held_out_fpr(self, z: np.ndarray) -> float | None:
        """Step FPR on held-out normal steps: bands fitted on each chronological half of the
        normal steps, flags counted on the other half (None when a half is too short for the
        target)."""
        n = len(z)
        half = n // 2
        if (half + 1) * self.target_fpr < 1:
            return None
        flat = ~np.isnan(self.flat_value_)
        flagged = 0
        for fit, check in ((z[:half], z[half:]), (z[half:], z[:half])):
            up, down, _ = self._step_alphas(fit)
            out = ((check > up) | (check < -down)) & ~flat
            flagged += int(out.any(axis=1).sum())
        return flagged / n

    # -- using it -------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "alpha_up_"):
            raise NotFittedError("ChannelAlpha threshold is not fitted (use fit_channels)")

    def _flags(self, x, mu, sigma) -> np.ndarray:
        lower, upper = self._bands(mu, sigma)
        return (x < lower) | (x > upper)

    def _bands(self, mu, sigma) -> tuple[np.ndarray, np.ndarray]:
        s = self._sigma(sigma)
        lower, upper = mu - self.alpha_down_ * s, mu + self.alpha_up_ * s
        flat = self.flat_value_
        if not np.isnan(flat).all():  # a flat channel's calibration value stays inside its band
            known = ~np.isnan(lower)
            lower = np.where(known, np.fmin(lower, flat), lower)
            upper = np.where(known, np.fmax(upper, flat), upper)
        return lower, upper

    def bands(self, mu, sigma) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper band limits μ − α_down·σ′ and μ + α_up·σ′ with σ′ = max(σ,
        ``sigma_min_``), widened to hold ``flat_value_`` where a channel was flat; each (n, c)."""
        self._check_fitted()
        _, mu, sigma = _series_arrays(mu, mu, sigma, self.n_channels_)
        return self._bands(mu, sigma)

    def predict_channels(self, x, mu, sigma) -> np.ndarray:
        """(n, c) int8 flags: x outside [μ − α_down·σ, μ + α_up·σ]; 0 where anything is NaN."""
        self._check_fitted()
        x, mu, sigma = _series_arrays(x, mu, sigma, self.n_channels_)
        return self._flags(x, mu, sigma).astype(np.int8)

    # -- saving ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        def floats(a):
            return [None if np.isnan(v) else float(v) for v in np.asarray(a, dtype=float)]
        return {"method": self.method, "params": self.params(), "value": None,
                "n_calibration": self.n_calibration_, "n_normal": self.n_normal_,
                "data_hash": self.data_hash_, "alpha_up": floats(self.alpha_up_),
                "alpha_down": floats(self.alpha_down_), "best_f1": floats(self.best_f1_),
                "fpr": floats(self.fpr_), "sigma_min": floats(self.sigma_min_),
                "flat_value": floats(self.flat_value_), "step_fpr": self.step_fpr_,
                "n_above": self.n_above_, "expected_fpr": self.expected_fpr_,
                "fpr_interval": None if self.fpr_interval_ is None else list(self.fpr_interval_),
                "fpr_interval_level": None if self.fpr_interval_ is None else FPR_INTERVAL_LEVEL,
                "held_out_fpr": self.held_out_fpr_,
                **({"normal_tail": self.normal_tail_} if getattr(self, "normal_tail_", None) else {})}

    def _restore(self, d: dict[str, Any]) -> None:
        try:
            up = np.asarray(d["alpha_up"], dtype=float)
            down = np.asarray(d["alpha_down"], dtype=float)
            best = np.asarray([np.nan if v is None else v for v in d.get("best_f1", [None] * len(up))], float)
            fpr = np.asarray([np.nan if v is None else v for v in d.get("fpr", [None] * len(up))], float)
            # thresholds saved before the σ floor and flat values existed: no floor, no flat channel
            floor = np.asarray(d.get("sigma_min") or [0.0] * len(up), float)
            flat = np.asarray([np.nan if v is None else v for v in d.get("flat_value") or [None] * len(up)], float)
            interval = d.get("fpr_interval")
            self.fpr_interval_ = None if interval is None else tuple(float(v) for v in interval)
            self.n_above_ = None if d.get("n_above") is None else int(d["n_above"])
            self.expected_fpr_ = None if d.get("expected_fpr") is None else float(d["expected_fpr"])
            self.step_fpr_ = None if d.get("step_fpr") is None else float(d["step_fpr"])
            self.held_out_fpr_ = None if d.get("held_out_fpr") is None else float(d["held_out_fpr"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"saved 'alpha' threshold is malformed: {exc}") from exc
        if up.ndim != 1 or any(a.shape != up.shape for a in (down, best, fpr, floor, flat)) \
                or not np.isfinite(up).all() or not np.isfinite(down).all() \
                or not np.isfinite(floor).all() or (floor < 0).any():
            raise DataError("saved 'alpha' threshold needs finite alpha_up/alpha_down/sigma_min "
                            "lists of one length (sigma_min ≥ 0)")
        self.alpha_up_, self.alpha_down_, self.best_f1_, self.fpr_ = up, down, best, fpr
        self.sigma_min_, self.flat_value_ = floor, flat
        if d.get("sigma_min") is None:
            self.sigma_floor = 0.0
        self.n_channels_ = len(up)
        if d.get("normal_tail") is not None:
            self.normal_tail_ = d["normal_tail"]
        self.n_calibration_ = int(d.get("n_calibration", 0))
        self.n_normal_ = int(d.get("n_normal", 0))
        self.data_hash_ = d.get("data_hash")

    def describe(self) -> str:
        self._check_fitted()
        how = (f"step target FPR {self.target_fpr:g}" if self.target_fpr is not None
               else f"best {self.metric} F1 on labels, grid {_grid_text(self.alpha_grid())}")
        up, down = self.alpha_up_, self.alpha_down_
        text = (f"alpha per channel ({how}) for {self.n_channels_} channels: α_up median "
                f"{np.median(up):.3g} [{up.min():.3g}…{up.max():.3g}], α_down median "
                f"{np.median(down):.3g} [{down.min():.3g}…{down.max():.3g}]")
        labelled = ~np.isnan(self.best_f1_)
        if labelled.any():
            text += f"; mean best F1 {self.best_f1_[labelled].mean():.3f} on {labelled.sum()} labelled channels"
        flat = int((~np.isnan(self.flat_value_)).sum())
        if flat:
            text += f"; {flat} flat channel{'s' if flat > 1 else ''} never flagged at {'their' if flat > 1 else 'its'} value"
        text += f"; from {self.n_calibration_} rows"
        if self.step_fpr_ is not None:
            text += f"; step FPR on the {self.n_normal_:,} calibration normals {self.step_fpr_:.3g}"
            if self.target_fpr is not None:
                text += f" (target {self.target_fpr:g})"
        if self.fpr_interval_ is not None:
            lo, hi = self.fpr_interval_
            text += f", on fresh normals expected {self.expected_fpr_:.3g}, 95 % interval [{lo:.3g}, {hi:.3g}]"
        if self.held_out_fpr_ is not None:
            text += f", on held-out normal steps {self.held_out_fpr_:.3g}"
        return text


def _grid_text(grid: np.ndarray) -> str:
    steps = np.unique(np.round(np.diff(grid), 10))
    if len(grid) > 2 and len(steps) == 1:
        return f"{grid[0]:g}…{grid[-1]:g} step {steps[0]:g}"
    return "{" + ", ".join(f"{g:g}" for g in grid) + "}"


def _series_arrays(x, mu, sigma, n_channels: int | None = None):
    """x, μ, σ as float64 (n, c) arrays of one shape (a 1-D array is one channel); NaN allowed
    (warm-up), inf not."""
    out = []
    for name, a in (("x", x), ("mu", mu), ("sigma", sigma)):
        try:
            arr = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} must be numeric: {exc}") from exc
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[0] == 0:
            raise DataError(f"{name} must be a non-empty (n, channels) array; got shape {arr.shape}")
        if np.isinf(arr).any():
            raise DataError(f"{name} contains inf values")
        out.append(arr)
    if not out[0].shape == out[1].shape == out[2].shape:
        raise DataError(f"x {out[0].shape}, mu {out[1].shape} and sigma {out[2].shape} must have one shape")
    if n_channels is not None and out[0].shape[1] != n_channels:
        raise DataError(f"got {out[0].shape[1]} channels; the threshold was fitted on {n_channels}")
    return tuple(out)


def _grid_positions(z: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each step, how many grid α lie below z (up side) and below −z (down side): the step
    is flagged at pair (i, j) iff i < iu or j < idn. NaN steps are never flagged (0, 0)."""
    nan = np.isnan(z)
    zz = np.where(nan, 0.0, z)
    iu = np.where(nan, 0, np.searchsorted(grid, zz, side="left"))
    idn = np.where(nan, 0, np.searchsorted(grid, -zz, side="left"))
    return iu, idn


def _quadrant_sum(iu: np.ndarray, idn: np.ndarray, weight, g: int) -> np.ndarray:
    """S[..., i, j] = Σ weight over steps with iu ≤ i and idn ≤ j (for i, j < g), i.e. the
    weighted count of steps NOT flagged at pair (i, j); leading axes of ``iu`` after the first
    are batched (one histogram per channel)."""
    lead = iu.shape[1:]
    nb = int(np.prod(lead, dtype=int))
    batch = np.broadcast_to(np.arange(nb).reshape(lead), iu.shape)
    code = (batch * (g + 1) + iu) * (g + 1) + idn
    h = np.bincount(code.ravel(), weights=np.broadcast_to(weight, iu.shape).ravel(),
                    minlength=nb * (g + 1) ** 2).reshape(*lead, g + 1, g + 1)
    return h.cumsum(axis=-2).cumsum(axis=-1)[..., :g, :g]


def _point_f1_grid(iu: np.ndarray, idn: np.ndarray, y: np.ndarray, g: int) -> np.ndarray:
    """Point-wise F1 of every (α_up, α_down) grid pair for every channel: (c, g, g)."""
    n_pos = y.sum(axis=0).astype(float)[:, None, None]
    tp = n_pos - _quadrant_sum(iu, idn, y.astype(float), g)
    flagged = iu.shape[0] - _quadrant_sum(iu, idn, 1.0, g)
    denom = flagged + n_pos
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def _range_f1_grid(iu: np.ndarray, idn: np.ndarray, y: np.ndarray, g: int,
                   range_params: dict[str, Any], legacy: bool, chunk: int = 1 << 22) -> np.ndarray:
    """Range-based F1 of every (α_up, α_down) grid pair for one channel: (g, g).

    Precision = Σ over predicted ranges of their score / number of predicted ranges. The number
    of predicted ranges comes from 2-D counts of range starts (a step starts a range iff it is
    flagged and its predecessor is not) over the whole series. A predicted range that touches no
    event scores 0, and one that does lies inside its event's *stretch* (the run of steps that
    are labelled or flaggable by some pair), so both sums are totals over stretches of what
    happens inside each. Inside a stretch the flags depend on a pair only through how many of
    the stretch's own distinct z levels it clears on each side, so each stretch is evaluated once
    per distinct pattern (usually far fewer than the g² pairs), all of them laid end to end and
    scored in one vectorised pass per chunk.
    """
    from nadkit.metrics import _range_sums_flat, _runs

    prev_u, prev_d = np.r_[0, iu[:-1]], np.r_[0, idn[:-1]]
    n_pred = (_quadrant_sum(prev_u[:, None], prev_d[:, None], 1.0, g)[0]
              - _quadrant_sum(np.maximum(prev_u, iu)[:, None], np.maximum(prev_d, idn)[:, None],
                              1.0, g)[0])
    n_real = len(_runs(y)[0])

    starts, ends = _runs((iu > 0) | (idn > 0) | y)
    has_event = np.add.reduceat(y.astype(np.int64), starts) > 0
    starts, ends = starts[has_event], ends[has_event]
    lengths = ends - starts
    offset = np.cumsum(lengths) - lengths  # where each stretch begins in the packed arrays
    sid = np.repeat(np.arange(len(starts)), lengths)
    pos = starts[sid] + np.arange(lengths.sum()) - offset[sid]
    stretch_y = y[pos]

    def levels(level):
        """rank of each step among its stretch's distinct levels (−1: never flagged on this
        side), the pattern key of every grid index per stretch, and the number of patterns."""
        present = np.zeros((len(starts), g + 1), dtype=bool)
        present[sid, level] = True
        present[:, 0] = False
        cum = present.cumsum(axis=1)
        return cum[sid, level] - 1, cum[:, :g], cum[:, g - 1] + 1

    rank_u, key_u, n_u = levels(iu[pos])
    rank_d, key_d, n_d = levels(idn[pos])

    # one row per (stretch, up pattern, down pattern), each followed by a separator step
    n_rows = n_u * n_d
    base = np.cumsum(n_rows) - n_rows
    row_sid = np.repeat(np.arange(len(starts)), n_rows)
    row_ku, row_kd = np.divmod(np.arange(n_rows.sum()) - base[row_sid], n_d[row_sid])
    row_len = lengths[row_sid] + 1
    p_row = np.empty(len(row_sid))
    r_row = np.empty(len(row_sid))
    ends_cum = np.cumsum(row_len)
    cut = np.searchsorted(ends_cum, np.arange(chunk, ends_cum[-1], chunk), side="right")
    for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(row_sid)], strict=True):
        if hi <= lo:
            continue
        length = row_len[lo:hi]
        row_starts = np.cumsum(length) - length
        row = np.repeat(np.arange(hi - lo), length)
        within = np.arange(length.sum()) - row_starts[row]
        stretch = row_sid[lo:hi][row]
        inside = within < lengths[stretch]
        src = np.where(inside, offset[stretch] + within, 0)
        flags = inside & ((rank_u[src] >= row_ku[lo:hi][row]) | (rank_d[src] >= row_kd[lo:hi][row]))
        p_row[lo:hi], _, r_row[lo:hi], _ = _range_sums_flat(
            inside & stretch_y[src], flags, row_starts, range_params["alpha"],
            range_params["alpha"], range_params["cardinality"], range_params["bias"])

    p_num = np.zeros((g, g))
    r_num = np.zeros((g, g))
    for lo in range(0, len(starts), 256):  # blocks of stretches bound the (S, g, g) index memory
        b = slice(lo, lo + 256)
        idx = base[b, None, None] + key_u[b, :, None] * n_d[b, None, None] + key_d[b, None, :]
        p_num += p_row[idx].sum(axis=0)
        r_num += r_row[idx].sum(axis=0)
    precision = np.divide(p_num, n_pred, out=np.zeros((g, g)), where=n_pred > 0)
    recall = r_num / n_real
    denom = precision + recall + (1e-6 if legacy else 0.0)
    return np.divide(2 * precision * recall, denom, out=np.zeros((g, g)), where=denom > 0)


def _best_pairs(f1: np.ndarray, grid: np.ndarray, labelled: np.ndarray, legacy: bool):
    """Per channel the (α_up, α_down) of the best F1 in ``f1`` (c, g, g). Ties: legacy → the
    smaller α (upstream's last pair of a descending scan); else the middle of the tied α_up
    values, then the middle of the tied α_down values at that α_up (the widest margin to the
    pairs that do worse on either side)."""
    c = f1.shape[0]
    best = f1.reshape(c, -1).max(axis=1)
    up = np.full(c, grid[-1])
    down = np.full(c, grid[-1])
    for k in np.flatnonzero(labelled):  # one small (g, g) table per channel
        tied = f1[k] == best[k]
        rows = np.flatnonzero(tied.any(axis=1))
        i = rows[0] if legacy else rows[(len(rows) - 1) // 2]
        cols = np.flatnonzero(tied[i])
        j = cols[0] if legacy else cols[(len(cols) - 1) // 2]
        up[k], down[k] = grid[i], grid[j]
    return up, down, np.where(labelled, best, np.nan)


METHODS: dict[str, type[Threshold]] = {
    cls.method: cls for cls in (Quantile, TargetFPR, BestF1, BestAccuracy, POT, Fixed, ChannelAlpha)
}


def make_threshold(method: str, **params: Any) -> Threshold:
    """Build a threshold by CLI name: quantile, fpr, best-f1, best-accuracy, pot, fixed or alpha."""
    if method not in METHODS:
        raise DataError(f"unknown threshold method {method!r}; choose from {sorted(METHODS)}")
    return METHODS[method](**params)


def threshold_from_dict(d: dict[str, Any]) -> Threshold:
    """Rebuild a fitted threshold from its JSON form, every field checked first (types, finite
    values, lengths: :class:`nadkit.artifact_schema.ThresholdFile`)."""
    from nadkit.artifact_schema import validate_threshold
    from nadkit.errors import ArtifactError

    method = d.get("method") if isinstance(d, dict) else None
    if method not in METHODS:
        raise DataError(f"unknown threshold method {method!r} in saved threshold")
    try:
        validate_threshold(d, "saved threshold is malformed")
    except ArtifactError as exc:
        raise DataError(str(exc)) from None
    obj = METHODS[method](**d.get("params", {}))
    obj._restore(d)
    return obj
