"""Loaders for the supported intrusion datasets and for any CSV/Parquet table.

Every loader returns a :class:`~nadkit.data.container.TableData` with raw feature columns
(categoricals as strings), ``y`` (1 = attack), ``attack`` (class name, ``"normal"`` for normal
rows) and ``time`` where the file has timestamps.

>>> from nadkit.data import load_dataset
>>> test = load_dataset("nsl-kdd", "test")          # doctest: +SKIP
>>> test.summary()["rows"]                           # doctest: +SKIP
22544
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nadkit.data.container import TableData
from nadkit.data.download import RemoteFile, data_dir, ensure
from nadkit.errors import DataError, DatasetNotFoundError
from nadkit.io import read_table

KDD_FEATURES = [
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
]
KDD_CATEGORICAL = ["protocol_type", "service", "flag"]
NORMAL_NAMES = frozenset({"normal", "benign", "background-normal", "0", "false"})
#: label values that read as a yes/no answer or a number other than 0/1: refused by
#: :func:`parse_labels` (they would otherwise be taken as attack class names)
AMBIGUOUS_LABELS = frozenset({"yes", "no", "y", "n", "t", "f", "on", "off", "", "nan", "none", "null",
                              "na", "n/a", "-", "?"})
#: share of cells that must parse as numbers for a text column to be taken as a numeric column
#: with a few bad cells (reported) rather than a categorical one
NUMERIC_SHARE = 0.95


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: its splits, files and loader."""

    name: str
    description: str
    splits: tuple[str, ...]
    files: dict[str, RemoteFile]
    loader: Callable[..., TableData]
    kind: str = "table"
    protocol: str = ""
    extra: dict = field(default_factory=dict)


DATASETS: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    DATASETS[info.name] = info
    return info


def load_dataset(name: str, split: str = "train", root: str | os.PathLike[str] | None = None,
                 download: bool = True, **kwargs) -> TableData:
    """Load split ``split`` of registered dataset ``name`` from the data directory."""
    info = get_dataset(name)
    if split not in info.splits:
        raise DataError(f"dataset {name!r} has no split {split!r}; choose one of {list(info.splits)}")
    root_path = Path(root) if root is not None else data_dir()
    return info.loader(split=split, root=root_path, download=download, **kwargs)


def dataset_of(spec: str) -> DatasetInfo | None:
    """The registered dataset a data argument names (``nsl-kdd:test``, ``SMD:machine-1-2``,
    ``skab``), or None (a file path, an unknown name)."""
    return DATASETS.get(spec.split(":", 1)[0].lower().replace("_", "-"))


def get_dataset(name: str) -> DatasetInfo:
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[key]


def _label_arrays(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(y, attack) from a column of class names: normal/benign → 0, anything else → 1."""
    names = raw.astype(str).str.strip().str.rstrip(".")
    lower = names.str.lower()
    is_normal = lower.isin(NORMAL_NAMES)
    attack = np.where(is_normal, "normal", names.to_numpy())
    return (~is_normal).to_numpy().astype(np.int8), attack.astype(object)


def _check_columns(df: pd.DataFrame, n: int, path: Path) -> None:
    if df.shape[1] != n:
        raise DataError(f"{path}: expected {n} columns, found {df.shape[1]} (is this the right file?)")


# --------------------------------------------------------------------------------------- NSL-KDD
def _load_kdd_text(path: Path, n_cols: int, names: list[str]) -> pd.DataFrame:
    df = pd.read_csv(path, header=None, names=None)
    _check_columns(df, n_cols, path)
    df.columns = names
    return df


def _nsl_kdd(split: str, root: Path, download: bool = True) -> TableData:
    path = ensure(DATASETS["nsl-kdd"].files[split], root, download)
    df = _load_kdd_text(path, 43, [*KDD_FEATURES, "label", "difficulty"])
    y, attack = _label_arrays(df["label"])
    return TableData(df[KDD_FEATURES], y=y, attack=attack, name=f"nsl-kdd:{split}",
                     meta={"difficulty": df["difficulty"].to_numpy(), "categorical": KDD_CATEGORICAL})


_NSL_SRC = "https://raw.githubusercontent.com/defcom17/NSL_KDD/master/"
register(DatasetInfo(
    name="nsl-kdd",
    description="NSL-KDD (UNB CIC): KDDTrain+ 125,973 rows, KDDTest+ 22,544, KDDTest-21 11,850; 41 features",
    splits=("train", "test", "test21"),
    files={
        "train": RemoteFile(("nsl_kdd/KDDTrain+.txt.gz", "nsl_kdd/KDDTrain+.txt"), _NSL_SRC + "KDDTrain%2B.txt",
                            "1b86d2f957b33082081bba410fe129b475efebcc13c9014c3f447c8271aadf95",
                            "https://www.unb.ca/cic/datasets/nsl.html",
                            mirror_sha256="39e78eaceffb1a183af002b4994b100b69795895bfbf67cfc62dabd4c9b76d4e"),
        "test": RemoteFile(("nsl_kdd/KDDTest+.txt.gz", "nsl_kdd/KDDTest+.txt"), _NSL_SRC + "KDDTest%2B.txt",
                           "fa46b0935342616aa83b7c2578db355b6a7aaabbc492248172c7a1e8b7ab8f84",
                           "https://www.unb.ca/cic/datasets/nsl.html",
                            mirror_sha256="1ebe1079af669e3c35ef7be25b5bafde1e47951244d1b4834682b14a22238da1"),
        "test21": RemoteFile(("nsl_kdd/KDDTest-21.txt.gz", "nsl_kdd/KDDTest-21.txt"), _NSL_SRC + "KDDTest-21.txt",
                             "746993ac9e25868827cacf09eab450050a2a1056e1ce48a1ad39f5dc801d531d",
                             "https://www.unb.ca/cic/datasets/nsl.html",
                            mirror_sha256="cf79d2eab7d8cc749e7c088260c0297cbb26d95062d27d1f8c761f4eeac3327a"),
    },
    loader=_nsl_kdd,
    protocol="train on the normal rows of KDDTrain+, test on KDDTest+",
))


# ------------------------------------------------------------------------------------ KDD Cup 99
def _kddcup99(split: str, root: Path, download: bool = True) -> TableData:
    path = ensure(DATASETS["kddcup99"].files[split], root, download)
    df = _load_kdd_text(path, 42, [*KDD_FEATURES, "label"])
    y, attack = _label_arrays(df["label"])
    return TableData(df[KDD_FEATURES], y=y, attack=attack, name=f"kddcup99:{split}",
                     meta={"categorical": KDD_CATEGORICAL})


_KDD99_SRC = "http://kdd.ics.uci.edu/databases/kddcup99/"
register(DatasetInfo(
    name="kddcup99",
    description="KDD Cup 1999: 10% training set (494,021 rows) and labelled 'corrected' test (311,029)",
    splits=("train", "test"),
    files={
        "train": RemoteFile(("kddcup99/kddcup.data_10_percent.gz",), _KDD99_SRC + "kddcup.data_10_percent.gz",
                            "7bfaa8cef1350f72842018c32893e2fa4539d57efbb22f998eb74ecefc3da3b4", _KDD99_SRC,
                            mirror_sha256="7bfaa8cef1350f72842018c32893e2fa4539d57efbb22f998eb74ecefc3da3b4"),
        "test": RemoteFile(("kddcup99/corrected.gz",), _KDD99_SRC + "corrected.gz",
                           "74f0daef49b242badc09f2adbd457dea6a45b4f77177efbd11216d333651044b", _KDD99_SRC,
                            mirror_sha256="74f0daef49b242badc09f2adbd457dea6a45b4f77177efbd11216d333651044b"),
    },
    loader=_kddcup99,
    protocol="train on the normal rows of the 10% file, test on 'corrected' (new attack types are attacks)",
))


# ------------------------------------------------------------------------------------ UNSW-NB15
UNSW_CATEGORICAL = ["proto", "service", "state"]


def _unsw_nb15(split: str, root: Path, download: bool = True) -> TableData:
    path = ensure(DATASETS["unsw-nb15"].files[split], root, download)
    df = read_table(path)  # utf-8-sig: the file starts with a BOM
    missing = {"label", "attack_cat"} - set(df.columns)
    if missing:
        raise DataError(f"{path}: not a UNSW-NB15 partition file, missing columns {sorted(missing)}")
    y = df["label"].to_numpy().astype(np.int8)
    cat = df["attack_cat"].astype(str).str.strip()
    attack = np.where(y == 0, "normal", cat.to_numpy()).astype(object)
    X = df.drop(columns=[c for c in ("id", "label", "attack_cat") if c in df.columns])
    return TableData(X, y=y, attack=attack, name=f"unsw-nb15:{split}",
                     meta={"categorical": UNSW_CATEGORICAL})


register(DatasetInfo(
    name="unsw-nb15",
    description="UNSW-NB15 partition CSV (82,332 rows, 42 features); 'all' is the whole file",
    splits=("all",),
    files={
        "all": RemoteFile(("unsw_nb15/UNSW_NB15_training-set.csv.gz", "unsw_nb15/UNSW_NB15_training-set.csv"),
                          None, None, "https://research.unsw.edu.au/projects/unsw-nb15-dataset",
                            mirror_sha256="611e2b334b3980ce1a7208a5ca55f751472b9dc47b8382e19b6bf89701ca31f7"),
    },
    loader=_unsw_nb15,
    protocol="seeded split of the normal rows: 60% train (seed 0); test = the other normals + all attacks",
))


# ------------------------------------------------------------------------------------ CIC-IDS2017
def read_cic_ids2017(paths: Iterable[str | os.PathLike[str]], attempted: str = "benign") -> TableData:
    """Read CIC-IDS2017 CSVs in the original MachineLearningCSV layout or the corrected 2021 layout.

    Header whitespace is stripped, the duplicated ``Fwd Header Length`` column is dropped,
    ±inf become NaN and rows with any non-finite feature are dropped (their count is kept in
    ``meta["dropped_nonfinite"]``). In the 2021 layout (``Attempted Category`` column), attempted
    but failed attacks are treated as ``attempted`` = "benign" (default), "attack" or "drop".
    """
    frames = []
    for p in paths:
        df = read_table(p, allow_duplicate_columns=True, low_memory=False)  # 'Fwd Header Length' twice
        df.columns = [c.strip() for c in df.columns]
        frames.append(df)
    if not frames:
        raise DataError("no CIC-IDS2017 CSV files given")
    df = pd.concat(frames, ignore_index=True)
    dup = [c for c in df.columns if c.endswith(".1") and c[:-2] in df.columns]
    df = df.drop(columns=dup)
    if "Label" not in df.columns:
        raise DataError("CIC-IDS2017 file has no 'Label' column")
    label = df["Label"].astype(str).str.strip()
    time = None
    if "Timestamp" in df.columns:
        time = pd.to_datetime(df["Timestamp"], errors="coerce", dayfirst=True, format="mixed").to_numpy()
    meta: dict = {}
    if "Attempted Category" in df.columns:
        attempted_rows = label.str.contains("Attempted", case=False).to_numpy()
        if attempted == "drop":
            keep = ~attempted_rows
        elif attempted in ("benign", "attack"):
            keep = np.ones(len(df), bool)
        else:
            raise DataError(f"attempted must be 'benign', 'attack' or 'drop', got {attempted!r}")
        meta["attempted_rows"] = int(attempted_rows.sum())
    else:
        attempted_rows = np.zeros(len(df), bool)
        keep = np.ones(len(df), bool)
    y, attack = _label_arrays(label)
    if attempted == "benign":
        y = np.where(attempted_rows, 0, y).astype(np.int8)
    id_cols = {"Label", "Attempted Category", "id", "Flow ID", "Src IP", "Dst IP", "Source IP",
               "Destination IP", "Timestamp", "Src Port", "Source Port"}
    X = df.drop(columns=[c for c in df.columns if c in id_cols])
    X = X.apply(pd.to_numeric, errors="coerce").replace([np.inf, -np.inf], np.nan)
    finite = X.notna().all(axis=1).to_numpy()
    meta["dropped_nonfinite"] = int((keep & ~finite).sum())
    keep &= finite
    data = TableData(X.reset_index(drop=True), y=y, attack=attack, time=time, name="cic-ids2017", meta={})
    data = data.subset(keep, name="cic-ids2017")
    data.meta.update(meta)
    return data


def _cic_ids2017(split: str, root: Path, download: bool = True, attempted: str = "benign") -> TableData:
    folder = root / "cic_ids2017"
    files = sorted([*folder.glob("**/*.csv"), *folder.glob("**/*.csv.gz")]) if folder.is_dir() else []
    if not files:
        raise DatasetNotFoundError(
            f"no CIC-IDS2017 CSV files under {folder}; download MachineLearningCSV.zip from "
            "https://www.unb.ca/cic/datasets/ids-2017.html (or the 2021 corrected files) and unzip them there"
        )
    return read_cic_ids2017(files, attempted=attempted)


register(DatasetInfo(
    name="cic-ids2017",
    description="CIC-IDS2017 daily CSVs (MachineLearningCSV or the corrected 2021 layout) under cic_ids2017/",
    splits=("all",),
    files={},
    loader=_cic_ids2017,
    protocol="seeded split of the normal rows: 60% train (seed 0); test = the other normals + all attacks",
))


# ---------------------------------------------------------------------------------------- CTU-13
CTU_CATEGORICAL = ["Proto", "Dir", "State", "sTos", "dTos"]


def read_ctu13(path: str | os.PathLike[str], background: str = "normal") -> TableData:
    """Read one CTU-13 ``.binetflow`` file.

    Labels: ``attack`` is ``background``, ``normal`` or ``botnet``; ``y`` = 1 for botnet flows.
    ``background`` = "normal" (default, the thesis protocol) keeps background flows as label 0;
    "drop" removes them.
    """
    df = read_table(path, low_memory=False)
    need = {"StartTime", "Label", "Sport", "Dport", "Proto"}
    if need - set(df.columns):
        raise DataError(f"{path}: not a .binetflow file, missing {sorted(need - set(df.columns))}")
    text = df["Label"].astype(str).str.lower()
    attack = np.select([text.str.contains("botnet"), text.str.contains("normal")],
                       ["botnet", "normal"], "background").astype(object)
    y = (attack == "botnet").astype(np.int8)
    time = pd.to_datetime(df["StartTime"], errors="coerce", format="mixed").to_numpy()
    X = df.drop(columns=[c for c in ("StartTime", "SrcAddr", "DstAddr", "Label") if c in df.columns])
    from nadkit.data.exports import parse_port

    X["Sport"] = parse_port(X["Sport"])
    X["Dport"] = parse_port(X["Dport"])
    for c in CTU_CATEGORICAL:
        if c in X.columns:
            X[c] = X[c].astype(str).str.strip()
    data = TableData(X, y=y, attack=attack, time=time, name=f"ctu13:{Path(path).name}",
                     meta={"categorical": [c for c in CTU_CATEGORICAL if c in X.columns]})
    if background == "drop":
        data = data.subset(attack != "background")
    elif background != "normal":
        raise DataError(f"background must be 'normal' or 'drop', got {background!r}")
    return data


def _ctu13(split: str, root: Path, download: bool = True, background: str = "normal") -> TableData:
    folder = root / "ctu13"
    files = sorted(folder.glob(f"**/*{split}*.binetflow*")) if folder.is_dir() else []
    if not files:
        raise DatasetNotFoundError(
            f"no CTU-13 .binetflow file for scenario {split} under {folder}; download it from "
            "https://www.stratosphereips.org/datasets-ctu13 and place it there"
        )
    return read_ctu13(files[0], background=background)


register(DatasetInfo(
    name="ctu13",
    description="CTU-13 bidirectional NetFlow (.binetflow) per scenario under ctu13/ (Background/Normal/Botnet)",
    splits=tuple(f"{i}" for i in range(1, 14)),
    files={},
    loader=_ctu13,
    protocol="seeded split of the normal rows: 60% train (seed 0); test = the other normals + all attacks",
))


# ------------------------------------------------------------------------------- generic tables
def load_table(path: str | os.PathLike[str], label_col: str | None = None,
               attack_col: str | None = None, time_col: str | None = None,
               drop_cols: Iterable[str] = (), require_label: bool = False,
               use_cols: Iterable[str] = (), select_features: bool = True) -> TableData:
    """Load any CSV/Parquet file; ``label_col`` may hold 0/1, booleans or class names.

    Flow exports (CICFlowMeter, Zeek, nfdump, Argus, nfstream) are recognised and read
    natively, and identifier-like columns are left out of the features unless named in
    ``use_cols`` (see :mod:`nadkit.data.exports`; ``meta["notice"]`` says what was done).

    >>> import pandas as pd, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "flows.csv")
    >>> pd.DataFrame({"bytes": [10, 20], "proto": ["tcp", "udp"], "label": ["normal", "dos"]}).to_csv(p, index=False)
    >>> d = load_table(p, label_col="label")
    >>> list(d.X.columns), d.y.tolist(), d.attack.tolist()
    (['bytes', 'proto'], [0, 1], ['normal', 'dos'])
    """
    from nadkit.data.exports import (
        ReadReport,
        detect_format,
        export_time,
        plan_columns,
        read_export,
    )
    from nadkit.io import read_table

    path = Path(path)
    fmt = detect_format(path)
    report = ReadReport(format=fmt)
    if fmt is None:
        df = read_table(path)
    else:
        df, report = read_export(path, fmt)
    used = {c for c in (label_col, attack_col, time_col) if c is not None}
    plan = plan_columns(df, fmt, used=used | set(drop_cols), use_cols=use_cols, report=report)
    excluded = [*plan.identifiers, *plan.near_unique, *plan.labels] if select_features else []
    data = frame_to_table(df, label_col=label_col, attack_col=attack_col, time_col=time_col,
                          drop_cols=[*drop_cols, *[c for c in excluded if c not in drop_cols]],
                          require_label=require_label, name=path.name)
    if time_col is None and data.time is None and fmt is not None:
        data.time = export_time(df, fmt)
    if fmt is not None:
        data.meta["format"] = fmt
        data.meta["categorical"] = [c for c in plan.categorical if c in data.X.columns]
    if fmt is not None or excluded:
        data.meta["notice"] = plan.notice(path.name, fmt, report)
        data.meta["identifiers"] = [*plan.identifiers, *plan.near_unique]
    return data


def frame_to_table(df: pd.DataFrame, label_col: str | None = None, attack_col: str | None = None,
                   time_col: str | None = None, drop_cols: Iterable[str] = (),
                   require_label: bool = False, name: str = "table") -> TableData:
    """Split a DataFrame into features, labels, attack classes and timestamps."""
    drop_cols = list(drop_cols)
    check_repeated_header(df, name)
    for col, what in ((label_col, "label"), (attack_col, "attack class"), (time_col, "time")):
        if col is not None and col not in df.columns:
            raise DataError(f"{name}: {what} column {col!r} not found; columns are {list(df.columns)[:20]}")
    missing_drop = [c for c in drop_cols if c not in df.columns]
    if missing_drop:
        raise DataError(f"{name}: columns to drop not found: {missing_drop}")
    if require_label and label_col is None:
        raise DataError(f"{name}: a label column is required (--label-col)")
    y = attack = time = None
    if label_col is not None:
        y, attack = parse_labels(df[label_col], name=f"{name}: column {label_col!r}")
    if attack_col is not None:
        attack = np.where(y == 0, "normal", df[attack_col].astype(str).to_numpy()) if y is not None \
            else df[attack_col].astype(str).to_numpy()
    if time_col is not None:
        try:
            time = pd.to_datetime(df[time_col], errors="coerce").to_numpy()
        except (ValueError, TypeError) as exc:  # e.g. mixed time zones
            raise DataError(f"{name}: time column {time_col!r} cannot be read as timestamps: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
    used = {c for c in (label_col, attack_col, time_col) if c is not None} | set(drop_cols)
    X = df.drop(columns=[c for c in df.columns if c in used])
    if X.shape[1] == 0:
        raise DataError(f"{name}: no feature columns left")
    return TableData(X.reset_index(drop=True), y=y, attack=attack, time=time, name=name)


def parse_labels(values: pd.Series | np.ndarray, name: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """(y, attack) from labels given as 0/1, booleans or class names.

    Accepted: numbers 0/1 (also ``0.0``/``1.0``), booleans, and text where ``normal``,
    ``benign``, ``background-normal``, ``0`` and ``false`` (any case, a trailing ``.`` ignored,
    as in KDD files) are normal and any other name is an attack class (``1``, ``true``,
    ``attack``, ``neptune``, ``DoS Hulk``…). Refused with an error naming them: missing labels,
    numbers other than 0/1, and yes/no-like values (:data:`AMBIGUOUS_LABELS`), which would
    otherwise silently be attack classes.
    """
    s = pd.Series(values)
    if s.isna().any():
        rows = np.flatnonzero(s.isna().to_numpy())[:5] + 1
        raise DataError(f"{name} has {int(s.isna().sum())} missing labels (rows {rows.tolist()})")
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy()
        if not np.isin(v, (0, 1)).all():
            bad = sorted(set(np.unique(v)) - {0, 1})[:5]
            raise DataError(f"{name} must be 0/1 (or class names); found values {bad}")
        y = v.astype(np.int8)
        return y, np.where(y == 0, "normal", "anomaly").astype(object)
    text = s.astype(str).str.strip()
    lower = text.str.lower().str.rstrip(".")
    numeric = pd.to_numeric(lower, errors="coerce")
    bad = lower.isin(AMBIGUOUS_LABELS) | (numeric.notna() & ~numeric.isin((0, 1)))
    if bad.any():
        values_bad = list(dict.fromkeys(text[bad].tolist()))[:5]
        rows = np.flatnonzero(bad.to_numpy())[:5] + 1
        raise DataError(f"{name}: unrecognised label values {values_bad} (rows {rows.tolist()}); use "
                        "0/1, or class names where normal/benign/background-normal mean normal and "
                        "any other name is an attack class")
    text = text.where(numeric.isna(), numeric.astype("Int64").astype(str))  # "1.0" → "1"
    return _label_arrays(text)


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(s.dtype) or isinstance(s.dtype, pd.StringDtype)


def check_repeated_header(df: pd.DataFrame, name: str = "table") -> None:
    """Refuse rows that repeat the header (at least half of the cells equal their column's name),
    as files concatenated with their headers have.

    >>> check_repeated_header(pd.DataFrame({"a": ["1", "a"], "b": ["2", "b"]}), "t.csv")
    Traceback (most recent call last):
    ...
    nadkit.errors.DataError: t.csv: 1 row repeats the header (row 2; files concatenated with their headers?); remove it
    """
    cols = [c for c in df.columns if _is_text(df[c])]
    if not cols or 2 * len(cols) < df.shape[1]:
        return
    hits = np.zeros(len(df), np.int32)
    for c in cols:
        hits += (df[c].astype(str).str.strip() == str(c).strip()).to_numpy()
    repeated = np.flatnonzero(2 * hits >= max(df.shape[1], 2))
    if len(repeated):
        one = len(repeated) == 1
        rows = ", ".join(str(i + 1) for i in repeated[:5])
        raise DataError(f"{name}: {len(repeated)} {'row repeats' if one else 'rows repeat'} the header "
                        f"({'row' if one else 'rows'} {rows}; files concatenated with their headers?); "
                        f"remove {'it' if one else 'them'}")


def check_numeric_cells(df: pd.DataFrame, name: str = "table", skip: Iterable[str] = ()) -> None:
    """Refuse text columns that are numbers in all but a few cells, and repeated header rows.

    A column of text (``object``) dtype where at least :data:`NUMERIC_SHARE` of the non-missing
    cells parse as numbers (and not all do) holds a few bad cells (``abc``, ``1,000``, ``0x10``,
    a NUL byte…): taking it as categorical would silently one-hot the numbers. The error names
    the column, how many cells, and the first rows (1-based data rows, the header not counted)
    with their values. Columns in ``skip`` (declared categorical) are not checked.

    >>> check_numeric_cells(pd.DataFrame({"b": ["1", "2", "3"], "p": ["tcp", "udp", "tcp"]}))
    """
    check_repeated_header(df, name)
    skip = set(skip)
    cols = [c for c in df.columns if c not in skip and _is_text(df[c])]
    for c in cols:
        s = df[c]
        present = s.notna().to_numpy()
        if not present.any():
            continue
        parsed = pd.to_numeric(s, errors="coerce").notna().to_numpy()
        bad = present & ~parsed
        n_bad, n_present = int(bad.sum()), int(present.sum())
        if 0 < n_bad <= (1 - NUMERIC_SHARE) * n_present:
            idx = np.flatnonzero(bad)[:5]
            shown = ", ".join(f"row {i + 1}: {s.iloc[i]!r}" for i in idx)
            raise DataError(f"{name}: column {c!r} is numeric but {n_bad} of its {n_present:,} cells "
                            f"are not numbers ({shown}{' …' if n_bad > 5 else ''}); fix those cells, "
                            f"or declare the column categorical (--categorical {c})")
