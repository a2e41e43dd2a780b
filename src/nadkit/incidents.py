"""Incidents: flagged steps or flows merged into events an operator can act on.

* Series: runs of flagged steps, merged when at most ``gap`` unflagged steps separate them
  (:func:`series_incidents`).
* Flows: flagged rows of one source/destination pair merged while less than ``window`` apart in
  time, when those columns exist; else consecutive flagged rows, merged across at most ``gap``
  unflagged rows (:func:`flow_incidents`).

Each incident has an id, start, end (inclusive), duration, the number of flagged steps/rows,
the peak score, its tail probability among the normal calibration scores the model's threshold
was fitted on (``p_normal``, from the sketch :func:`nadkit.thresholds.normal_tail` keeps in
threshold.json) and a 0–100 ``severity`` = 100 · min(1, −log10(p_normal) / 6): 0 for a peak
no higher than the typical normal score, about 33 at a 1 % threshold, 100 for a peak that a
normal step would reach less than once in a million (beyond the largest normal score the tail
is extrapolated as exponential). ``top`` names the channels (largest channel score at a flagged step) or
features (largest summed contribution) that drove it. Everything is vectorised.

>>> import numpy as np
>>> score = np.array([0.1, 5.0, 0.2, 6.0, 0.1, 0.1, 0.1, 0.1, 9.0, 0.3])
>>> tail = {"n": 1000, "scores": [0.5, 1.0, 3.0], "p": [0.5, 0.1, 0.001], "excess_scale": 0.5}
>>> inc = series_incidents(score, score > 1, gap=1, min_flagged=1, tail=tail)
>>> inc[["start", "end", "n_flagged"]].to_dict("list")
{'start': [1, 8], 'end': [3, 8], 'n_flagged': [2, 1]}
>>> inc["severity"].round(1).tolist()
[93.4, 100.0]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadkit.data.exports import find_column
from nadkit.errors import DataError

#: unflagged steps (rows) that may separate two flagged runs of one incident, and the fewest
#: flagged steps an incident needs (series and consecutive rows). Chosen by leave-one-group-out
#: over six groups: SKAB valve1/valve2/other (PCA), SMD (PCA), NAB realKnownCause and
#: realAWSCloudwatch (Isolation Forest) in benchmarks/incidents_bench.py: the (gap, min) pair with
#: the highest mean share, over the other groups, of series whose incident count is within 2× of
#: the labelled events and whose every event overlaps an incident, on gaps up to 240 steps (an
#: open stream incident waits ``gap`` steps before it closes); every fold chose gap 240, four of
#: six min 1 (docs/benchmarks.md, incidents section, for the held-out numbers and the costs).
DEFAULT_GAP = 240
DEFAULT_MIN_FLAGGED = 1
#: seconds within which flagged flows of one source/destination pair form one incident
DEFAULT_WINDOW = 300.0
#: channels / features named per incident
DEFAULT_TOP = 3
#: −log10 of the tail probability that maps to severity 100
SEVERITY_DECADES = 6.0
COLUMNS = ("incident_id", "start", "end", "start_time", "end_time", "duration", "n_flagged",
           "peak_score", "peak_at", "p_normal", "severity", "top")
_SRC = ("srcip", "srcaddr", "sourceip", "sourceaddress", "sa", "saddr", "ipv4srcaddr", "src", "source", "idorigh")
_DST = ("dstip", "dstaddr", "destinationip", "destinationaddress", "da", "daddr", "ipv4dstaddr", "dst",
        "destination", "idresph")
_TIME = ("timestamp", "time", "ts", "stime", "starttime", "flowstart", "firstseen", "te", "datetime")


# ------------------------------------------------------------------------------ severity
def tail_probability(values, tail: dict[str, Any] | None) -> np.ndarray:
    """P(normal score ≥ v) per value from a :func:`nadkit.thresholds.normal_tail` sketch:
    log-linear between its points, exponential beyond the largest normal score, 1 below the
    sketch. NaN without a sketch."""
    v = np.asarray(values, dtype=np.float64)
    if not tail:
        return np.full(v.shape, np.nan)
    xs, ps = np.asarray(tail["scores"], float), np.asarray(tail["p"], float)
    logp = np.interp(v, xs, np.log(ps), left=0.0, right=np.log(ps[-1]))
    beyond = v > xs[-1]
    scale = float(tail.get("excess_scale") or 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        extra = np.where(scale > 0, (v - xs[-1]) / scale, np.inf)
    logp = np.where(beyond, np.log(ps[-1]) - extra, logp)
    return np.exp(np.minimum(logp, 0.0))


def severity(p_normal) -> np.ndarray:
    """0–100 from a tail probability: 100 · min(1, −log10(p) / :data:`SEVERITY_DECADES`).

    >>> severity([1.0, 0.01, 1e-9]).round(1).tolist()
    [0.0, 33.3, 100.0]
    """
    p = np.asarray(p_normal, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.clip(-np.log10(p) / SEVERITY_DECADES * 100.0, 0.0, 100.0) + 0.0


def _reference_tail(pipe: Any, scores: np.ndarray) -> tuple[dict[str, Any] | None, str]:
    """The normal-score sketch for ``pipe``: its threshold's (fitted on normal data), or the
    detector's in-memory calibration scores, or, failing both, the scores being scored."""
    from nadkit.thresholds import normal_tail

    thr = getattr(pipe, "threshold", None)
    tail = getattr(thr, "normal_tail_", None)
    if tail:
        return tail, "calibration"
    calib = getattr(pipe, "calibration_scores", None)
    if calib is not None and np.isfinite(calib).any():
        return normal_tail(calib), "calibration"
    return normal_tail(scores), "scored data"


def stream_tail(pipe: Any) -> dict[str, Any] | None:
    """The normal-score sketch of a served pipeline (None when its threshold has none)."""
    tail, basis = _reference_tail(pipe, np.empty(0))
    return tail if basis == "calibration" else None


# -------------------------------------------------------------------------------- merging
def runs(flags, gap: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Start and (inclusive) end index of each run of true ``flags``, runs separated by at most
    ``gap`` false values merged.

    >>> [a.tolist() for a in runs([0, 1, 1, 0, 0, 1, 0, 1], gap=1)]
    [[1, 5], [2, 7]]
    """
    f = np.asarray(flags).astype(bool).ravel()
    if gap < 0:
        raise DataError(f"incident gap must be >= 0, got {gap}")
    idx = np.flatnonzero(f)
    if idx.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    new = np.r_[True, np.diff(idx) > gap + 1]
    return idx[new], idx[np.r_[new[1:], True]]


def _top_names(matrix: np.ndarray, names: Sequence[str], top: int) -> list[list[str]]:
    """Per row of ``matrix`` (incidents × channels) the names of its ``top`` largest entries."""
    if matrix.size == 0 or top <= 0:
        return [[] for _ in range(len(matrix))]
    m = np.nan_to_num(np.asarray(matrix, float), nan=-np.inf)
    k = min(top, m.shape[1])
    order = np.argsort(-m, axis=1, kind="stable")[:, :k]
    names_arr = np.asarray(list(names), dtype=object)
    ok = np.take_along_axis(m, order, axis=1) > -np.inf
    return [names_arr[o[g]].tolist() for o, g in zip(order, ok, strict=True)]


def _times(time, idx: np.ndarray) -> list[Any] | None:
    if time is None:
        return None
    t = pd.Series(np.asarray(time)[idx])
    if pd.api.types.is_datetime64_any_dtype(t):
        return [None if pd.isna(x) else x.isoformat() for x in t]
    return t.tolist()


def series_incidents(step_score, step_flag, channel_scores=None, channels: Sequence[str] | None = None,
                     time=None, gap: int = DEFAULT_GAP, min_flagged: int = DEFAULT_MIN_FLAGGED, tail: dict[str, Any] | None = None,
                     top: int = DEFAULT_TOP) -> pd.DataFrame:
    """Incidents of a scored series (one row each, columns :data:`COLUMNS`).

    ``step_score``/``step_flag`` per step; ``channel_scores`` (n, c) with ``channels`` names the
    top channels (largest score at the incident's flagged steps); ``time`` gives ``start_time`` /
    ``end_time``; ``tail`` is the normal-score sketch for severity (see
    :func:`tail_probability`). Runs with fewer than ``min_flagged`` flagged steps are dropped.
    """
    score = np.asarray(step_score, dtype=np.float64).ravel()
    flag = np.asarray(step_flag).astype(bool).ravel()
    if score.shape != flag.shape:
        raise DataError(f"step_score has {score.size} steps, step_flag {flag.size}")
    starts, ends = runs(flag, gap)
    counts = np.add.reduceat(flag.astype(np.int64), starts) if starts.size else np.empty(0, np.int64)
    # reduceat segments run from one run's start to the next one's (no flags in between), so
    # they are taken over every run and filtered afterwards
    all_starts, keep = starts, counts >= max(min_flagged, 1)
    starts, ends, counts = starts[keep], ends[keep], counts[keep]
    masked = np.where(flag, np.nan_to_num(score, nan=-np.inf), -np.inf)
    if starts.size:
        peak = np.maximum.reduceat(masked, all_starts)[keep]
        # position of the peak: the first flagged step in the incident with that score
        pos = _span_positions(starts, ends)
        incident = np.repeat(np.arange(starts.size), ends - starts + 1)
        hit = masked[pos] == peak[incident]
        first = pos[hit][np.r_[True, np.diff(incident[hit]) != 0]]
    else:
        peak = np.empty(0)
        first = np.empty(0, np.int64)
    p = tail_probability(peak, tail)
    out = pd.DataFrame({"incident_id": np.arange(1, starts.size + 1), "start": starts, "end": ends})
    t0, t1 = _times(time, starts), _times(time, ends)
    out["start_time"] = t0 if t0 is not None else None
    out["end_time"] = t1 if t1 is not None else None
    out["duration"] = _duration(time, starts, ends)
    out["n_flagged"] = counts
    out["peak_score"] = peak
    out["peak_at"] = first
    out["p_normal"] = p
    out["severity"] = severity(p)
    if channel_scores is not None and starts.size:
        cs = np.nan_to_num(np.asarray(channel_scores, float), nan=-np.inf)
        if cs.ndim != 2 or cs.shape[0] != score.size:
            raise DataError(f"channel_scores must be (steps, channels) with {score.size} steps, got {cs.shape}")
        names = list(channels) if channels is not None else [str(k) for k in range(cs.shape[1])]
        cs = np.where(flag[:, None], cs, -np.inf)  # the channels' peaks at the flagged steps
        out["top"] = _top_names(np.maximum.reduceat(cs, all_starts, axis=0)[keep], names, top)
    else:
        out["top"] = [[] for _ in range(len(out))]
    return out[list(COLUMNS)]


def _span_positions(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """All indices start..end of every span, concatenated (no Python loop)."""
    lengths = ends - starts + 1
    offset = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(lengths.sum()) + offset


def _duration(time, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | list:
    """End − start in seconds for datetimes, in the time's units for numbers, else steps + 1."""
    if time is None:
        return ends - starts + 1
    t = np.asarray(time)
    if np.issubdtype(t.dtype, np.datetime64):
        return (t[ends] - t[starts]) / np.timedelta64(1, "s")
    if np.issubdtype(t.dtype, np.number):
        return t[ends] - t[starts]
    return ends - starts + 1


def flow_columns(columns: Sequence[str]) -> dict[str, str | None]:
    """The source, destination and time columns among ``columns`` (None where absent)."""
    return {"src": find_column(columns, _SRC), "dst": find_column(columns, _DST), "time": find_column(columns, _TIME)}


def _as_seconds(t) -> np.ndarray:
    s = pd.Series(np.asarray(t))
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(s, errors="coerce", utc=True, format="mixed")
    if parsed.isna().all():
        raise DataError("the flows' time column is neither numbers nor timestamps")
    return (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def flow_incidents(scores, flags, contributions: pd.DataFrame | None = None, src=None, dst=None, time=None,
                   window: float = DEFAULT_WINDOW, gap: int = DEFAULT_GAP, tail: dict[str, Any] | None = None,
                   top: int = DEFAULT_TOP, row_index=None, min_flagged: int | None = None) -> pd.DataFrame:
    """Incidents of scored flows (one row each, columns :data:`COLUMNS` plus ``src``/``dst``).

    With ``src`` and ``dst`` (arrays per row), flagged flows of one pair merge while consecutive
    ones are at most ``window`` apart in ``time`` (seconds, or the time's own units for
    numbers; without ``time``, at most ``gap`` rows apart). Without them, runs of flagged rows
    (gaps of at most ``gap`` unflagged rows merged). ``start``/``end`` are row positions (first
    and last flagged row; ``row_index`` maps them to the caller's row numbers); ``top`` names
    the features with the largest summed ``contributions`` over the incident's flows. Incidents
    with fewer than ``min_flagged`` flagged rows are dropped (default: 1 for pairs, where one
    flagged flow is worth a look, :data:`DEFAULT_MIN_FLAGGED` for consecutive rows).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    f = np.asarray(flags).astype(bool).ravel()
    if s.shape != f.shape:
        raise DataError(f"scores has {s.size} rows, flags {f.size}")
    rows = np.arange(s.size) if row_index is None else np.asarray(row_index)
    idx = np.flatnonzero(f)
    pair = src is not None and dst is not None
    if pair:
        key = pd.MultiIndex.from_arrays([np.asarray(src)[idx], np.asarray(dst)[idx]])
        code = pd.factorize(key)[0]
        t = _as_seconds(time)[idx] if time is not None else idx.astype(np.float64)
        limit = window if time is not None else gap + 1
        order = np.lexsort((t, code))
        idx, code, t = idx[order], code[order], t[order]
        new = np.r_[True, (np.diff(code) != 0) | (np.diff(t) > limit)] if idx.size else np.empty(0, bool)
    else:
        new = np.r_[True, np.diff(idx) > gap + 1] if idx.size else np.empty(0, bool)
    group = np.cumsum(new) - 1
    n_inc = int(group[-1] + 1) if idx.size else 0
    first = idx[new]
    peak = np.full(n_inc, -np.inf)
    np.maximum.at(peak, group, np.nan_to_num(s[idx], nan=-np.inf))
    is_peak = np.nan_to_num(s[idx], nan=-np.inf) == peak[group]
    peak_at = np.full(n_inc, -1, np.int64)
    peak_at[group[is_peak][::-1]] = idx[is_peak][::-1]  # the first such row of each incident wins
    lo = np.full(n_inc, np.iinfo(np.int64).max)
    hi = np.full(n_inc, -1, np.int64)
    np.minimum.at(lo, group, idx)
    np.maximum.at(hi, group, idx)
    counts = np.bincount(group, minlength=n_inc)
    p = tail_probability(peak, tail)
    order = np.argsort(lo, kind="stable")  # number incidents by their first flow
    out = pd.DataFrame({"incident_id": np.arange(1, n_inc + 1), "start": rows[lo[order]] if n_inc else [],
                        "end": rows[hi[order]] if n_inc else []})
    if time is not None and n_inc:
        tt = pd.Series(np.asarray(time))
        t_lo = pd.Series([None] * n_inc, dtype=object)
        t_hi = t_lo.copy()
        ts = _as_seconds(time)
        tmin = np.full(n_inc, np.inf)
        tmax = np.full(n_inc, -np.inf)
        np.minimum.at(tmin, group, ts[idx])
        np.maximum.at(tmax, group, ts[idx])
        i_min = idx[ts[idx] == tmin[group]]
        i_max = idx[ts[idx] == tmax[group]]
        g_min, g_max = group[ts[idx] == tmin[group]], group[ts[idx] == tmax[group]]
        a = np.empty(n_inc, np.int64)
        b = np.empty(n_inc, np.int64)
        a[g_min], b[g_max] = i_min, i_max
        t_lo, t_hi = tt.iloc[a].tolist(), tt.iloc[b].tolist()
        out["start_time"] = [t_lo[k] for k in order]
        out["end_time"] = [t_hi[k] for k in order]
        out["duration"] = (tmax - tmin)[order]
    else:
        out["start_time"] = None
        out["end_time"] = None
        out["duration"] = (hi - lo + 1)[order] if n_inc else []
    out["n_flagged"] = counts[order]
    out["peak_score"] = peak[order]
    out["peak_at"] = rows[peak_at[order]] if n_inc else []
    out["p_normal"] = p[order]
    out["severity"] = severity(p)[order]
    if contributions is not None and n_inc:
        c = np.nan_to_num(np.asarray(contributions, dtype=np.float64)[idx])
        total = np.zeros((n_inc, c.shape[1]))
        np.add.at(total, group, c)
        out["top"] = _top_names(total[order], [str(x).removeprefix("contrib_") for x in contributions.columns], top)
    else:
        out["top"] = [[] for _ in range(n_inc)]
    out = out[list(COLUMNS)]
    if pair:
        out.insert(3, "src", np.asarray(src)[first][order] if n_inc else [])
        out.insert(4, "dst", np.asarray(dst)[first][order] if n_inc else [])
    m = (1 if pair else DEFAULT_MIN_FLAGGED) if min_flagged is None else min_flagged
    if m > 1:
        out = out[out["n_flagged"].to_numpy() >= m].reset_index(drop=True)
        out["incident_id"] = np.arange(1, len(out) + 1)
    return out


# ---------------------------------------------------------------------------------- truth
def label_overlap(incidents: pd.DataFrame, y) -> pd.DataFrame:
    """``incidents`` with ``labelled`` (the incident overlaps a labelled anomalous step/row) and
    ``event`` (the 1-based id of the first labelled event it overlaps, 0 for none); events are
    runs of 1 in ``y``, positions as in ``start``/``end``."""
    y = np.asarray(y).astype(bool).ravel()
    out = incidents.copy()
    e_start, e_end = runs(y)
    if len(out) == 0:
        out["labelled"], out["event"] = np.empty(0, bool), np.empty(0, np.int64)
        return out
    s, e = out["start"].to_numpy(np.int64), out["end"].to_numpy(np.int64)
    # first event ending at or after the incident's start; it overlaps iff it starts by its end
    j = np.searchsorted(e_end, s, side="left")
    ok = j < len(e_start)
    hit = ok & (e_start[np.minimum(j, max(len(e_start) - 1, 0))] <= e) if len(e_start) else np.zeros(len(s), bool)
    out["labelled"] = hit
    out["event"] = np.where(hit, j + 1, 0)
    return out


def event_coverage(incidents: pd.DataFrame, y) -> dict[str, Any]:
    """Labelled events (runs of 1 in ``y``) against incidents: how many events, incidents,
    events overlapped by some incident, and incidents overlapping no event."""
    y = np.asarray(y).astype(bool).ravel()
    e_start, e_end = runs(y)
    s, e = incidents["start"].to_numpy(np.int64), incidents["end"].to_numpy(np.int64)
    order = np.argsort(s)
    s, e = s[order], e[order]
    # an event is covered iff the last incident starting at or before its end ends at or after its start
    k = np.searchsorted(s, e_end, side="right") - 1
    run_max_end = np.maximum.accumulate(e) if e.size else e
    covered = (k >= 0) & (run_max_end[np.maximum(k, 0)] >= e_start) if e.size else np.zeros(len(e_start), bool)
    inc = label_overlap(incidents, y)
    return {"events": len(e_start), "incidents": len(incidents),
            "events_overlapped": int(covered.sum()), "false_incidents": int((~inc["labelled"]).sum()),
            "missed_events": np.flatnonzero(~covered).tolist()}


# --------------------------------------------------------------------------- from a model
def for_series(pipe: Any, bands: dict[str, np.ndarray], time=None, gap: int = DEFAULT_GAP,
               top: int = DEFAULT_TOP, min_flagged: int = DEFAULT_MIN_FLAGGED) -> pd.DataFrame:
    """Incidents from :meth:`nadkit.pipeline.SeriesPipeline.bands` output."""
    tail, basis = _reference_tail(pipe, bands["step_score"])
    out = series_incidents(bands["step_score"], bands["step_flag"], bands["score"],
                           list(pipe.preprocessor.channels_), time=time, gap=gap, tail=tail, top=top,
                           min_flagged=min_flagged)
    out.attrs["severity_basis"] = basis
    return out


def from_series_detect(pipe: Any, result: pd.DataFrame, layout: str = "long", gap: int = DEFAULT_GAP,
                       top: int = DEFAULT_TOP) -> pd.DataFrame:
    """Incidents from a :meth:`SeriesPipeline.detect` frame (long or wide layout)."""
    channels = list(pipe.preprocessor.channels_)
    c = len(channels)
    if layout == "long":
        steps = result.iloc[::c]
        per_channel = result["score"].to_numpy(np.float64).reshape(-1, c)
    else:
        steps = result
        per_channel = result[[f"{ch}_score" for ch in channels]].to_numpy(np.float64)
    time = steps["time"].to_numpy() if "time" in steps else None
    bands = {"step_score": steps["step_score"].to_numpy(np.float64), "step_flag": steps["step_flag"].to_numpy(),
             "score": per_channel}
    return for_series(pipe, bands, time=time, gap=gap, top=top)


def from_scores_file(pipe: Any, scores_path: str | os.PathLike[str], data: str | os.PathLike[str] | None = None,
                     gap: int = DEFAULT_GAP, window: float = DEFAULT_WINDOW, top: int = DEFAULT_TOP) -> pd.DataFrame:
    """Incidents of a table model's scores file (``nadkit detect`` output); source, destination
    and time columns come from the scores (kept columns) or else from ``data``."""
    from nadkit.io import iter_table_batches, table_columns

    scores = pd.read_parquet(scores_path) if str(scores_path).lower().endswith((".parquet", ".pq")) \
        else pd.read_csv(scores_path)
    found = flow_columns([c for c in scores.columns if c not in ("score", "anomaly")])
    keys = {k: scores[v].to_numpy() for k, v in found.items() if v is not None}
    if not {"src", "dst"} <= set(keys) and data is not None and Path(data).is_file():
        from nadkit.data.exports import detect_format, iter_export

        fmt = detect_format(data)
        cols = list(next(iter_export(data, fmt, 1024)).columns) if fmt is not None else table_columns(data)
        found = flow_columns(cols)
        wanted = [v for v in found.values() if v is not None]
        if {"src", "dst"} <= {k for k, v in found.items() if v is not None}:
            batches = iter_export(data, fmt, 65_536) if fmt is not None else iter_table_batches(data, columns=wanted)
            frame = pd.concat([b[wanted] for b in batches], ignore_index=True)
            if len(frame) == len(scores):
                keys = {k: frame[v].to_numpy() for k, v in found.items() if v is not None}
    contrib = scores[[c for c in scores.columns if c.startswith("contrib_")]]
    tail, basis = _reference_tail(pipe, scores["score"].to_numpy(np.float64))
    out = flow_incidents(scores["score"].to_numpy(np.float64), scores["anomaly"].to_numpy(),
                         contrib if contrib.shape[1] else None, keys.get("src"), keys.get("dst"),
                         keys.get("time"), window=window, gap=gap, tail=tail, top=top)
    out.attrs["severity_basis"] = basis
    return out


# -------------------------------------------------------------------------------- writing
def check_path(path: str | os.PathLike[str], inputs: Sequence[Any] = ()) -> Path:
    """The output guard (:func:`nadkit.io.check_output`, kind ``incidents``: .csv or .json)."""
    from nadkit.io import OutputError, check_output

    real = os.path.realpath(path)
    if any(i is not None and os.path.realpath(i) == real for i in inputs):
        raise OutputError(f"--incidents {path} is also an input or the scores output; write it elsewhere")
    return check_output(path, "incidents", inputs=[str(i) for i in inputs if i is not None])


def to_records(incidents: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records (NaN → None, numpy scalars → Python)."""
    from nadkit.io import json_safe

    records = incidents.astype(object).where(incidents.notna(), None).to_dict("records")
    return json_safe([{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records])


def write(incidents: pd.DataFrame, path: str | os.PathLike[str], **meta: Any) -> None:
    """Write incidents atomically: ``.json`` (an object with ``kind: "incidents"``, ``meta`` and
    the list) or CSV (``top`` joined with ``;``)."""
    from nadkit import __version__
    from nadkit.io import write_json, write_table

    path = Path(path)
    if path.name.lower().endswith(".json"):
        write_json(path, {"kind": "incidents", "nadkit": __version__, **meta,
                          "severity_basis": incidents.attrs.get("severity_basis"),
                          "incidents": to_records(incidents)})
        return
    flat = incidents.copy()
    flat["top"] = [";".join(map(str, t)) for t in flat["top"]]
    write_table(flat, path)


def detect_output(pipe: Any, path: str | os.PathLike[str], *, result: pd.DataFrame | None = None,
                  layout: str = "long", scores: str | os.PathLike[str] | None = None,
                  data: Any = None, gap: int = DEFAULT_GAP) -> pd.DataFrame:
    """What ``nadkit detect --incidents PATH`` writes: incidents of a series model's detect
    frame (``result``) or of a table model's scores file (``scores``), written to ``path``."""
    if result is not None:
        inc = from_series_detect(pipe, result, layout, gap=gap)
    elif scores is not None:
        inc = from_scores_file(pipe, scores, data, gap=gap)
    else:
        raise DataError("incidents need a series detect result or a scores file")
    write(inc, path, gap=gap, data=None if data is None else str(data))
    return inc


# -------------------------------------------------------------------------------- streams
class IncidentTracker:
    """Incidents of one stream of scored steps, merged across appends: an incident stays
    ``open`` until more than ``gap`` unflagged steps follow it (or its stream ends).

    >>> t = IncidentTracker(gap=1, channels=["a"], min_flagged=1)
    >>> [i["status"] for i in t.update([0, 1, 2], [0.0, 5.0, 0.0], [0, 1, 0], [[0.0], [5.0], [0.0]])]
    ['open']
    >>> [(i["start"], i["end"], i["status"]) for i in t.update([3, 4, 5], [4.0, 0.0, 0.0], [1, 0, 0], [[4.0], [0], [0]])]
    [(1, 3, 'closed')]
    """

    def __init__(self, gap: int = DEFAULT_GAP, tail: dict[str, Any] | None = None,
                 channels: Sequence[str] | None = None, top: int = DEFAULT_TOP,
                 min_flagged: int = DEFAULT_MIN_FLAGGED) -> None:
        if gap < 0:
            raise DataError(f"incident gap must be >= 0, got {gap}")
        self.gap, self.tail, self.channels, self.top = gap, tail, list(channels or []), top
        self.min_flagged = max(int(min_flagged), 1)
        self.current: dict[str, Any] | None = None
        self.next_id = 1

    def _report(self, touched: list[dict[str, Any]], inc: dict[str, Any], status: str) -> None:
        """Add ``inc`` to ``touched`` once it has ``min_flagged`` flagged steps (ids are given
        then, so they count reported incidents only, as :func:`series_incidents` numbers them)."""
        if inc["n_flagged"] < self.min_flagged:
            return
        if inc.get("incident_id") is None:
            inc["incident_id"] = self.next_id
            self.next_id += 1
        touched.append(self._public(inc, status))

    def _public(self, inc: dict[str, Any], status: str) -> dict[str, Any]:
        p = float(tail_probability([inc["peak_score"]], self.tail)[0])
        names = _top_names(inc["channel_peak"][None, :], self.channels, self.top)[0] \
            if inc["channel_peak"] is not None and self.channels else []
        out = {k: inc[k] for k in ("incident_id", "start", "end", "start_time", "end_time", "n_flagged",
                                   "peak_score", "peak_at")}
        out.update({"p_normal": None if np.isnan(p) else p,
                    "severity": None if np.isnan(p) else float(severity(p)), "top": names, "status": status})
        return out

    def update(self, steps, step_score, step_flag, channel_scores=None, times=None) -> list[dict[str, Any]]:
        """Feed consecutive ``steps`` (global indices) with their scores and flags; returns the
        incidents this chunk touched or closed, oldest first."""
        steps = np.asarray(steps, dtype=np.int64)
        if steps.size == 0:
            return []
        score = np.nan_to_num(np.asarray(step_score, dtype=np.float64), nan=-np.inf)
        flag = np.asarray(step_flag, dtype=float)
        flag = np.nan_to_num(flag, nan=0).astype(bool)
        cs = None if channel_scores is None else np.nan_to_num(np.asarray(channel_scores, float), nan=-np.inf)
        if cs is not None and cs.ndim == 2:
            cs = np.where(flag[:, None], cs, -np.inf)
        starts, ends = runs(flag, self.gap)
        touched: list[dict[str, Any]] = []
        masked = np.where(flag, score, -np.inf)
        if starts.size:
            peaks = np.maximum.reduceat(masked, starts)
            counts = np.add.reduceat(flag.astype(np.int64), starts)
            cpeak = np.maximum.reduceat(cs, starts, axis=0) if cs is not None and cs.ndim == 2 else None
            pos = _span_positions(starts, ends)
            which = np.repeat(np.arange(starts.size), ends - starts + 1)
            hit = masked[pos] == peaks[which]
            peak_at = pos[hit][np.r_[True, np.diff(which[hit]) != 0]]
        t = list(times) if times is not None else None
        cur = self.current
        if cur is not None and starts.size and steps[starts[0]] - cur["end"] - 1 > self.gap:
            self._report(touched, cur, "closed")  # a new run began too far after it
            cur = self.current = None
        for k in range(starts.size):  # one iteration per incident, not per step
            s_glob, e_glob = int(steps[starts[k]]), int(steps[ends[k]])
            piece = {"start": s_glob, "end": e_glob, "n_flagged": int(counts[k]), "peak_score": float(peaks[k]),
                     "peak_at": int(steps[peak_at[k]]), "channel_peak": None if cpeak is None else cpeak[k],
                     "start_time": None if t is None else t[starts[k]], "end_time": None if t is None else t[ends[k]]}
            if k == 0 and cur is not None:  # continues the open incident
                cur["end"], cur["end_time"] = piece["end"], piece["end_time"]
                cur["n_flagged"] += piece["n_flagged"]
                if piece["peak_score"] > cur["peak_score"]:
                    cur["peak_score"], cur["peak_at"] = piece["peak_score"], piece["peak_at"]
                if piece["channel_peak"] is not None and cur["channel_peak"] is not None:
                    cur["channel_peak"] = np.maximum(cur["channel_peak"], piece["channel_peak"])
            else:
                if cur is not None:
                    self._report(touched, cur, "closed")
                cur = {**piece, "incident_id": None}
        if cur is not None:
            done = steps[-1] - cur["end"] > self.gap
            self._report(touched, cur, "closed" if done else "open")
            cur = None if done else cur
        self.current = cur
        return touched
