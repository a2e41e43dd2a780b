"""``SeriesPreprocessor``: channels → standardised float32 matrix, fitted on training data only.

* Per-channel scaling with training statistics: ``scaling="zscore"`` (default; training mean and
  std) or ``"minmax"`` (the training range mapped to [−1, 1], what tanh-output GANs such as
  Net-GAN expect; later values may fall outside it). A channel constant in training keeps
  scale 1, so later changes in it still show. Both are stored as ``mean_`` (centre) and
  ``scale_``: x ↦ (x − mean) / scale.
* Optional DC-VAE outlier masking (``mask_outliers``), **on the training series only**: values
  more than ``max_std`` training standard deviations from the mean are treated as missing and
  forward/backward filled before the scaler is fitted, so rare spikes in the training data do
  not shape the model. Upstream also masked the *test* series with its own statistics, which
  overwrote the largest anomalies before detection (seeds-spec §1.11.4); here ``transform``
  never changes a value except by the scaler.
* Schema = channel names, step and window length: ``transform`` checks the channels (by name;
  extra columns are ignored, order does not matter), the step (when both sides know it), NaN
  and that the series holds at least one window. The state is plain JSON.

>>> import numpy as np, pandas as pd
>>> df = pd.DataFrame({"cpu": [1.0, 2.0, 3.0, 50.0, 2.0], "mem": [5.0] * 5})
>>> pre = SeriesPreprocessor(mask_outliers=True, max_std=1.5).fit(df)
>>> pre.n_masked_, pre.channels_, pre.transform(df[["mem", "cpu"]]).shape
(1, ['cpu', 'mem'], (5, 2))
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nadkit.data.schema import InputSchema
from nadkit.data.series.container import SeriesData
from nadkit.errors import DataError, NotFittedError

_EPS = 1e-8
SCALINGS = ("zscore", "minmax")


class SeriesPreprocessor:
    """Scale channels with training statistics and check the series schema."""

    kind = "series"

    def __init__(self, mask_outliers: bool = False, max_std: float = 7.0, scaling: str = "zscore") -> None:
        self.mask_outliers = mask_outliers
        self.max_std = max_std
        self.scaling = scaling

    # ------------------------------------------------------------------------------- fitting
    def fit(self, data: SeriesData | pd.DataFrame, window: int = 1) -> SeriesPreprocessor:
        """Fit on the training series; ``window`` (the model's) becomes part of the schema."""
        self.fit_transform(data, window)
        return self

    def fit_transform(self, data: SeriesData | pd.DataFrame, window: int = 1) -> np.ndarray:
        """Fit and return the standardised training series (outliers masked when enabled)."""
        if self.scaling not in SCALINGS:
            raise DataError(f"scaling must be one of {SCALINGS}, got {self.scaling!r}")
        X, step = self._frame(data)
        values = self._numeric(X, list(X.columns))
        if len(values) == 0:
            raise DataError("cannot fit a series preprocessor on an empty series")
        if not np.isfinite(values).all():
            raise DataError("the training series has NaN/inf values; fill gaps first (--fill-gaps)")
        self.channels_ = [str(c) for c in X.columns]
        if len(set(self.channels_)) != len(self.channels_):
            raise DataError(f"duplicate channel names: {sorted({c for c in self.channels_ if self.channels_.count(c) > 1})}")
        self.n_masked_ = 0
        if self.mask_outliers:
            mean, std = values.mean(axis=0), values.std(axis=0)
            far = np.abs(values - mean) > self.max_std * np.where(std > _EPS, std, np.inf)
            self.n_masked_ = int(far.sum())
            if self.n_masked_:
                values = pd.DataFrame(np.where(far, np.nan, values)).ffill().bfill().to_numpy()
        if self.scaling == "minmax":
            lo, hi = values.min(axis=0), values.max(axis=0)
            mean, std = (hi + lo) / 2, (hi - lo) / 2
        else:
            mean, std = values.mean(axis=0), values.std(axis=0)
        self.mean_ = mean.tolist()
        self.scale_ = np.where(std > _EPS, std, 1.0).tolist()
        self.step_ = step
        self.window_ = int(window)
        return ((values - mean) / np.asarray(self.scale_)).astype(np.float32)

    # ----------------------------------------------------------------------------- transform
    def transform(self, data: SeriesData | pd.DataFrame) -> np.ndarray:
        """Validate against the training schema and standardise: (n_steps, n_channels) float32."""
        self._check_fitted()
        X, step = self._frame(data)
        self.input_schema().check(X)
        if step is not None and self.step_ is not None and pd.Timedelta(step) != pd.Timedelta(self.step_):
            raise DataError(f"the series has a step of {step}; the model was trained on a step of {self.step_}")
        if len(X) < self.window_:
            raise DataError(f"the series has {len(X)} time steps, fewer than the model's window length "
                            f"{self.window_}; give at least {self.window_} steps")
        values = self._numeric(X, self.channels_)
        bad = ~np.isfinite(values)
        if bad.any():
            cols = [self.channels_[j] for j in np.flatnonzero(bad.any(axis=0))[:5]]
            raise DataError(f"NaN/inf values in {int(bad.any(axis=1).sum())} steps (channels {cols}); "
                            f"fill gaps first (--fill-gaps)")
        with np.errstate(over="ignore"):
            Z = ((values - np.asarray(self.mean_)) / np.asarray(self.scale_)).astype(np.float32)
        huge = ~np.isfinite(Z)
        if huge.any():
            cols = [self.channels_[j] for j in np.flatnonzero(huge.any(axis=0))[:5]]
            raise DataError(f"values too large in {int(huge.any(axis=1).sum())} steps (channels {cols}): "
                            "beyond the float32 range after scaling, far outside the range the model was trained on")
        return Z

    def inverse_transform(self, Z: np.ndarray, scale_only: bool = False) -> np.ndarray:
        """Back to the channels' units: values (``mean + z·scale``) or scales (``z·scale``)."""
        self._check_fitted()
        Z = np.asarray(Z, dtype=np.float64)
        return Z * np.asarray(self.scale_) if scale_only else Z * np.asarray(self.scale_) + np.asarray(self.mean_)

    # ------------------------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"kind": self.kind, "params": self.get_params(),
                "state": {k: getattr(self, k) for k in ("channels_", "mean_", "scale_", "step_",
                                                         "window_", "n_masked_")}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesPreprocessor:
        """Rebuild from :meth:`to_dict`'s output; every field is checked first (DataError)."""
        from nadkit.artifact_schema import validate_preprocessor
        from nadkit.errors import ArtifactError

        try:
            validate_preprocessor(d, "saved series preprocessor")
        except ArtifactError as exc:
            raise DataError(str(exc)) from None
        obj = cls(**d["params"])
        state = d["state"]
        for k in ("channels_", "mean_", "scale_", "step_", "window_", "n_masked_"):
            setattr(obj, k, state[k])
        if not (len(obj.channels_) == len(obj.mean_) == len(obj.scale_)):
            raise ValueError("channels, mean and scale have different lengths")
        return obj

    def get_params(self) -> dict[str, Any]:
        return {"mask_outliers": self.mask_outliers, "max_std": self.max_std, "scaling": self.scaling}

    def input_schema(self) -> InputSchema:
        """The channels as an :class:`~nadkit.data.schema.InputSchema` (numeric, in order)."""
        self._check_fitted()
        return InputSchema.of_channels(self.channels_)

    def schema(self) -> dict[str, Any]:
        """The input schema: channel names (also as ``columns``), step and window length."""
        self._check_fitted()
        return {"kind": "series", "columns": self.channels_, "channels": self.channels_,
                "step": self.step_, "window": self.window_}

    # ------------------------------------------------------------------------------- helpers
    def _check_fitted(self) -> None:
        if not hasattr(self, "channels_"):
            raise NotFittedError("SeriesPreprocessor is not fitted; call fit() first")

    @staticmethod
    def _frame(data: SeriesData | pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
        if isinstance(data, SeriesData):
            return data.X, data.meta.get("step")
        if isinstance(data, pd.DataFrame):
            return data.rename(columns=str), None
        raise DataError("expected SeriesData or a pandas DataFrame of channels")

    @staticmethod
    def _numeric(X: pd.DataFrame, cols: list[str]) -> np.ndarray:
        bad = [c for c in cols if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        if bad:
            raise DataError(f"non-numeric channels: {bad[:5]}")
        return X[cols].to_numpy(dtype=np.float64, na_value=np.nan)
