"""``TableData``: the one container every tabular loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd


@dataclass
class TableData:
    """Feature table with optional binary labels, attack class names and timestamps.

    ``X`` holds only feature columns (raw: categoricals stay strings). ``y`` is 1 for attack,
    0 for normal. ``attack`` is the class name per row (``"normal"`` for normal rows).

    >>> d = TableData(pd.DataFrame({"a": [1.0, 2.0, 3.0]}), y=np.array([0, 1, 0]))
    >>> len(d.normal()), d.contamination
    (2, 0.3333333333333333)
    """

    X: pd.DataFrame
    y: np.ndarray | None = None
    attack: np.ndarray | None = None
    time: np.ndarray | None = None
    name: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.X)
        for attr in ("y", "attack", "time"):
            value = getattr(self, attr)
            if value is not None:
                value = np.asarray(value)
                if len(value) != n:
                    raise ValueError(f"{attr} has {len(value)} rows, X has {n}")
                setattr(self, attr, value)
        if self.y is not None:
            self.y = self.y.astype(np.int8)

    def __len__(self) -> int:
        return len(self.X)

    @property
    def contamination(self) -> float:
        """Share of attack rows (NaN when unlabelled)."""
        return float(np.mean(self.y)) if self.y is not None and len(self) else float("nan")

    def subset(self, index: np.ndarray | slice, name: str | None = None) -> TableData:
        """Rows selected by a boolean mask or integer positions (a copy)."""
        def take(a):
            return None if a is None else a[index]

        return replace(
            self,
            X=self.X.iloc[index].reset_index(drop=True),
            y=take(self.y), attack=take(self.attack), time=take(self.time),
            name=self.name if name is None else name, meta=dict(self.meta),
        )

    def normal(self) -> TableData:
        """Only the normal rows (all rows when unlabelled)."""
        if self.y is None:
            return self
        return self.subset(self.y == 0, name=f"{self.name} (normal)")

    def summary(self) -> dict:
        """Rows, features, contamination and attack-class counts, for a dataset card."""
        out = {"name": self.name, "rows": len(self), "features": self.X.shape[1]}
        if self.y is not None:
            out["attack_share"] = round(self.contamination, 4)
        if self.attack is not None:
            classes, counts = np.unique(self.attack.astype(str), return_counts=True)
            order = np.argsort(-counts)
            out["classes"] = {str(classes[i]): int(counts[i]) for i in order}
        return out
