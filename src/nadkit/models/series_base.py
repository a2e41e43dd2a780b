"""The series detector contract, and its torch base (windows through the shared trainer).

A series detector takes ``X`` of shape (n_steps, n_channels), in time order, and handles
windows inside:

* ``score(X)`` → one score per step, shape (n_steps,). **The first ``window - 1`` steps are
  NaN**: no full window ends there (``n_unscored_`` says how many). Everything downstream
  (thresholds, metrics, outputs) skips NaN steps explicitly and reports how many it skipped.
* ``score_features(X)`` → per-channel scores (n_steps, n_channels), same NaN rows;
  ``score`` is their mean (``aggregate="mean"``), max (``"max"``) or the mean of the three
  largest (``"top3"``: an anomaly on a few of many channels is not averaged away) over channels.
* ``gaussian(X)`` → ``(mu, sigma)``, each (n_steps, n_channels): the model's expected value
  and scale per step and channel (DC-VAE: decoder mean and std; Seq2Seq: reconstruction and
  the per-channel residual scale). Channel score = ``|x − μ| / σ`` (``channel_score="z"``)
  or ``|x − μ| / s`` with the per-channel residual scale ``residual_scale_`` estimated on the
  validation tail (``"residual"``; for Seq2Seq the two are the same), or ``|x − μ| / d`` with
  the per-channel std ``train_scale_`` of the training series (``"unit"``: every channel
  weighed by its own spread, as a squared error of z-scored data does).
* ``predict(X)`` / ``predict_channels(X)`` → 0/1 flags per step / per step and channel from
  ``threshold_``: a scalar threshold on the scores, or a per-channel one (``per_channel``,
  e.g. the ``alpha`` band rule ``x < μ − α_down·σ or x > μ + α_up·σ``) on the model's μ, σ.
* ``smooth = k > 1`` (a hyper-parameter where a model has one; DC-VAE's default is 32): the
  step score is the causal moving mean (``smooth_stat="mean"``) or max (``"max"``, DC-VAE's
  default) of the aggregated channel scores over the last k scored steps (fewer at the
  start): the mean weighs a one-step blip less than a sustained deviation, the max keeps a
  short peak's height and holds it for k steps; per-channel scores are not smoothed.
* The score at step t depends only on steps ``t - context_ + 1 … t`` (``context_`` ≥
  ``window + smooth - 1``; see each model), so a stream scorer that keeps the last
  ``context_`` steps reproduces batch scores exactly.

Too short a series (fewer steps than ``window``), the wrong number of channels and NaN/inf
raise :class:`~nadkit.errors.DataError`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from nadkit.data.series.windows import WindowSplit, blocked_split, chunks, n_windows, window_fetch
from nadkit.errors import ArtifactError, DataError
from nadkit.models.base import MIN_HELD_OUT, BaseDetector, default_threshold
from nadkit.models.torch_base import TorchDetector, auto_epochs, infer_batches
from nadkit.models.train import (
    BatchDataset,
    TrainConfig,
    fit_network,
    fixed_threads,
)
from nadkit.progress import report_steps
from nadkit.thresholds import Threshold, make_threshold
from nadkit.thresholds.base import CalibrationWarning
from nadkit.validation import check_matrix

AGGREGATES = ("max", "mean", "top3")
#: lower bound of a residual scale (standardised units): a channel reconstructed perfectly on
#: the validation tail cannot give infinite scores
MIN_SCALE = 1e-3


def check_series(X, n_channels: int | None, window: int, what: str = "series") -> np.ndarray:
    """``X`` as a finite float32 (n_steps, n_channels) array at least ``window`` steps long."""
    arr = check_matrix(X, n_channels, what=what)
    if len(arr) < window:
        raise DataError(f"{what} has {len(arr)} time steps, fewer than the window length {window}; "
                        f"give a longer series (at least {window} steps)")
    return arr


def causal_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of the last ``k`` finite values at every step (of those so far while fewer);
    leading NaN (unscored steps) stay NaN.

    >>> causal_mean(np.array([np.nan, 1.0, 3.0, 5.0, 7.0]), 2).tolist()
    [nan, 1.0, 2.0, 4.0, 6.0]
    """
    def mean(v: np.ndarray) -> np.ndarray:
        c = np.concatenate([[0.0], np.cumsum(v)])
        t = np.arange(1, len(v) + 1)
        lo = np.maximum(t - k, 0)
        return (c[t] - c[lo]) / (t - lo)

    return x if k <= 1 else _after_leading_nan(x, mean)


def causal_max(x: np.ndarray, k: int) -> np.ndarray:
    """Max of the last ``k`` finite values at every step (of those so far while fewer): a peak
    keeps its height and lasts ``k`` steps; leading NaN (unscored steps) stay NaN.

    >>> causal_max(np.array([np.nan, 1.0, 3.0, 2.0, 0.0, 0.0]), 2).tolist()
    [nan, 1.0, 3.0, 3.0, 2.0, 0.0]
    """
    def peak(v: np.ndarray) -> np.ndarray:
        if not len(v):
            return v
        return np.lib.stride_tricks.sliding_window_view(np.concatenate([np.full(k - 1, -np.inf), v]), k).max(axis=1)

    return x if k <= 1 else _after_leading_nan(x, peak)


def _after_leading_nan(x: np.ndarray, fn) -> np.ndarray:
    """``fn`` applied to ``x`` from its first finite value on (float64); the leading NaN stay."""
    out = np.array(x, dtype=np.float64)
    start = int(np.argmax(np.isfinite(out))) if np.isfinite(out).any() else len(out)
    out[start:] = fn(out[start:])
    return out


def aggregate_channels(per_channel: np.ndarray, how: str) -> np.ndarray:
    """One value per row of (n, c) channel scores: their ``"mean"``, ``"max"`` or ``"top3"``
    (the mean of the three largest); a row with a NaN gives NaN.

    >>> aggregate_channels(np.array([[1.0, 5.0, 2.0, 4.0]]), "top3")
    array([3.66666667])
    """
    with np.errstate(all="ignore"):
        if how == "top3":
            k = min(3, per_channel.shape[1])
            out = -np.partition(-per_channel, k - 1, axis=1)[:, :k].mean(axis=1)
            out[np.isnan(per_channel).any(axis=1)] = np.nan   # as mean and max propagate NaN
            return out
        return per_channel.max(axis=1) if how == "max" else per_channel.mean(axis=1)


#: the statistic of the last ``smooth`` step scores (``smooth_stat``)
SMOOTH_STATS = {"mean": causal_mean, "max": causal_max}


class SeriesDetector(BaseDetector):
    """Base class of series detectors (see the module docs for the contract)."""

    tags = frozenset({"series", "feature_scores", "gaussian"})
    #: overridden by a ``channel_score`` hyper-parameter where a model has one (DC-VAE)
    channel_score: str = "z"
    #: the hyper-parameter that names the units a channel's residual is divided by:
    #: ``"residual"`` (``residual_scale_``), ``"unit"`` (``train_scale_``) or a model's own
    units_param: str = "channel_score"
    #: steps of the causal moving mean or max of the step score (1 = none); a hyper-parameter in DC-VAE
    smooth: int = 1
    #: ``"mean"`` or ``"max"`` of the last ``smooth`` step scores; a hyper-parameter in DC-VAE
    smooth_stat: str = "mean"
    #: how the held-out segments are scored for the default threshold: ``"alone"`` (each on
    #: its own, so its first ``context_ - 1`` steps get no or a partial score) or
    #: ``"history"`` (after the steps before it, so every held-out step gets the score a
    #: stream would give it); chosen in ``benchmarks/series_calibration.py``
    held_out_scoring: str = "alone"
    #: steps a chronological tail needs to be held out (None: one window); a tail shorter than
    #: a window has no validation windows, only scored steps. Chosen in the same benchmark.
    min_tail: int | None = None

    # ------------------------------------------------------------------------------ fitting
    def fit(self, X, y=None) -> SeriesDetector:
        """Fit on a (mostly normal) series; ``y`` is ignored. The default threshold is
        :class:`~nadkit.thresholds.TargetFPR` at 1 % on scores of the validation tail (or of the
        training series without one). Its FPR interval counts the tail's autocorrelated scores
        by their effective number (:func:`~nadkit.thresholds.base.effective_count`); it still
        assumes the new data behave like the tail, which drifting series do not
        (``benchmarks/series_calibration.py``)."""
        if self.aggregate not in AGGREGATES:
            raise DataError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")
        if not (isinstance(self.smooth, int) and not isinstance(self.smooth, bool) and self.smooth >= 1):
            raise DataError(f"smooth must be an integer ≥ 1 (steps of the score's moving mean or max), got {self.smooth!r}")
        if self.smooth_stat not in SMOOTH_STATS:
            raise DataError(f"smooth_stat must be one of {tuple(SMOOTH_STATS)}, got {self.smooth_stat!r}")
        X = check_series(X, None, self.window, "training series")
        self.n_features_in_ = X.shape[1]
        held_out = self._fit(X)
        scores = held_out if held_out is not None else np.empty(0)
        if np.isfinite(scores).sum() >= MIN_HELD_OUT:
            self.calibration_source_ = "validation tail of the training series"
        else:
            scores, self.calibration_source_ = self.score(X), "training series"
            need = (f"{MIN_HELD_OUT}" if self.held_out_scoring == "history"
                    else f"window + {MIN_HELD_OUT} = {self.window + MIN_HELD_OUT}")
            warnings.warn(
                f"the training series ({len(X):,} steps) leaves no held-out tail long enough to score "
                f"({need} steps): the default threshold comes from the training "
                "steps' own scores, which the model has fitted, so expect more alarms than its target FPR "
                "on new data; calibrate on a separate normal period (nadkit calibrate) or train on a "
                "longer series", CalibrationWarning, stacklevel=2)
        self.calibration_scores_ = scores[np.isfinite(scores)]
        self.threshold_ = default_threshold(self.calibration_scores_, serial=True)
        return self

    @property
    def n_unscored_(self) -> int:
        """Steps at the start of every scored series that get NaN (``window - 1``)."""
        return self.window - 1

    @property
    def _step_context(self) -> int:
        """Steps of history one unsmoothed step score depends on (``window``; DC-VAE: its
        receptive field where that is longer)."""
        return self.window

    @property
    def context_(self) -> int:
        """Steps of history the score at one step depends on: the unsmoothed score's and the
        ``smooth - 1`` earlier steps its moving mean adds (at least ``window``)."""
        return self._step_context + self.smooth - 1

    def series_info(self) -> dict[str, Any]:
        """What a stream scorer needs: window, context to keep, unscored steps, aggregation."""
        return {"window": self.window, "context": self.context_, "n_unscored": self.n_unscored_,
                "aggregate": self.aggregate}

    # ------------------------------------------------------------------------------ scoring
    def _check_input(self, X) -> np.ndarray:
        self._check_fitted()
        return check_series(X, self.n_features_in_, self.window)

    def gaussian(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Expected value ``mu`` and scale ``sigma`` per step and channel (NaN rows at the start)."""
        X = self._check_input(X)
        return self._padded(*self._mu_sigma(X), n=len(X))

    def score_features(self, X) -> np.ndarray:
        """Per-channel scores ``|x − μ| / σ``, shape (n_steps, n_channels); first rows NaN."""
        X = self._check_input(X)
        return self._padded(self._channel_scores(X), n=len(X))[0]

    def score(self, X) -> np.ndarray:
        """One score per step (mean or max of the channel scores); the first ``window-1`` are NaN."""
        X = self._check_input(X)
        out = np.full(len(X), np.nan)
        out[self.window - 1:] = self._aggregate(self._channel_scores(X))
        return out

    def _aggregate(self, per_channel: np.ndarray) -> np.ndarray:
        if self.aggregate not in AGGREGATES:
            raise DataError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")
        out = aggregate_channels(per_channel, self.aggregate)
        return SMOOTH_STATS[self.smooth_stat](out.astype(np.float64), self.smooth)

    def _channel_scores(self, X: np.ndarray) -> np.ndarray:
        """Channel scores for the scored steps (rows ``window-1 …``)."""
        return self._scores_from(X, *self._mu_sigma(X))

    def _scores_from(self, X: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Channel scores of the scored steps given their ``mu``, ``sigma``: ``|x − μ| / σ`` with
        the model's σ (``channel_score="z"``), the per-channel residual scale on normal data
        (``"residual"``) or the training std (``"unit"``)."""
        return np.abs(X[self.window - 1:] - mu) / self._units_scale(sigma)

    def _half_widths(self, X: np.ndarray, mu: np.ndarray, sigma: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """How far from μ each channel of each scored step may be before its channel score
        exceeds the step's threshold ``limit`` (scored steps, model units): ``limit · s`` for a
        channel score ``|x − μ| / s``, so the band ``μ ± half-width`` and the flags agree."""
        return limit[:, None] * self._units_scale(sigma)

    def _units_scale(self, otherwise):
        """The per-channel scale the ``units_param`` hyper-parameter names: ``residual_scale_``
        for ``"residual"``, ``train_scale_`` for ``"unit"``, else ``otherwise``."""
        units = getattr(self, self.units_param)
        if units == "residual":
            return self.residual_scale_
        if units == "unit":
            return self.train_scale_
        return otherwise

    def _mu_sigma(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) for the scored steps only, each (n_steps - window + 1, n_channels)."""
        raise NotImplementedError

    def _padded(self, *arrays: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        out = []
        for a in arrays:
            full = np.full((n, a.shape[1]), np.nan, dtype=np.float64)
            full[n - len(a):] = a
            out.append(full)
        return tuple(out)

    # --------------------------------------------------------------------------- thresholds
    def calibrate(self, X, y=None, method: str | Threshold = "quantile", channel_labels=None,
                  **params: Any) -> SeriesDetector:
        """Fit ``threshold_`` on a (validation) series, never on test labels.

        A per-channel threshold (``per_channel``, e.g. ``method="alpha"``: asymmetric α bands)
        is fitted on the model's μ, σ: with labels (``channel_labels`` (n, c), or ``y`` (n,) for
        every channel) it maximises F1 per channel; with ``target_fpr`` each channel's band
        comes from normal data (labelled anomalies, if given, are left out). A scalar threshold
        is fitted on the per-step scores (``y`` for those that need labels). Unscored steps
        (the first ``window-1``) are left out.
        """
        X = self._check_input(X)
        threshold = method if isinstance(method, Threshold) else make_threshold(method, **params)
        if threshold.per_channel:
            labels = channel_labels if channel_labels is not None else y
            if labels is not None:
                labels = np.asarray(labels)
                if labels.shape not in (X.shape, (len(X),)):
                    raise DataError(f"labels have shape {labels.shape}; the series is {X.shape}")
            mu, sigma = self.gaussian(X)
            # the per-step scores give the normal steps' score tail, for incident severity
            self.threshold_ = threshold.fit_channels(X, mu, sigma, labels=labels, scores=self.score(X))
            return self
        s = self.score(X)
        ok = np.isfinite(s)
        threshold.serial = True     # steps in time order: the FPR interval counts them by effective_count
        self.threshold_ = threshold.fit(s[ok], None if y is None else np.asarray(y)[ok])
        return self

    def analyse(self, X, history=None, start: int = 0) -> dict[str, np.ndarray]:
        """Everything a series view needs, from one pass of the network, in model units: per
        step and channel ``mu``, ``sigma``, the channel ``score``, the band ``lower`` / ``upper``
        and the channel ``flag``; per step ``step_score``, ``step_threshold`` and ``step_flag``.
        Unscored rows (the first ``window - 1``) are NaN, flags 0 there.

        With a scalar threshold, a channel is flagged when its score exceeds its step's
        threshold (``step_threshold``: the fitted value, or a rolling threshold's at that step)
        and the band is where it is not; the step flag is the step score against the same
        threshold. With per-channel bands (``alpha``) a step is flagged when any channel is,
        and ``step_threshold`` is NaN. ``history`` and ``start``: a rolling threshold's window
        continues ``history`` (a stream's earlier step scores) at row ``start``; earlier rows
        get no threshold and no flag.

        >>> from nadkit.models import Seq2Seq
        >>> X = np.random.default_rng(0).normal(size=(600, 2)).astype(np.float32)
        >>> a = Seq2Seq(window=16, hidden=4, epochs=1).fit(X).analyse(X)
        >>> outside = (X < a["lower"]) | (X > a["upper"])
        >>> bool((outside == a["flag"].astype(bool))[15:].all())
        True
        """
        X = self._check_input(X)
        n, w, thr = len(X), self.window, self.threshold_
        mu_s, sigma_s = self._mu_sigma(X)
        scores_s = self._scores_from(X, mu_s, sigma_s)
        mu, sigma, score = self._padded(mu_s, sigma_s, scores_s, n=n)
        step = np.full(n, np.nan)
        step[w - 1:] = self._aggregate(scores_s)
        limit = np.full(n, np.nan)
        with np.errstate(invalid="ignore"):
            if thr.per_channel:
                ok = np.isfinite(mu).all(axis=1)
                flag = np.zeros(X.shape, np.int8)
                flag[ok] = thr.predict_channels(X[ok], mu[ok], sigma[ok])
                lower, upper = np.full(X.shape, np.nan), np.full(X.shape, np.nan)
                lower[ok], upper[ok] = thr.bands(mu[ok], sigma[ok])
                step_flag = flag.any(axis=1).astype(np.int8)
            else:
                limit[start:] = thr.step_thresholds(step[start:], history)
                flag = (score > limit[:, None]).astype(np.int8)     # NaN (unscored) is never flagged
                half = self._padded(self._half_widths(X, mu_s, sigma_s, limit[w - 1:]), n=n)[0]
                lower, upper = mu - half, mu + half
                step_flag = (step > limit).astype(np.int8)
        return {"mu": mu, "sigma": sigma, "score": score, "lower": lower, "upper": upper, "flag": flag,
                "step_score": step, "step_threshold": limit, "step_flag": step_flag}

    def predict_channels(self, X) -> np.ndarray:
        """0/1 flags per step and channel (0 on unscored steps; see :meth:`analyse`)."""
        return self.analyse(X)["flag"]

    def predict(self, X) -> np.ndarray:
        """0/1 flag per step (0 on the unscored first ``window-1`` steps)."""
        if self.threshold_.per_channel:
            return self.predict_channels(X).any(axis=1).astype(np.int8)
        return self.threshold_.predict(self.score(X))  # NaN (unscored) > value is never true


class TorchSeriesDetector(SeriesDetector, TorchDetector):
    """Torch series detector: causal windows streamed in batches to the shared trainer.

    Training windows (every ``train_stride`` steps) come from the first
    ``1 - validation_fraction`` of the series; validation windows (early stopping) from the
    chronological tail, which also gives the default threshold's scores and the residual
    scale. With ``validation_blocks = k > 1`` the last ``validation_fraction`` of each of k
    equal blocks is held out instead (:func:`~nadkit.data.series.windows.blocked_split`). ``step_budget``
    (with ``epochs=None``) sets the epochs to about that many optimiser steps; a budget
    smaller than one epoch runs that many batches (of shuffled windows) only.

    Training and scoring run under a fixed number of intra-op threads
    (:func:`~nadkit.models.train.fixed_threads`: one unless ``NADKIT_THREADS`` or
    ``trainer_options(threads=…)`` say otherwise), so the same seed gives the same scores
    whatever the machine's thread count.
    """

    infer_chunk: int = 8192
    #: blocks whose last ``validation_fraction`` is held out (1 = the chronological tail; see
    #: :func:`~nadkit.data.series.windows.blocked_split`); a hyper-parameter in DC-VAE
    validation_blocks: int = 1

    def _fit(self, X: np.ndarray) -> np.ndarray | None:
        torch.manual_seed(self.random_state)
        split = blocked_split(len(X), self.window, self.validation_fraction, self.validation_blocks,
                              self.train_stride, self.min_tail)
        Xt = torch.from_numpy(X)
        train = BatchDataset(len(split.train), window_fetch(Xt, self.window, split.train))
        val = BatchDataset(len(split.val), window_fetch(Xt, self.window, split.val)) if len(split.val) else None
        self.net_ = self._build_net(X.shape[1])
        self._before_training(X[~split.held_out(len(X))])
        result = fit_network(self.net_, train, val, self._train_config(len(split.train)))
        self._record(result)
        self.net_.eval()
        self._after_training(X, split)
        return self._held_out_scores(X, split)

    def _held_out_scores(self, X: np.ndarray, split: WindowSplit) -> np.ndarray | None:
        """Scores of the held-out steps (``held_out_scoring``), or None when there are none."""
        if self.held_out_scoring == "history":
            parts = []
            for a, b in split.segments:
                h = min(a, self.context_ - 1)
                parts.append(self.score(X[a - h:b])[h:])
        else:
            parts = [self.score(X[a:b]) for a, b in split.segments if b - a >= self.window]
        return np.concatenate(parts) if parts else None

    def _held_out_parts(self, X: np.ndarray, split: WindowSplit) -> tuple[list[np.ndarray], str]:
        """The normal data the residual scale is estimated on, and its name: the held-out
        segments long enough to score (``window + 50`` steps), else the training part."""
        parts = [X[a:b] for a, b in split.segments if b - a >= self.window + 50]
        if not parts:
            return [X[:split.cut]], "training part"
        return parts, "validation tail" if len(split.segments) == 1 else f"{len(parts)} held-out segments"

    def _after_training(self, X: np.ndarray, split: WindowSplit) -> None:
        """Estimate the per-channel residual scale (RMS of x − μ) on normal data: the held-out
        segments (each scored on its own), or the training part when they are too short."""
        std = X.std(axis=0, dtype=np.float64)
        self.train_scale_ = np.where(std > MIN_SCALE, std, 1.0)   # a constant channel: its own units
        parts, self.residual_source_ = self._held_out_parts(X, split)
        resid = np.concatenate([p[self.window - 1:] - self._expected(p) for p in parts])
        self.residual_scale_ = np.maximum(np.sqrt(np.mean(np.square(resid, dtype=np.float64), axis=0)),
                                          MIN_SCALE)

    def _expected(self, X: np.ndarray) -> np.ndarray:
        """μ for the scored steps (by default from :meth:`_mu_sigma`)."""
        return self._mu_sigma(X)[0]

    def _extra_state(self) -> dict[str, Any]:
        return {"residual_scale": self.residual_scale_.tolist(), "residual_source": self.residual_source_,
                "train_scale": self.train_scale_.tolist()}

    def _load_extra_state(self, meta: dict[str, Any]) -> None:
        self.residual_scale_ = self._scale_from(meta, "residual_scale")
        self.residual_source_ = meta.get("residual_source", "")
        # files written before the "unit" channel score lack it (and cannot use that score)
        self.train_scale_ = self._scale_from(meta, "train_scale") if "train_scale" in meta else None
        if self.train_scale_ is None and getattr(self, self.units_param) == "unit":
            raise ArtifactError(f"config.json: {self.units_param} 'unit' needs train_scale, which this file lacks")

    def _scale_from(self, meta: dict[str, Any], key: str) -> np.ndarray:
        scale = np.asarray(meta[key], dtype=np.float64)
        if scale.shape != (self.n_features_in_,) or not np.isfinite(scale).all() or not (scale > 0).all():
            raise ArtifactError(f"config.json: {key} must hold {self.n_features_in_} finite values > 0")
        return scale

    def _train_config(self, n_train: int) -> TrainConfig:
        cfg = super()._train_config(n_train)
        if self.epochs is None:
            cfg.epochs = auto_epochs(n_train, self.batch_size, step_budget=self.step_budget, lo=1)
            if self.step_budget < math.ceil(n_train / self.batch_size):  # less than one epoch
                cfg.max_batches = max(1, int(self.step_budget))
        cfg.threads = fixed_threads()
        return cfg

    # ------------------------------------------------------------------------------ helpers
    def _stream(self, X: np.ndarray, fn, context: int) -> list[np.ndarray]:
        """Apply ``fn(x (b, c, L)) -> tuple of (b, c', L)`` causally over the whole series in
        overlapping chunks (``context`` steps repeated), batched; return each output as
        (n_steps, c') for every step."""
        Xt = torch.from_numpy(np.ascontiguousarray(X.T))          # (c, n)
        blocks = list(chunks(len(X), self.infer_chunk, context))
        per_batch = max(1, math.ceil(65_536 / (self.infer_chunk + context)))
        groups = [blocks[i:i + per_batch] for i in range(0, len(blocks), per_batch)]

        def batches():
            for group in groups:
                xb = torch.zeros(len(group), X.shape[1], max(stop - a for a, _, stop in group))
                for k, (a, _, stop) in enumerate(group):       # left-align; pad the short tail
                    xb[k, :, :stop - a] = Xt[:, a:stop]
                yield xb
                report_steps(group[-1][2], len(X))             # runs once the batch is scored

        outs = infer_batches(self.net_, self.device, batches(), fn, fixed_threads())
        return [np.concatenate([r[k, :, start - a:stop - a].T for r, group in zip(out, groups, strict=True)
                                for k, (a, start, stop) in enumerate(group)], axis=0) for out in outs]

    def _windows(self, X: np.ndarray, fn, batch: int = 4096) -> list[np.ndarray]:
        """Apply ``fn(windows (b, c, window)) -> tuple of (b, c')`` to every window, batched;
        row i of each output belongs to the window ending at step ``window - 1 + i``."""
        n = n_windows(len(X), self.window)
        fetch = window_fetch(torch.from_numpy(X), self.window, np.arange(n))
        def batches():
            for start in range(0, n, batch):
                yield fetch(torch.arange(start, min(n, start + batch)))
                report_steps(min(n, start + batch) + self.window - 1, len(X))  # once it is scored

        return [np.concatenate(o, axis=0) for o in infer_batches(self.net_, self.device, batches(), fn, fixed_threads())]
