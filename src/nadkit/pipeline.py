"""``Pipeline``: preprocessor + detector + threshold, fitted and used on raw tables.

>>> import numpy as np, pandas as pd
>>> from nadkit.models import IForest
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"bytes": rng.lognormal(5, 1, 1000), "proto": rng.choice(["tcp", "udp"], 1000)})
>>> pipe = Pipeline(IForest(random_state=0)).fit(df)
>>> pipe.score(df.head(3)).shape
(3,)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nadkit.data.container import TableData
from nadkit.data.preprocess import Preprocessor
from nadkit.errors import DataError
from nadkit.models.base import BaseDetector
from nadkit.thresholds import Threshold


def hash_frame(df: pd.DataFrame) -> str:
    """Short SHA-256 of a DataFrame's values and column names (identifies training data)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


class Pipeline:
    """A detector with its preprocessing and threshold, for raw feature tables."""

    def __init__(self, detector: BaseDetector, preprocessor: Preprocessor | None = None) -> None:
        self.detector = detector
        self.preprocessor = preprocessor if preprocessor is not None else Preprocessor()
        self.info: dict[str, Any] = {}
        self.manifest: dict[str, Any] = {}

    # ------------------------------------------------------------------------------- fitting
    def fit(self, data: pd.DataFrame | TableData, normal_only: bool = True) -> Pipeline:
        """Fit preprocessing and detector; with labelled data only normal rows are used."""
        table = data if isinstance(data, TableData) else TableData(data)
        if normal_only and table.y is not None:
            table = table.normal()
        if len(table) == 0:
            raise DataError("no (normal) rows to train on")
        X = self.preprocessor.fit_transform(table.X)
        self.detector.fit(X)
        self.info = {"training_rows": len(table), "training_hash": hash_frame(table.X),
                     "training_data": table.name}
        return self

    def fit_file(self, path: str | os.PathLike[str], label_col: str | None = None,
                 drop_cols: Sequence[str] = (), normal_only: bool = True,
                 workdir: str | os.PathLike[str] | None = None, batch_rows: int | None = None) -> Pipeline:
        """Fit on a CSV/Parquet file of any size, streamed in batches (out of core).

        The preprocessor is fitted batch by batch; the preprocessed training rows go to a
        temporary memory-mapped float32 file in ``workdir`` (default: the system temp
        directory) that the detector trains from and that is deleted afterwards. Same result
        as :meth:`fit` on the same rows (see :mod:`nadkit.data.stream`).
        """
        import tempfile

        from nadkit.data.stream import fit_preprocessor, transform_to_memmap
        from nadkit.io import BATCH_ROWS

        kw = {"label_col": label_col, "drop_cols": drop_cols, "normal_only": normal_only,
              "batch_rows": batch_rows or BATCH_ROWS}
        _, stats = fit_preprocessor(self.preprocessor, path, **kw)
        with tempfile.TemporaryDirectory(prefix="nadkit-train-", dir=workdir) as tmp:
            X = transform_to_memmap(self.preprocessor, path, os.path.join(tmp, "X.npy"), rows=stats["rows"], **kw)
            self.detector.fit(X)
            del X
        self.info = {"training_rows": stats["rows"], "training_hash": stats["hash"],
                     "training_data": os.path.basename(os.fspath(path))}
        return self

    # ------------------------------------------------------------------------------- scoring
    def transform(self, df: pd.DataFrame | TableData) -> np.ndarray:
        return self.preprocessor.transform(df.X if isinstance(df, TableData) else df)

    def score(self, df: pd.DataFrame | TableData) -> np.ndarray:
        return self.detector.score(self.transform(df))

    def predict(self, df: pd.DataFrame | TableData) -> np.ndarray:
        return self.threshold.predict(self.score(df))

    def contributions(self, df: pd.DataFrame | TableData) -> pd.DataFrame:
        """Each input column's share of the score (one-hot groups summed back to their column)."""
        per_feature = self.detector.score_features(self.transform(df))
        return self.preprocessor.group_contributions(per_feature)

    @property
    def threshold(self) -> Threshold:
        return self.detector.threshold_

    def calibrate(self, data: pd.DataFrame | TableData, y=None, method: str | Threshold = "quantile",
                  **params: Any) -> Pipeline:
        """Fit the threshold on scores of ``data`` (normal rows, or labelled validation)."""
        table = data if isinstance(data, TableData) else TableData(data)
        y = table.y if y is None else y
        self.detector.calibrate(self.transform(table), y, method, **params)
        self.threshold.data_hash_ = hash_frame(table.X)
        return self

    def detect(self, df: pd.DataFrame | TableData, contributions: bool = True) -> pd.DataFrame:
        """Columns ``score``, ``anomaly`` (0/1) and, for reconstruction models, ``contrib_<col>``."""
        scores, labels, contrib = self.detect_arrays(df, contributions)
        out = pd.DataFrame({"score": scores, "anomaly": labels})
        if contrib is not None:
            out = pd.concat([out, contrib.add_prefix("contrib_")], axis=1)
        return out

    def detect_arrays(self, df: pd.DataFrame | TableData | dict[str, np.ndarray], contributions: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
        """:meth:`detect` without assembling one frame (the service's per-request path):
        scores, 0/1 labels and the per-column contributions (None when not asked/available)."""
        X = self.transform(df)
        scores = self.detector.score(X)
        contrib = None
        if contributions and self.detector.has_tag("feature_scores"):
            contrib = self.preprocessor.group_contributions(self.detector.score_features(X))
        return scores, self.threshold.predict(scores), contrib


class SeriesPipeline(Pipeline):
    """A series detector with its :class:`~nadkit.data.series.SeriesPreprocessor` and threshold,
    used on raw :class:`~nadkit.data.series.SeriesData` (or a DataFrame of channels).

    Scores, μ, σ and bands come back per time step (and channel); the first ``window - 1``
    steps are unscored (NaN scores, flag 0, ``scored = False`` in :meth:`detect`). μ, σ and the
    bands are in the channels' own units.
    """

    def __init__(self, detector: BaseDetector, preprocessor: Any = None) -> None:
        from nadkit.data.series import SeriesPreprocessor

        if preprocessor is None:   # e.g. Net-GAN's tanh output wants channels in [−1, 1]
            preprocessor = SeriesPreprocessor(scaling=detector.input_scaling)
        super().__init__(detector, preprocessor)

    def fit(self, data: Any, normal_only: bool = True) -> SeriesPipeline:
        """Fit preprocessing and detector on a training series. Windows need contiguous steps,
        so labelled anomalous steps are not removed (``normal_only`` is ignored); train on a
        period believed normal."""
        from nadkit.data.series import SeriesData

        series = data if isinstance(data, SeriesData) else SeriesData(data)
        X = self.preprocessor.fit_transform(series, window=self.detector.window)
        self.detector.fit(X)
        self.info = {"training_rows": len(series), "training_hash": hash_frame(series.X),
                     "training_data": series.name, "calibration": self.detector.calibration_source_}
        return self

    def transform(self, data: Any) -> np.ndarray:
        return self.preprocessor.transform(data)

    def gaussian(self, data: Any) -> tuple[np.ndarray, np.ndarray]:
        """μ and σ per step and channel in the channels' units (NaN rows for unscored steps)."""
        mu, sigma = self.detector.gaussian(self.transform(data))
        return self.preprocessor.inverse_transform(mu), self.preprocessor.inverse_transform(sigma, scale_only=True)

    def predict_channels(self, data: Any) -> np.ndarray:
        return self.detector.predict_channels(self.transform(data))

    def predict(self, data: Any) -> np.ndarray:
        return self.detector.predict(self.transform(data))

    def contributions(self, data: Any) -> pd.DataFrame:
        """Per-channel scores ``|x − μ|/σ`` (NaN for unscored steps), one column per channel."""
        return pd.DataFrame(self.detector.score_features(self.transform(data)), columns=self.preprocessor.channels_)

    def calibrate(self, data: Any, y=None, method: Any = "quantile", channel_labels=None,
                  **params: Any) -> SeriesPipeline:
        """Fit the threshold on a validation series (``method="alpha"``: per-channel bands)."""
        from nadkit.data.series import SeriesData

        series = data if isinstance(data, SeriesData) else SeriesData(data)
        y = series.y if y is None else y
        channel_labels = series.channel_labels if channel_labels is None else channel_labels
        self.detector.calibrate(self.transform(series), y, method, channel_labels=channel_labels, **params)
        self.threshold.data_hash_ = hash_frame(series.X)
        return self

    def bands(self, data: Any) -> dict[str, np.ndarray]:
        """Everything per step and channel in the channels' units: ``value``, ``mu``, ``sigma``,
        ``lower``/``upper`` band limits, channel ``score`` and ``flag``; per step ``step_score``
        and ``step_flag``; ``alpha_up``/``alpha_down`` per channel."""
        det, pre = self.detector, self.preprocessor
        X = self.transform(data)
        mu_z, sigma_z = det.gaussian(X)
        per_channel = det.score_features(X)
        thr = self.threshold
        up, down = thr.band_alphas(X.shape[1])
        flags = det.predict_channels(X)
        step_score = det._aggregate(per_channel)
        step_flag = thr.step_flags(step_score, flags)
        mu, sigma = pre.inverse_transform(mu_z), pre.inverse_transform(sigma_z, scale_only=True)
        if thr.per_channel:  # its band holds state in model units (σ floor, flat channels)
            lower, upper = (pre.inverse_transform(b) for b in thr.bands(mu_z, sigma_z))
        else:  # μ ± v·σ, in the channels' units
            lower, upper = thr.bands(mu, sigma)
        return {"value": pre.inverse_transform(X), "mu": mu, "sigma": sigma,
                "lower": lower, "upper": upper, "score": per_channel,
                "flag": flags, "step_score": step_score, "step_flag": step_flag,
                "alpha_up": up, "alpha_down": down}

    def detect(self, data: Any, layout: str = "long") -> pd.DataFrame:
        """Per time step and channel: value, flag, score, μ, σ and band limits.

        ``layout="long"`` (default): one row per (step, channel) with columns ``step``, ``time``
        (when known), ``channel``, ``value``, ``mu``, ``sigma``, ``lower``, ``upper``, ``score``,
        ``flag``, ``step_score``, ``step_flag``, ``scored`` — the same columns for any number of
        channels, ready for SQL/Grafana/Spark or ``df.pivot``. ``layout="wide"``: one row per
        step, ``step_score``, ``step_flag``, ``scored`` and ``<channel>_<field>`` columns.
        """
        from nadkit.data.series import SeriesData

        if layout not in ("long", "wide"):
            raise DataError(f"layout must be 'long' or 'wide', got {layout!r}")
        series = data if isinstance(data, SeriesData) else SeriesData(data)
        b = self.bands(series)
        n, c = b["value"].shape
        channels = self.preprocessor.channels_
        fields = ("value", "mu", "sigma", "lower", "upper", "score", "flag")
        scored = np.isfinite(b["step_score"])
        if layout == "wide":
            out = {"step": np.arange(n)}
            if series.time is not None:
                out["time"] = series.time
            out.update({"step_score": b["step_score"], "step_flag": b["step_flag"], "scored": scored})
            for k, ch in enumerate(channels):
                out.update({f"{ch}_{f}": b[f][:, k] for f in fields})
            return pd.DataFrame(out)
        out = {"step": np.repeat(np.arange(n), c)}
        if series.time is not None:
            out["time"] = np.repeat(series.time, c)
        out["channel"] = pd.Categorical(np.tile(channels, n), categories=channels)
        out.update({f: b[f].reshape(-1) for f in fields})
        out.update({"step_score": np.repeat(b["step_score"], c), "step_flag": np.repeat(b["step_flag"], c),
                    "scored": np.repeat(scored, c)})
        return pd.DataFrame(out)


def make_pipeline(detector: BaseDetector, preprocessor: Any = None) -> Pipeline:
    """The pipeline class that fits the detector: :class:`SeriesPipeline` for series detectors."""
    cls = SeriesPipeline if detector.input_kind == "series" else Pipeline
    return cls(detector, preprocessor)
