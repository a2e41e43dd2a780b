"""Series loaders: any CSV/Parquet time table (the DC-VAE layout included), label files with one
column per channel, and the SMD, SKAB and NAB benchmarks (registered in ``DATASETS`` with
``kind="series"``).

A user table is put on its fixed step by :func:`~nadkit.data.series.gaps.regularize` (missing
timestamps are an error unless a fill limit is given). The benchmark loaders keep the rows
exactly as published, because their protocols score every row: NAB and SKAB timestamps are not
perfectly regular (duplicates, skipped seconds), which ``meta["irregular_steps"]`` counts.

>>> import pandas as pd, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "kpi.csv")
>>> pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=4, freq="5min"),
...               "cpu": [1, 2, 3, 4], "rx": [0.5, 0.1, 0.2, 0.3]}).to_csv(p, index=False)
>>> d = read_series(p)
>>> d.channels, d.meta["step"], d.values.shape
(['cpu', 'rx'], '0 days 00:05:00', (4, 2))
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from nadkit.data.download import data_dir
from nadkit.data.loaders import DatasetInfo, check_repeated_header, parse_labels, register
from nadkit.data.series.container import SeriesData
from nadkit.data.series.gaps import detect_step, regularize
from nadkit.errors import DataError, DatasetNotFoundError
from nadkit.io import read_table

#: column names taken as the time column when ``time_col="auto"`` (case-insensitive)
TIME_NAMES = ("timestamp", "time", "datetime", "date", "ts")


def find_time_col(df: pd.DataFrame, time_col: str | None) -> str | None:
    """The time column of ``df``: ``time_col`` itself (checked), the first of :data:`TIME_NAMES`
    present for ``"auto"`` (None if none is), or None for ``None``/``""``."""
    if time_col is None or time_col == "":
        return None
    if time_col != "auto":
        if time_col not in df.columns:
            raise DataError(f"time column {time_col!r} not found; columns are {list(df.columns)[:20]}")
        return time_col
    lower = {str(c).lower(): c for c in df.columns}
    return next((lower[n] for n in TIME_NAMES if n in lower), None)


_find_time_col = find_time_col  # the former private name
#: largest magnitude a channel value may have: float32's (the models compute in float32)
MAX_VALUE = float(np.finfo(np.float32).max)


def _parse_time(values: pd.Series, name: str) -> np.ndarray:
    """Timestamps as datetime64; zoned ones (all with an offset, e.g. across a DST change) in
    UTC; a mix of zoned and zone-less ones is refused (no zone to put the others in)."""
    text = values.astype(str).str.strip()
    zoned = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).to_numpy()
    if zoned.any() and not zoned.all():
        i, j = int(np.flatnonzero(zoned)[0]), int(np.flatnonzero(~zoned)[0])
        raise DataError(f"{name}: the time column mixes time zones: row {i + 1} {text.iloc[i]!r} has one, "
                        f"row {j + 1} {text.iloc[j]!r} has none; give every timestamp a zone or none")
    try:
        t = pd.to_datetime(values, errors="coerce", format="mixed", utc=bool(zoned.all()) and len(zoned) > 0)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{name}: the time column cannot be read as timestamps: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    if not pd.api.types.is_datetime64_any_dtype(t.dtype):
        raise DataError(f"{name}: the time column mixes time zones, e.g. {values.iloc[0]!r}; "
                        f"convert it to one zone")
    if isinstance(t.dtype, pd.DatetimeTZDtype):  # compare and step in UTC
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    if t.isna().any():
        bad = values[t.isna()].iloc[0]
        raise DataError(f"{name}: {int(t.isna().sum())} values of the time column are not timestamps "
                        f"(e.g. {bad!r})")
    return t.to_numpy()


def _channels(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Channel columns as float64; any non-numeric value is an error naming the column."""
    if df.shape[1] == 0:
        raise DataError(f"{name}: no channel columns left")
    out, bad = {}, []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s):
            s = s.astype(np.float64)
        elif not pd.api.types.is_numeric_dtype(s):
            conv = pd.to_numeric(s, errors="coerce")
            wrong = conv.isna() & s.notna()
            if wrong.any():
                bad.append(f"{c!r} (e.g. {s[wrong].iloc[0]!r})")
                continue
            s = conv
        out[str(c)] = s.astype(np.float64)
    if bad:
        raise DataError(f"{name}: non-numeric channel columns: {', '.join(bad[:5])}; drop them "
                        f"(--drop-cols) or name the time column (--time-col)")
    frame = pd.DataFrame(out)
    values = frame.to_numpy()
    huge = np.abs(values) > MAX_VALUE  # NaN compares False: missing points are filled or refused later
    if huge.any():
        row, col = (int(v[0]) for v in np.nonzero(huge))
        raise DataError(f"{name}: channel {frame.columns[col]!r} has {int(huge[:, col].sum())} values beyond "
                        f"±{MAX_VALUE:.3g} (row {row + 1}: {values[row, col]!r}), which float32 cannot "
                        f"hold; rescale the channel")
    return frame


def frame_to_series(df: pd.DataFrame, time_col: str | None = "auto", label_col: str | None = None,
                    drop_cols: Iterable[str] = (), name: str = "series", regular: bool = True,
                    max_gap: int = 0, labels: pd.DataFrame | None = None,
                    channels: Iterable[str] | None = None) -> SeriesData:
    """A time table → :class:`SeriesData`: every column except time, label and dropped ones is a
    channel and must be numeric; with ``channels`` (e.g. a model's) only those are read, in that
    order, and other columns are ignored. ``labels`` (row-aligned table, see
    :func:`attach_labels`) are attached before the series is put on its grid (``regular``;
    ``max_gap`` = fill limit)."""
    drop_cols = list(drop_cols)
    check_repeated_header(df, name)
    missing = [c for c in [*drop_cols, *([label_col] if label_col else [])] if c not in df.columns]
    if missing:
        raise DataError(f"{name}: columns not found: {missing}; columns are {list(df.columns)[:20]}")
    tcol = find_time_col(df, time_col)
    time = _parse_time(df[tcol], name) if tcol is not None else None
    y = parse_labels(df[label_col], name=f"{name}: column {label_col!r}")[0] if label_col else None
    used = {c for c in (tcol, label_col) if c} | set(drop_cols)
    if channels is not None:
        channels = [str(c) for c in channels]
        absent = [c for c in channels if c not in df.columns]
        if absent:
            raise DataError(f"{name}: missing channels ({len(absent)}): {', '.join(absent[:8])}"
                            f"{' …' if len(absent) > 8 else ''}")
        cols = channels
    else:
        cols = [c for c in df.columns if c not in used]
    data = SeriesData(_channels(df[cols], name), time=time, y=y, name=name, meta={"time_col": tcol})
    if labels is not None:
        data = attach_labels(data, labels, name=f"{name} labels")
    if regular:
        return regularize(data, max_gap=max_gap)
    if time is not None and len(data) > 1:
        step = detect_step(time)
        data.meta["step"] = str(step)
        data.meta["irregular_steps"] = int((np.diff(pd.DatetimeIndex(time).as_unit("ns").asi8) != step.value).sum())
    return data


def read_series(path: str | os.PathLike[str], time_col: str | None = "auto", label_col: str | None = None,
                labels: str | os.PathLike[str] | None = None, drop_cols: Iterable[str] = (),
                regular: bool = True, max_gap: int = 0, channels: Iterable[str] | None = None) -> SeriesData:
    """Read a CSV/Parquet time table (e.g. the DC-VAE layout: timestamp + one column per channel).

    ``labels`` is an optional row-aligned labels file: one 0/1 column per channel (DC-VAE) or a
    single per-step column, with or without the timestamp column.
    """
    df = read_table(path)
    lab = read_table(labels) if labels is not None else None
    return frame_to_series(df, time_col=time_col, label_col=label_col, drop_cols=drop_cols,
                           name=Path(path).name, regular=regular, max_gap=max_gap, labels=lab,
                           channels=channels)


def attach_labels(data: SeriesData, labels: pd.DataFrame, name: str = "labels") -> SeriesData:
    """Attach a row-aligned labels table to ``data`` (before any gap filling).

    One label column → per-step labels ``y``; otherwise the columns must be the channels (by
    name, in any order, or by position when no name matches) → ``channel_labels``. A time
    column, if present, must equal the data's timestamps row by row.
    """
    if len(labels) != len(data):
        raise DataError(f"{name} is misaligned with the data: {len(labels)} label rows for "
                        f"{len(data)} data rows (labels must be row-aligned)")
    tcol = find_time_col(labels, "auto")
    if tcol is not None:
        lt = _parse_time(labels[tcol], name)
        if data.time is not None:
            differ = lt != pd.to_datetime(data.time).to_numpy()
            if differ.any():
                i = int(np.flatnonzero(differ)[0])
                raise DataError(f"{name} is misaligned with the data: timestamps differ at row {i} "
                                f"({pd.Timestamp(lt[i])} vs {pd.Timestamp(data.time[i])})")
        labels = labels.drop(columns=[tcol])
    cols = [str(c) for c in labels.columns]
    if len(cols) == 0:
        raise DataError(f"{name} has no label columns")

    def column(c):
        return parse_labels(labels[c], name=f"{name}: column {c!r}")[0]

    if len(cols) == 1 and cols[0] not in data.channels:
        data.y = column(labels.columns[0])
        return data
    channels = data.channels
    if set(cols) == set(channels):
        order = [labels.columns[cols.index(c)] for c in channels]
    elif len(cols) == len(channels) and not set(cols) & set(channels):
        order = list(labels.columns)
    else:
        raise DataError(f"{name}: label columns do not match the channels (missing "
                        f"{sorted(set(channels) - set(cols))[:5]}, unexpected {sorted(set(cols) - set(channels))[:5]})")
    cl = np.column_stack([column(c) for c in order]).astype(np.int8)
    data.channel_labels = cl
    data.y = cl.any(axis=1).astype(np.int8)
    return data


# ------------------------------------------------------------------------------------------ SMD
SMD_MACHINES = (
    [f"machine-1-{i}" for i in range(1, 9)] + [f"machine-2-{i}" for i in range(1, 10)]
    + [f"machine-3-{i}" for i in range(1, 12)]
)
SMD_CHANNELS = [f"dim{j}" for j in range(1, 39)]


def _smd_file(root: Path, part: str, machine: str) -> Path:
    folder = root / "smd" / part
    for suffix in (".txt.gz", ".txt"):
        if (folder / f"{machine}{suffix}").is_file():
            return folder / f"{machine}{suffix}"
    present = sorted(p.name.split(".")[0] for p in folder.glob("machine-*")) if folder.is_dir() else []
    shown = f"{present[0]} … {present[-1]}" if present else "none"
    raise DatasetNotFoundError(f"SMD {part} file for {machine} not found under {folder} "
                               f"(machines present: {shown})")


def read_smd_interpretation(path: str | os.PathLike[str], n_steps: int, n_channels: int = 38) -> np.ndarray:
    """Per-channel labels (n_steps, n_channels) from an SMD ``interpretation_label`` file.

    Each line ``start-end:d1,d2,…`` marks rows ``start … end-1`` (0-based, end exclusive: this
    matches ``test_label`` exactly) of the 1-based channels ``d1, d2, …``.
    """
    out = np.zeros((n_steps, n_channels), np.int8)
    for k, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            span, dims = line.split(":")
            start, end = (int(v) for v in span.split("-"))
            cols = [int(d) - 1 for d in dims.split(",") if d.strip()]
        except ValueError as exc:
            raise DataError(f"{path}: line {k} is not 'start-end:d1,d2,…': {line!r}") from exc
        if not (0 <= start < end <= n_steps) or not all(0 <= c < n_channels for c in cols):
            raise DataError(f"{path}: line {k} is out of range for {n_steps} steps × {n_channels} channels")
        out[start:end, cols] = 1
    return out


def read_smd(machine: str, part: str = "train", root: str | os.PathLike[str] | None = None) -> SeriesData:
    """One SMD machine: ``part="train"`` (unlabelled) or ``"test"`` (with ``test_label`` as
    ``y`` and the interpretation labels as ``channel_labels``). Steps are 1 minute apart; the
    files have no timestamps."""
    if part not in ("train", "test"):
        raise DataError(f"SMD part must be 'train' or 'test', got {part!r}")
    root = Path(root) if root is not None else data_dir()
    values = pd.read_csv(_smd_file(root, part, machine), header=None, dtype=np.float64)
    if values.shape[1] != 38:
        raise DataError(f"SMD {machine} {part}: expected 38 columns, found {values.shape[1]}")
    values.columns = SMD_CHANNELS
    meta = {"machine": machine, "part": part, "sampling": "1 minute (no timestamps in the files)"}
    if part == "train":
        return SeriesData(values, name=f"smd:{machine}", meta=meta)
    y = pd.read_csv(_smd_file(root, "test_label", machine), header=None).iloc[:, 0].to_numpy()
    if len(y) != len(values):
        raise DataError(f"SMD {machine}: {len(y)} test labels for {len(values)} test rows")
    interp = root / "smd" / "interpretation_label" / f"{machine}.txt"
    cl = read_smd_interpretation(interp, len(values)) if interp.is_file() else None
    if cl is not None:
        uncovered = (y == 1) & (cl.sum(axis=1) == 0)
        meta["steps_without_channel_labels"] = int(uncovered.sum())
    return SeriesData(values, y=y, channel_labels=cl, name=f"smd:{machine}:test", meta=meta)


def _smd(split: str, root: Path, download: bool = True) -> SeriesData:
    machine, _, part = split.partition(":")
    return read_smd(machine, part or "train", root)


register(DatasetInfo(
    name="smd",
    description="Server Machine Dataset (OmniAnomaly): 38 channels at 1 min; per-channel test labels. "
                "The shared copy has machine-1-2 … machine-1-8 only",
    splits=(*SMD_MACHINES, *(f"{m}:test" for m in SMD_MACHINES)),
    files={},
    loader=_smd,
    kind="series",
    protocol="train on smd:<machine> (train file), test on smd:<machine>:test",
))


# ----------------------------------------------------------------------------------------- SKAB
SKAB_FILES = ("anomaly-free", *(f"valve1/{i}" for i in range(16)), *(f"valve2/{i}" for i in range(4)),
              *(f"other/{i}" for i in range(1, 15)))


def _register_local(name: str, description: str, splits: tuple[str, ...],
                    read: Callable[[str, Path], SeriesData], protocol: str) -> None:
    """Register a series dataset read from the shared data directory (nothing to download):
    ``read(split, root)`` loads one split."""
    register(DatasetInfo(name=name, description=description, splits=splits, files={},
                         loader=lambda split, root, download=True: read(split, root),
                         kind="series", protocol=protocol))


def read_skab(name: str, root: str | os.PathLike[str] | None = None) -> SeriesData:
    """One SKAB experiment (``valve1/3``, ``other/7``…) or ``anomaly-free``; 8 sensors at ~1 Hz.
    ``y`` is the ``anomaly`` column; ``meta["changepoints"]`` the change-point rows."""
    root = Path(root) if root is not None else data_dir()
    rel = "anomaly-free/anomaly-free" if name == "anomaly-free" else name
    path = next((p for p in (root / "skab" / "data" / f"{rel}.csv.gz", root / "skab" / "data" / f"{rel}.csv")
                 if p.is_file()), None)
    if path is None:
        raise DatasetNotFoundError(f"SKAB file {rel}.csv(.gz) not found under {root / 'skab' / 'data'}")
    df = read_table(path, sep=";")
    label_col = "anomaly" if "anomaly" in df.columns else None
    cps = df.pop("changepoint").to_numpy() if "changepoint" in df.columns else None
    data = frame_to_series(df, time_col="datetime", label_col=label_col, name=f"skab:{name}", regular=False)
    if cps is not None:
        data.meta["changepoints"] = np.flatnonzero(cps == 1).tolist()
    return data


_register_local("skab", "SKAB water-circulation testbed: 8 sensors at ~1 Hz, 34 labelled experiments + anomaly-free",
                SKAB_FILES, read_skab,
                "train on skab:anomaly-free (or the leading normal part of a file), score each experiment")


# ------------------------------------------------------------------------------------------ NAB
NAB_FILES = (
    "realKnownCause/ambient_temperature_system_failure", "realKnownCause/cpu_utilization_asg_misconfiguration",
    "realKnownCause/ec2_request_latency_system_failure", "realKnownCause/machine_temperature_system_failure",
    "realKnownCause/nyc_taxi", "realKnownCause/rogue_agent_key_hold", "realKnownCause/rogue_agent_key_updown",
    *(f"realAWSCloudwatch/{n}" for n in (
        "ec2_cpu_utilization_24ae8d", "ec2_cpu_utilization_53ea38", "ec2_cpu_utilization_5f5533",
        "ec2_cpu_utilization_77c1ca", "ec2_cpu_utilization_825cc2", "ec2_cpu_utilization_ac20cd",
        "ec2_cpu_utilization_c6585a", "ec2_cpu_utilization_fe7f93", "ec2_disk_write_bytes_1ef3de",
        "ec2_disk_write_bytes_c0d644", "ec2_network_in_257a54", "ec2_network_in_5abac7",
        "elb_request_count_8c0756", "grok_asg_anomaly", "iio_us-east-1_i-a2eb1cd9_NetworkIn",
        "rds_cpu_utilization_cc0c53", "rds_cpu_utilization_e47b3b")),
)


def read_nab(name: str, root: str | os.PathLike[str] | None = None) -> SeriesData:
    """One NAB series (univariate ``value``); ``y`` = 1 inside the label windows of
    ``labels/combined_windows.json`` (both ends inclusive). Rows are kept as published."""
    root = Path(root) if root is not None else data_dir()
    folder = root / "nab"
    path = next((p for p in (folder / "data" / f"{name}.csv.gz", folder / "data" / f"{name}.csv") if p.is_file()), None)
    windows_file = folder / "labels" / "combined_windows.json"
    if path is None or not windows_file.is_file():
        raise DatasetNotFoundError(f"NAB file {name}.csv(.gz) or labels/combined_windows.json not found under {folder}")
    df = read_table(path)
    try:
        windows = json.loads(windows_file.read_text())[f"{name}.csv"]
    except (KeyError, json.JSONDecodeError) as exc:
        raise DataError(f"{windows_file}: no label windows for {name}.csv") from exc
    t = pd.to_datetime(df["timestamp"]).to_numpy()
    y = np.zeros(len(df), np.int8)
    for start, end in windows:
        y[(t >= pd.Timestamp(start).to_datetime64()) & (t <= pd.Timestamp(end).to_datetime64())] = 1
    data = frame_to_series(df, time_col="timestamp", name=f"nab:{name}", regular=False)
    data.y = y
    data.meta["label_windows"] = [[str(s), str(e)] for s, e in windows]
    return data


_register_local("nab", "Numenta Anomaly Benchmark: realKnownCause (7) + realAWSCloudwatch (17) univariate series",
                NAB_FILES, read_nab, "score each series; label windows from combined_windows.json")
