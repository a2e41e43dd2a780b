"""Flow records → a multivariate series of fixed time bins (Net-GAN on flow captures).

Flows (a :class:`~nadkit.data.TableData` with ``time``, e.g. from
:func:`nadkit.data.loaders.read_cic_ids2017`) are put into bins of ``freq`` by their
timestamp; each bin becomes one step with the channels

* ``flows``: the number of flows in the bin,
* ``sum_<col>`` for ``sum_cols`` and ``mean_<col>`` for ``mean_cols`` (default: every numeric
  column except the protocol); an empty bin has sums 0 and means 0,
* ``proto_<value>``: flows per protocol value of ``protocol_col`` (when the column exists).

Every bin from the first to the last flow is present (empty bins included), so the result is a
regular series. Labels per bin: ``label_rule="majority"`` (the Net-GAN author's rule: attack
flows ≥ half of the bin's flows) or ``"any"`` (at least one attack flow). ``meta`` keeps
``attack_fraction`` (per bin), ``attack_counts`` (a DataFrame: attack flows per type and bin)
and ``attacks`` (the attack types present in each bin, ``"|"``-joined, ``""`` for none).

>>> import numpy as np, pandas as pd
>>> from nadkit.data import TableData
>>> t = pd.to_datetime(["2017-07-07 10:00:05", "2017-07-07 10:00:40", "2017-07-07 10:02:10"])
>>> flows = TableData(pd.DataFrame({"Protocol": [6, 17, 6], "Flow Bytes": [10.0, 30.0, 5.0]}),
...                   y=np.array([0, 1, 0]), attack=np.array(["normal", "DDoS", "normal"]), time=t)
>>> s = flows_to_series(flows, "1min", sum_cols=["Flow Bytes"], label_rule="any")
>>> s.X["flows"].tolist(), s.X["sum_Flow Bytes"].tolist(), s.y.tolist(), s.meta["attacks"]
([2.0, 0.0, 1.0], [40.0, 0.0, 5.0], [1, 0, 0], ['DDoS', '', ''])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nadkit.data.container import TableData
from nadkit.data.series.container import SeriesData
from nadkit.errors import DataError

LABEL_RULES = ("majority", "any")


def flows_to_series(flows: TableData, freq: str = "1min", sum_cols: Sequence[str] = (),
                    mean_cols: Sequence[str] | None = None, protocol_col: str | None = "Protocol",
                    label_rule: str = "majority") -> SeriesData:
    """Aggregate flow records into fixed time bins of ``freq`` (see the module docs)."""
    if label_rule not in LABEL_RULES:
        raise DataError(f"label_rule must be one of {LABEL_RULES}, got {label_rule!r}")
    if flows.time is None:
        raise DataError("the flow records have no timestamps; binning needs a time per flow")
    if len(flows) == 0:
        raise DataError("no flow records to bin")
    try:
        step = pd.Timedelta(freq)
    except ValueError as exc:
        raise DataError(f"bad bin size {freq!r}: {exc}") from exc
    if step <= pd.Timedelta(0):
        raise DataError(f"bin size must be positive, got {freq!r}")
    time = pd.to_datetime(pd.Series(flows.time), errors="coerce")
    if time.isna().any():
        raise DataError(f"{int(time.isna().sum())} flow records have a missing or unparseable timestamp")
    X = flows.X
    has_proto = protocol_col is not None and protocol_col in X.columns
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and c != protocol_col]
    means = numeric if mean_cols is None else list(mean_cols)
    missing = [c for c in [*sum_cols, *means] if c not in X.columns]
    if missing:
        raise DataError(f"columns not in the flow records: {missing[:5]}")
    bad = [c for c in [*sum_cols, *means] if not pd.api.types.is_numeric_dtype(X[c])]
    if bad:
        raise DataError(f"non-numeric columns cannot be summed or averaged: {bad[:5]}")

    start = time.min().floor(step)
    bins = ((time - start) // step).to_numpy(dtype=np.int64)
    n = int(bins.max()) + 1
    count = np.bincount(bins, minlength=n).astype(np.float64)
    channels: dict[str, np.ndarray] = {"flows": count}
    for c in sum_cols:
        channels[f"sum_{c}"] = np.bincount(bins, weights=X[c].to_numpy(np.float64), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        for c in means:
            total = np.bincount(bins, weights=X[c].to_numpy(np.float64), minlength=n)
            channels[f"mean_{c}"] = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    if has_proto:
        codes, values = pd.factorize(X[protocol_col], sort=True)
        per = np.bincount(bins * len(values) + codes, minlength=n * len(values)).reshape(n, len(values))
        for j, v in enumerate(values):
            channels[f"proto_{v}"] = per[:, j].astype(np.float64)
    out = pd.DataFrame(channels)
    if not np.isfinite(out.to_numpy()).all():
        raise DataError("non-finite values in the flow features; drop or fill them before binning")

    meta: dict = {"step": str(step), "source_flows": len(flows), "freq": freq, "label_rule": label_rule}
    y = None
    if flows.y is not None:
        frac = np.bincount(bins, weights=flows.y.astype(np.float64), minlength=n) / np.maximum(count, 1)
        y = (frac >= 0.5) & (count > 0) if label_rule == "majority" else frac > 0
        meta["attack_fraction"] = frac
        if flows.attack is not None:
            attack = pd.Series(flows.attack).astype(str).to_numpy()
            is_attack = flows.y.astype(bool)
            names, codes = np.unique(attack[is_attack], return_inverse=True)
            per = np.bincount(bins[is_attack] * len(names) + codes,
                              minlength=n * len(names)).reshape(n, len(names))
            counts = pd.DataFrame(per, columns=list(names))
            meta["attack_counts"] = counts
            present = counts.to_numpy() > 0
            meta["attacks"] = ["|".join(names[row]) for row in present]
    times = pd.date_range(start, periods=n, freq=step).to_numpy()
    return SeriesData(out, time=times, y=None if y is None else y.astype(np.int8),
                      name=f"{flows.name or 'flows'}@{freq}", meta=meta)
