"""Resolving a data argument (the CLI's ``DATA``): a CSV/Parquet path or ``dataset:split``.

``dataset:train`` / ``dataset:test`` of a registered table dataset name its protocol split
(:mod:`nadkit.data.splits`); a series dataset's split is its loader's (``smd:machine-1-2``).
"""

from __future__ import annotations

from pathlib import Path

from nadkit.data.container import TableData
from nadkit.data.loaders import dataset_of, get_dataset, load_dataset, load_table
from nadkit.data.series import SeriesData, read_series
from nadkit.data.splits import standard_split
from nadkit.errors import DataError

__all__ = ["label_file_column", "read_series_input", "read_table_input", "resolve_data", "resolve_series"]


def resolve_data(spec: str, label_col: str | None = None, attack_col: str | None = None,
                 time_col: str | None = None, drop_cols: tuple[str, ...] = (),
                 require_label: bool = False, use_cols: tuple[str, ...] = (),
                 select_features: bool = True) -> TableData:
    """A file path, or ``dataset:split`` (e.g. ``nsl-kdd:test``, ``unsw-nb15:train``).

    Files are read by :func:`~nadkit.data.loaders.load_table` (flow exports recognised).

    For registered datasets, ``train``/``test`` name the protocol split (:func:`nadkit.data.splits.standard_split`).
    """
    path = Path(spec)
    if path.exists() or not (":" in spec and dataset_of(spec) is not None):
        if not path.exists():
            raise DataError(f"data not found: {spec} (give a CSV/Parquet path or dataset:split)")
        return load_table(path, label_col=label_col, attack_col=attack_col, time_col=time_col,
                          drop_cols=drop_cols, require_label=require_label, use_cols=use_cols,
                          select_features=select_features)
    name, split = spec.split(":", 1)
    info = get_dataset(name)
    if info.kind == "series":  # a series dataset for a table model: its steps as independent rows
        return resolve_series(spec).to_table()
    if split in info.splits:
        return load_dataset(info.name, split)
    if split in ("train", "test"):
        s = standard_split(info.name, validation=0.0)
        return s.train if split == "train" else s.test
    raise DataError(f"dataset {info.name!r} has no split {split!r}; use one of {[*info.splits, 'train', 'test']}")


def resolve_series(spec: str, time_col: str | None = "auto", label_col: str | None = None,
                   labels: str | None = None, drop_cols: tuple[str, ...] = (), max_gap: int = 0,
                   channels: list[str] | None = None) -> SeriesData:
    """A series: a CSV/Parquet path (put on its fixed step; ``max_gap`` = fill limit) with an
    optional row-aligned ``labels`` file, or a registered series dataset ``name:split`` (e.g.
    ``smd:machine-1-2``, ``smd:machine-1-2:test``, ``skab:valve1/3``). ``channels`` (a model's)
    restricts a file to those columns."""
    path = Path(spec)
    info = dataset_of(spec)
    if path.exists() or not (":" in spec and info is not None):
        if not path.exists():
            raise DataError(f"data not found: {spec} (give a CSV/Parquet path or dataset:split)")
        return read_series(path, time_col=time_col, label_col=label_col, labels=labels,
                           drop_cols=drop_cols, max_gap=max_gap, channels=channels)
    if info.kind != "series":
        raise DataError(f"{info.name} is a table dataset; series models need a time series "
                        f"(e.g. smd:machine-1-2 or a CSV with a timestamp column)")
    split = spec.split(":", 1)[1]
    data = load_dataset(info.name, split)
    if labels is not None:
        raise DataError(f"{spec} already has its labels; --labels is for CSV/Parquet files")
    assert isinstance(data, SeriesData)
    return data


def label_file_column(frame) -> str:
    """The label column of a labels file: ``label`` if there is one, else the last column of
    several (an id or time first), else the only one."""
    if "label" in frame.columns:
        return "label"
    return frame.columns[-1] if frame.shape[1] > 1 else frame.columns[0]


def _is_file(labels: str | None) -> bool:
    return labels is not None and Path(labels).is_file()


def read_table_input(spec: str, labels: str | None = None, require_labels: bool = False,
                     drop_cols: tuple[str, ...] = (), use_cols: tuple[str, ...] = ()) -> TableData:
    """A table as a fitted model reads it (every column: the model picks its own); ``labels``
    names a label column of the data or a row-aligned labels file."""
    from nadkit.data.loaders import parse_labels
    from nadkit.io import read_table

    label_col = labels if labels is not None and not _is_file(labels) else None
    data = resolve_data(spec, label_col=label_col, drop_cols=drop_cols, use_cols=use_cols,
                        select_features=False)
    if _is_file(labels):
        lab = read_table(labels)
        col = label_file_column(lab)
        if len(lab) != len(data):
            raise DataError(f"labels file {labels} has {len(lab)} rows, data has {len(data)}")
        data.y, data.attack = parse_labels(lab[col], name=f"{labels}: column {col!r}")
    if require_labels and data.y is None:
        raise DataError("labels are required: pass --labels COLUMN or --labels FILE")
    return data


def read_series_input(spec: str, labels: str | None = None, require_labels: bool = False,
                      time_col: str | None = "auto", fill_gaps: int = 0, drop_cols: tuple[str, ...] = (),
                      channels: list[str] | None = None) -> SeriesData:
    """A series from a file or ``dataset:split``; ``labels`` = a label column or a labels file;
    ``channels`` (a fitted model's) restricts a file to those columns (others are ignored)."""
    label_col = labels if labels is not None and not _is_file(labels) else None
    data = resolve_series(spec, time_col=time_col or None, label_col=label_col,
                          labels=labels if _is_file(labels) else None, drop_cols=drop_cols,
                          max_gap=fill_gaps, channels=channels)
    if require_labels and data.y is None:
        raise DataError("labels are required: pass --labels COLUMN or --labels FILE (one 0/1 column, "
                        "or one per channel)")
    return data
