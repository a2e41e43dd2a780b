"""The :class:`Threshold` base: bookkeeping, saving/loading, the capabilities callers ask about,
and the false-positive-rate helpers both kinds of threshold use.

Two kinds, declared by the class attribute ``per_channel``:

* **scalar** (``per_channel = False``, :class:`~nadkit.thresholds.scalar.ScalarThreshold`):
  ``fit(scores, y=None)`` on one score per row, shape (n,), sets ``value_``; ``predict`` applies
  ``score > value_`` elementwise (so also to (n, c) per-channel scores). Scores of shape (n, c)
  are refused by ``fit`` (a series detector aggregates its channel scores into one per step).
* **per channel** (``per_channel = True``, :class:`~nadkit.thresholds.channel.ChannelAlpha`):
  ``fit_channels(x, mu, sigma, labels)`` sets a band per channel around the model's μ, σ;
  ``predict_channels(x, mu, sigma)`` flags steps and channels; ``fit``/``predict`` on scores
  raise a :class:`~nadkit.errors.DataError` saying so.

Series code asks a scalar threshold for ``step_thresholds(step_scores, history)`` (each step's
threshold: the fitted value, or a rolling one's), a per-channel one for ``bands(mu, sigma)``,
and either for ``band_alphas(c)``; evaluation code asks ``promise(n_fresh)`` (the FPR
an order-statistic threshold promises on fresh normals, or None) and ``label()`` (a short name).

Saving: :meth:`Threshold.to_dict` writes the fields every threshold has (method, params, value,
n_calibration, n_normal, data_hash, normal_tail) plus the class's own :meth:`Threshold._state`;
:meth:`Threshold.from_dict` builds ``cls(**params)``, restores the common fields and hands the
dict to the class's own :meth:`Threshold._load_state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from nadkit.errors import DataError


class CalibrationWarning(UserWarning):
    """The calibration set is too small for the target false-positive rate to be held reliably."""


#: the level of the FPR interval that order-statistic thresholds store
FPR_INTERVAL_LEVEL = 0.95


def min_calibration_rows(fpr: float) -> int:
    """Normal calibration scores wanted for a target FPR: at least 1,000 and 10/fpr (so that about
    ten or more calibration normals lie above the threshold)."""
    return max(1000, int(np.ceil(10.0 / fpr - 1e-9)))


def effective_count(scores: np.ndarray, c: float = 5.0) -> float:
    """The effective number of independent values in a sequence of autocorrelated scores,
    ``n / τ``: τ is the integrated autocorrelation time ``1 + 2 Σ ρ_k`` summed up to Sokal's
    automatic window (the smallest M ≥ c·τ(M)); 1 ≤ τ ≤ n. Steps of a series that share a
    moving max over k steps count about once per k steps.

    >>> rng = np.random.default_rng(0)
    >>> round(effective_count(rng.normal(size=4000)) / 4000, 1)          # independent
    1.0
    >>> x = np.repeat(rng.normal(size=400), 10)                          # blocks of 10 equal values
    >>> 350 < effective_count(x) < 550                                  # 400 blocks
    True
    """
    x = np.asarray(scores, dtype=np.float64)
    n = len(x)
    x = x - x.mean() if n else x
    if n < 3 or not np.any(x):
        return float(n)
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n]
    acf /= acf[0]
    taus = 2.0 * np.cumsum(acf) - 1.0
    window = np.flatnonzero(np.arange(n) >= c * taus)
    tau = taus[window[0]] if len(window) else taus[-1]
    return float(n / min(max(tau, 1.0), n))


def serial_count(scores: np.ndarray) -> float:
    """:func:`effective_count` of steps of a series, or all of them when they look
    independent (τ < 1.5): what a series threshold's FPR interval counts."""
    n = len(scores)
    n_eff = effective_count(scores)
    return float(n) if n_eff * 1.5 > n else n_eff


def effective_counts(n: int, n_above: int, n_effective: float | None) -> tuple[float, float]:
    """(n, k) for :func:`fpr_interval`: the calibration scores and those above the threshold,
    both scaled to ``n_effective`` independent ones where that is fewer than n."""
    if n_effective is None or n_effective >= n:
        return n, n_above
    return n_effective, n_above * n_effective / n


def fresh_interval(n: int, n_above: int, n_effective: float | None, level: float = FPR_INTERVAL_LEVEL,
                   n_fresh: int | None = None) -> tuple[float, float]:
    """:func:`fpr_interval` of a threshold with ``n_above`` of ``n`` calibration scores above
    it, counted as ``n_effective`` independent ones (series); ``n_fresh`` fresh steps of a
    series count by the same fraction."""
    n_i, k_i = effective_counts(n, n_above, n_effective)
    if n_fresh is not None and n_i < n:
        n_fresh = max(1, round(n_fresh * n_i / n))
    return fpr_interval(n_i, k_i, level, n_fresh)


def fpr_interval(n: float, n_above: float, level: float = FPR_INTERVAL_LEVEL,
                 n_fresh: int | None = None) -> tuple[float, float]:
    """Central ``level`` interval of the FPR that a threshold at an order statistic achieves on
    fresh normal data.

    ``n`` and ``n_above`` may be effective (non-integer) counts of autocorrelated scores
    (:func:`effective_count`). The threshold ``t`` is the (n − k)-th smallest of ``n`` calibration normal scores
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


@dataclass(frozen=True)
class Promise:
    """What a threshold promises about its false-positive rate on fresh normal data: the
    ``target`` it was set for, the ``expected_fpr`` and the 95 % ``interval`` of the share
    flagged among ``n_fresh`` fresh normals (None where the saved threshold lacks them)."""

    target: float
    expected_fpr: float | None = None
    interval: tuple[float, float] | None = None


def percent(share: float) -> str:
    """``0.01`` → ``"1 %"``, ``0.0005`` → ``"0.05 %"`` (for labels)."""
    return f"{100 * share:.3g} %"


class Threshold:
    """Base class of every threshold (see the module docs for the two kinds and the contract)."""

    #: the name in threshold.json, the CLI's ``--method`` and :func:`~nadkit.thresholds.make_threshold`
    method: ClassVar[str] = ""
    #: fitting needs labels (a labelled validation split)
    needs_labels: ClassVar[bool] = False
    #: fitted per channel on the model's μ, σ (``fit_channels``), not on one score per row
    per_channel: ClassVar[bool] = False
    #: each step's threshold depends on the scores before it (``step_thresholds(scores,
    #: history)``; a stream keeps its ``recent`` window between chunks)
    follows_stream: ClassVar[bool] = False
    #: the scores are steps of a series, in time order (set by series code before ``fit``): an
    #: order-statistic threshold then counts them by :func:`effective_count` in its FPR interval
    serial: bool = False

    # -- fitting and using it (each kind implements its own) ---------------------------------------
    def fit(self, scores, y=None, data_hash: str | None = None) -> Threshold:  # pragma: no cover
        raise NotImplementedError

    def predict(self, scores) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_channels(self, x, mu, sigma, labels=None, data_hash: str | None = None,
                     scores=None) -> Threshold:
        """Per-channel thresholds fit on the values ``x`` and the model's ``mu``/``sigma``."""
        raise DataError(f"the {self.method!r} threshold is fitted on one score per row "
                        "(fit(scores)), not per channel on x, μ and σ")

    def predict_channels(self, x, mu, sigma) -> np.ndarray:
        raise DataError(f"the {self.method!r} threshold flags scores (predict(scores)), not "
                        "channels from x, μ and σ")

    # -- what series code asks --------------------------------------------------------------------
    def step_thresholds(self, scores, history=None) -> np.ndarray:
        """The threshold each of the step ``scores`` (n,) is compared with; ``history``: the
        scores before them, for a threshold that follows the stream."""
        raise DataError(f"the {self.method!r} threshold flags channels against bands, "
                        "it has no threshold per step")

    def bands(self, mu, sigma) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper band limits around ``mu`` in units of ``sigma``, each (n, c)
        (per-channel thresholds; a scalar one's band is the detector's, see
        :meth:`nadkit.models.series_base.SeriesDetector.analyse`)."""
        raise DataError(f"the {self.method!r} threshold is on scores; the band is the series model's")

    def band_alphas(self, n_channels: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """(α_up, α_down) per channel: the band half-widths in units of σ."""
        raise NotImplementedError

    # -- what evaluation code asks ----------------------------------------------------------------
    def promise(self, n_fresh: int | None = None) -> Promise | None:
        """The FPR it promises on ``n_fresh`` fresh normals (None: it promises none)."""
        return None

    def label(self) -> str:
        """A short human name, e.g. ``"target FPR 1 %"`` (for dashboards and reports)."""
        return self.method

    def params(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        """One line: the method, its parameters and what it was fitted on."""
        return f"{self.label()} from {self.n_calibration_} rows"

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({p})"

    # -- bookkeeping ------------------------------------------------------------------------------
    def _check_fitted(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_fitted(self, n_calibration: int, n_normal: int, data_hash: str | None) -> None:
        self.n_calibration_ = int(n_calibration)
        self.n_normal_ = int(n_normal)
        self.data_hash_ = data_hash

    # -- saving -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON form (threshold.json): the common fields, then the class's own state."""
        self._check_fitted()
        tail = {"normal_tail": self.normal_tail_} if getattr(self, "normal_tail_", None) else {}
        return {"method": self.method, "params": self.params(), "value": self._saved_value(),
                "n_calibration": self.n_calibration_, "n_normal": self.n_normal_,
                "data_hash": self.data_hash_, **self._state(), **tail}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Threshold:
        """Rebuild from :meth:`to_dict`'s output (checked against the schema first by
        :func:`~nadkit.thresholds.threshold_from_dict`)."""
        obj = cls(**d.get("params", {}))
        obj._set_fitted(d.get("n_calibration", 0), d.get("n_normal", 0), d.get("data_hash"))
        if d.get("normal_tail") is not None:
            obj.normal_tail_ = d["normal_tail"]
        obj._load_state(d)
        return obj

    def _saved_value(self) -> float | None:
        """threshold.json's ``value`` (None where the rule has no single value)."""
        return None

    def _state(self) -> dict[str, Any]:
        """The class's own fitted fields for threshold.json (beyond the common ones)."""
        return {}

    def _load_state(self, d: dict[str, Any]) -> None:
        """Set the class's own fitted state from :meth:`_state`'s fields in ``d``."""
