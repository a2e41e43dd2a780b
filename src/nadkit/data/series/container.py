"""``SeriesData``: the one container every time-series loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from nadkit.data.container import TableData


@dataclass
class SeriesData:
    """A multivariate series at a fixed step: channels, timestamps and labels where known.

    ``X`` holds one numeric column per channel, one row per time step (chronological).
    ``time`` is a datetime64 array (None when the source has no timestamps: steps are then
    positions). ``y`` is the per-step label (1 = anomalous step), ``channel_labels`` the
    per-step, per-channel labels of shape (n, c) where the source has them (SMD interpretation
    labels, a DC-VAE labels file); ``y`` is their any-over-channels when only those are given.
    ``meta`` holds loader facts: ``step`` (a pandas Timedelta string), ``filled`` (how many
    points gap filling inserted) and dataset specifics.

    >>> d = SeriesData(pd.DataFrame({"cpu": [1.0, 2.0, 9.0], "mem": [3.0, 3.0, 3.0]}),
    ...                channel_labels=np.array([[0, 0], [0, 0], [1, 0]]))
    >>> d.channels, d.y.tolist(), len(d.tail(0.34))
    (['cpu', 'mem'], [0, 0, 1], 1)
    """

    X: pd.DataFrame
    time: np.ndarray | None = None
    y: np.ndarray | None = None
    channel_labels: np.ndarray | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.X)
        self.X = self.X.reset_index(drop=True)
        self.X.columns = [str(c) for c in self.X.columns]
        if self.time is not None:
            self.time = np.asarray(self.time)
            if len(self.time) != n:
                raise ValueError(f"time has {len(self.time)} rows, X has {n}")
        if self.channel_labels is not None:
            cl = np.asarray(self.channel_labels).astype(np.int8)
            if cl.shape != (n, self.X.shape[1]):
                raise ValueError(f"channel_labels have shape {cl.shape}; expected {(n, self.X.shape[1])}")
            self.channel_labels = cl
            if self.y is None:
                self.y = cl.any(axis=1).astype(np.int8)
        if self.y is not None:
            self.y = np.asarray(self.y).astype(np.int8)
            if self.y.shape != (n,):
                raise ValueError(f"y has shape {self.y.shape}; expected ({n},)")

    def __len__(self) -> int:
        return len(self.X)

    @property
    def channels(self) -> list[str]:
        """Channel (column) names, in order."""
        return list(self.X.columns)

    @property
    def values(self) -> np.ndarray:
        """The channels as a float32 array of shape (n_steps, n_channels)."""
        return self.X.to_numpy(dtype=np.float32)

    @property
    def step(self) -> pd.Timedelta | None:
        """The sampling step (None without timestamps)."""
        s = self.meta.get("step")
        return pd.Timedelta(s) if s is not None else None

    @property
    def contamination(self) -> float:
        """Share of anomalous steps (NaN when unlabelled)."""
        return float(np.mean(self.y)) if self.y is not None and len(self) else float("nan")

    def slice(self, start: int | None = None, stop: int | None = None, name: str | None = None) -> SeriesData:
        """The contiguous steps ``start:stop`` (a copy; labels and timestamps follow)."""
        sl = slice(start, stop)

        def take(a):
            return None if a is None else a[sl]

        return replace(self, X=self.X.iloc[sl].reset_index(drop=True), time=take(self.time),
                       y=take(self.y), channel_labels=take(self.channel_labels),
                       name=self.name if name is None else name, meta=dict(self.meta))

    def split(self, fraction: float) -> tuple[SeriesData, SeriesData]:
        """Chronological split: (head, tail) where the tail holds the last ``fraction`` of steps."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        cut = len(self) - round(len(self) * fraction)
        return (self.slice(0, cut, name=f"{self.name} (head)"),
                self.slice(cut, None, name=f"{self.name} (tail)"))

    def tail(self, fraction: float) -> SeriesData:
        """The last ``fraction`` of steps (e.g. the chronological validation tail)."""
        return self.split(fraction)[1]

    def to_table(self) -> TableData:
        """The steps as independent rows (for point-wise table detectors)."""
        return TableData(self.X.copy(), y=self.y, time=self.time, name=self.name, meta=dict(self.meta))

    def summary(self) -> dict:
        """Steps, channels, step, time range and label counts, for a dataset card."""
        out: dict = {"name": self.name, "steps": len(self), "channels": self.X.shape[1],
                     "step": self.meta.get("step")}
        if self.time is not None and len(self):
            out["start"], out["end"] = str(pd.Timestamp(self.time[0])), str(pd.Timestamp(self.time[-1]))
        if self.y is not None:
            out["anomalous_steps"] = int(self.y.sum())
            out["anomaly_share"] = round(self.contamination, 4)
        if self.channel_labels is not None:
            out["channel_labels"] = int(self.channel_labels.sum())
        if self.meta.get("filled"):
            out["filled"] = self.meta["filled"]
        return out
