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

    def detect_arrays(self, df: pd.DataFrame | TableData, contributions: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None]:
        """:meth:`detect` without assembling one frame (the service's per-request path):
        scores, 0/1 labels and the per-column contributions (None when not asked/available)."""
        X = self.transform(df)
        scores = self.detector.score(X)
        contrib = None
        if contributions and self.detector.has_feature_scores:
            contrib = self.preprocessor.group_contributions(self.detector.score_features(X))
        return scores, self.threshold.predict(scores), contrib
