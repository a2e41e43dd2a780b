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
        return {"method": self.method, "params": self.params(), "value": self.value_,
                "n_calibration": self.n_calibration_, "n_normal": self.n_normal_,
                "data_hash": self.data_hash_, **self._extra()}

    def _extra(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.method}({p}) = {self.value_:.6g} from {self.n_calibration_} scores"

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({p})"


def _normal_scores(s: np.ndarray, y: np.ndarray | None) -> np.ndarray:
    normal = s if y is None else s[y == 0]
    if normal.size == 0:
        raise DataError("no normal rows to calibrate on")
    return normal


class Quantile(Threshold):
    """The ``q`` quantile of normal scores (labelled anomalies, if given, are left out)."""

    method = "quantile"

    def __init__(self, q: float = 0.99) -> None:
        if not 0 < q < 1:
            raise DataError(f"quantile q must be in (0, 1), got {q}")
        self.q = q

    def _fit(self, s, y):
        return np.quantile(_normal_scores(s, y), self.q, method="higher")

    def params(self):
        return {"q": self.q}


class TargetFPR(Threshold):
    """The smallest threshold whose false-positive rate on normal scores is at most ``fpr``."""

    method = "fpr"

    def __init__(self, fpr: float = 0.01) -> None:
        if not 0 < fpr < 1:
            raise DataError(f"target FPR must be in (0, 1), got {fpr}")
        self.fpr = fpr

    def _fit(self, s, y):
        normal = np.sort(_normal_scores(s, y))
        k = int(np.floor(self.fpr * normal.size))  # at most k normals may lie above
        return normal[normal.size - 1 - k] if k < normal.size else normal[0]

    def params(self):
        return {"fpr": self.fpr}


class BestF1(Threshold):
    """Threshold that maximises F-beta on a labelled validation split (not the test set)."""

    method = "best-f1"
    needs_labels = True

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta

    def _fit(self, s, y):
        if y.sum() == 0:
            raise DataError("best-f1 needs at least one anomaly in the validation labels")
        order = np.argsort(-s, kind="stable")
        s_sorted, y_sorted = s[order], y[order]
        tp = np.cumsum(y_sorted)
        fp = np.cumsum(1 - y_sorted)
        last = np.r_[s_sorted[1:] != s_sorted[:-1], True]  # predict positive for score >= s_i
        tp, fp, cut = tp[last], fp[last], s_sorted[last]
        b2 = self.beta**2
        fbeta = (1 + b2) * tp / ((1 + b2) * tp + b2 * (y.sum() - tp) + fp)
        i = int(np.argmax(fbeta))
        self.score_ = float(fbeta[i])
        # the rule is "score > value": put the value just below the chosen cut
        below = s_sorted[s_sorted < cut[i]]
        return (cut[i] + below[0]) / 2 if below.size else np.nextafter(cut[i], -np.inf)

    def params(self):
        return {"beta": self.beta}

    def _extra(self):
        return {"validation_fbeta": getattr(self, "score_", None)}


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


METHODS: dict[str, type[Threshold]] = {
    cls.method: cls for cls in (Quantile, TargetFPR, BestF1, POT, Fixed)
}


def make_threshold(method: str, **params: Any) -> Threshold:
    """Build a threshold by CLI name: quantile, fpr, best-f1, pot or fixed."""
    if method not in METHODS:
        raise DataError(f"unknown threshold method {method!r}; choose from {sorted(METHODS)}")
    return METHODS[method](**params)


def threshold_from_dict(d: dict[str, Any]) -> Threshold:
    """Rebuild a fitted threshold from its JSON form."""
    method = d.get("method")
    if method not in METHODS:
        raise DataError(f"unknown threshold method {method!r} in saved threshold")
    obj = METHODS[method](**d.get("params", {}))
    obj.value_ = float(d["value"])
    obj.n_calibration_ = int(d.get("n_calibration", 0))
    obj.n_normal_ = int(d.get("n_normal", 0))
    obj.data_hash_ = d.get("data_hash")
    for key, attr in (("gpd_shape", "gamma_"), ("gpd_scale", "sigma_"),
                      ("initial_threshold", "t_"), ("validation_fbeta", "score_")):
        if d.get(key) is not None:
            setattr(obj, attr, d[key])
    return obj
