"""The per-channel threshold: DC-VAE's asymmetric band ``μ − α_down·σ … μ + α_up·σ`` per
channel (:class:`ChannelAlpha`), fitted on the values and the model's μ, σ."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from nadkit.errors import DataError, NotFittedError
from nadkit.thresholds.alpha_grid import (
    best_pairs,
    grid_positions,
    grid_text,
    point_f1_grid,
    range_f1_grid,
)
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

#: ChannelAlpha's default σ floor, as a share of each channel's std on the calibration normals
SIGMA_FLOOR = 0.05


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
    per_channel = True
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
        """Scores of any shape are refused (DataError): the band needs x, μ and σ per channel
        (:meth:`fit_channels`)."""
        raise DataError("the 'alpha' threshold sets a band per channel from the values x and the "
                        "model's μ and σ, not from one score per row: use "
                        "fit_channels(x, mu, sigma, labels) (CLI: nadkit calibrate --method alpha "
                        "on a series model)")

    def predict(self, scores):
        raise DataError("the 'alpha' threshold flags channels, not scores: use "
                        "predict_channels(x, mu, sigma)")

    # -- fitting --------------------------------------------------------------------------------
    def fit_channels(self, x, mu, sigma, labels=None, data_hash: str | None = None,
                     scores=None) -> ChannelAlpha:
        """Choose (α_up, α_down) per channel; ``x``, ``mu``, ``sigma`` are (n, c), ``labels``
        (n, c) per channel or (n,) for all channels. ``scores`` (n,), the model's per-step
        scores, give the normal steps' upper tail kept for incident severity
        (``normal_tail_``; steps with a labelled anomaly in any channel and NaN scores left
        out)."""
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
        self.n_effective_ = None
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
            iu, idn = grid_positions(z, grid)
            if self.metric == "point":
                f1 = point_f1_grid(iu, idn, y, len(grid))
            else:
                f1 = np.stack([range_f1_grid(iu[:, k], idn[:, k], y[:, k], len(grid),
                                              self.RANGE_PARAMS, self.legacy_grid)
                               if y[:, k].any() else np.zeros((len(grid), len(grid)))
                               for k in range(c)])
            self.alpha_up_, self.alpha_down_, self.best_f1_ = best_pairs(
                f1, grid, y.any(axis=0), self.legacy_grid)
        flags = self._flags(x, mu, sigma)
        self.fpr_ = (flags & normal).sum(axis=0) / np.maximum(normal.sum(axis=0), 1)
        self.step_fpr_ = float(flags[steps].any(axis=1).mean()) if steps.any() else None
        if self.target_fpr is not None:
            n_steps = int(steps.sum())
            self.n_above_ = int(flags[steps].any(axis=1).sum())
            self.expected_fpr_ = m / (n_steps + 1)
            # steps in time order share their neighbours' deviations: the interval counts the
            # normal steps by the effective number of their largest |z| (serial_count)
            n_eff = serial_count(np.nanmax(np.abs(z[steps]), axis=1))
            self.n_effective_ = n_eff if n_eff < n_steps else None
            self.fpr_interval_ = fresh_interval(n_steps, max(m - 1, 0), self.n_effective_)
        self.n_channels_ = c
        self._set_fitted(valid.sum(), steps.sum(), data_hash)
        if scores is not None:  # the normal steps' score tail, for incident severity
            s = np.asarray(scores, dtype=np.float64)
            if s.shape != (n,):
                raise DataError(f"scores have shape {s.shape}; expected ({n},), one per step")
            keep = np.isfinite(s) & (True if labels is None else ~np.asarray(labels).reshape(n, -1).any(axis=1))
            self.normal_tail_ = normal_tail(s[keep])
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

    def band_alphas(self, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        return np.asarray(self.alpha_up_, float), np.asarray(self.alpha_down_, float)

    # -- saving ---------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        def floats(a):
            return [None if np.isnan(v) else float(v) for v in np.asarray(a, dtype=float)]
        return {"alpha_up": floats(self.alpha_up_),
                "alpha_down": floats(self.alpha_down_), "best_f1": floats(self.best_f1_),
                "fpr": floats(self.fpr_), "sigma_min": floats(self.sigma_min_),
                "flat_value": floats(self.flat_value_), "step_fpr": self.step_fpr_,
                "n_above": self.n_above_, "expected_fpr": self.expected_fpr_,
                "fpr_interval": None if self.fpr_interval_ is None else list(self.fpr_interval_),
                "fpr_interval_level": None if self.fpr_interval_ is None else FPR_INTERVAL_LEVEL,
                "held_out_fpr": self.held_out_fpr_,
                **({} if self.n_effective_ is None else {"n_effective": self.n_effective_})}

    def _load_state(self, d: dict[str, Any]) -> None:
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
            self.n_effective_ = None if d.get("n_effective") is None else float(d["n_effective"])
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

    def promise(self, n_fresh: int | None = None) -> Promise | None:
        """With ``target_fpr``: the step FPR it promises on ``n_fresh`` fresh normal steps
        (counted by the calibration steps' effective fraction); None for bands fitted on labels."""
        if self.target_fpr is None or self.fpr_interval_ is None:
            return None
        n = self.n_normal_
        m = round(self.expected_fpr_ * (n + 1))
        return Promise(self.target_fpr, self.expected_fpr_,
                       fresh_interval(n, max(m - 1, 0), self.n_effective_, n_fresh=n_fresh))

    def label(self) -> str:
        if self.target_fpr is not None:
            return f"α bands (step FPR {percent(self.target_fpr)})"
        return f"α bands ({self.metric} F1{', legacy grid' if self.legacy_grid else ''})"

    def describe(self) -> str:
        self._check_fitted()
        how = (f"step target FPR {self.target_fpr:g}" if self.target_fpr is not None
               else f"best {self.metric} F1 on labels, grid {grid_text(self.alpha_grid())}")
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
            if self.n_effective_ is not None:
                text += f" (the steps count as about {self.n_effective_:,.0f} independent ones)"
        if self.held_out_fpr_ is not None:
            text += f", on held-out normal steps {self.held_out_fpr_:.3g}"
        return text


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


