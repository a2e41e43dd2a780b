"""Pipelines: preprocessor + detector + threshold, fitted and used on raw data.

:class:`Pipeline` is the contract every verb (CLI, service, bench, Spark) talks to; its two
kinds are siblings: :class:`TablePipeline` (feature tables, one score per row) and
:class:`SeriesPipeline` (time series, scores per step and channel). ``Pipeline(detector)``
builds the one that fits the detector (as :func:`make_pipeline` does), so
``Pipeline(IForest())`` is a table pipeline:

>>> import numpy as np, pandas as pd
>>> from nadkit.models import IForest
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"bytes": rng.lognormal(5, 1, 1000), "proto": rng.choice(["tcp", "udp"], 1000)})
>>> pipe = Pipeline(IForest(random_state=0)).fit(df)
>>> pipe.kind, pipe.score(df.head(3)).shape
('table', (3,))

The pipeline owns the threshold: :attr:`Pipeline.threshold` (set by the detector's ``fit`` on
its held-out calibration scores, :attr:`Pipeline.calibration_scores`, and refitted by
:meth:`Pipeline.calibrate`); callers never reach into ``detector.threshold_``. The CLI's hooks
(:meth:`~Pipeline.read_input`, :meth:`~Pipeline.prepare_fit`, :meth:`~Pipeline.detect_input`
and the ``describe``/``notes`` texts) take every kind-specific option, use their kind's and
refuse the other kind's with a one-line error.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from nadkit.data.container import TableData
from nadkit.data.preprocess import Preprocessor
from nadkit.errors import DataError
from nadkit.models.base import BaseDetector
from nadkit.thresholds import Threshold

#: the CLI's kind-specific options with their defaults: a table pipeline reads the first, a
#: series pipeline the second; one given (not at its default) to the other kind is an error
TABLE_OPTIONS: dict[str, Any] = {"use_cols": None, "categorical": None, "stream": False}
SERIES_OPTIONS: dict[str, Any] = {"time_col": "auto", "fill_gaps": 0, "entity_col": None,
                                  "mask_outliers": False, "layout": "long"}
#: threshold methods fitted on labels (calibrate refuses them without --labels)
LABELLED_METHODS = ("best-f1", "best-accuracy")


def hash_frame(df: pd.DataFrame) -> str:
    """Short SHA-256 of a DataFrame's values and column names (identifies training data)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, df.columns)).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _split(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


@dataclass
class FitInput:
    """What :meth:`Pipeline.prepare_fit` read: the training ``data`` (a file path when streamed),
    a ``description`` for the progress line, ``params`` for the tracking run and a ``notice``
    (how a flow export was read)."""

    data: Any
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    notice: str | None = None
    stream: dict[str, Any] | None = None


@dataclass
class DetectOutput:
    """What :meth:`Pipeline.detect_input` wrote: the summary ``message``, the ``alerts`` source
    (a frame or the written file), keywords for :func:`nadkit.incidents.detect_output` and a
    ``notice``."""

    message: str
    alerts: Any
    incidents: dict[str, Any]
    notice: str | None = None


def default_model(spec: str, series: bool = False) -> tuple[str, str]:
    """The detector ``train`` uses without ``--model`` (or with ``--model auto``) and why:
    DC-VAE for a series dataset (``smd:…``, ``skab``, ``nab``) or when ``series`` (a series
    option such as ``--time-col`` was given for a file), else the default flow model.

    >>> default_model("smd:machine-1-1")[0], default_model("flows.csv")[0]
    ('dcvae', 'ensemble')
    """
    from nadkit.data.loaders import dataset_of
    from nadkit.models import DEFAULT_SERIES_MODEL, DEFAULT_TABLE_MODEL

    info = dataset_of(spec)
    if series or (info is not None and info.kind == "series"):
        return DEFAULT_SERIES_MODEL, "the default series model"
    return DEFAULT_TABLE_MODEL, "the default flow (table) model; a time table: --model dcvae or --time-col"


class Pipeline(ABC):
    """A detector with its preprocessing and threshold: the contract of every kind.

    ``fit`` → ``calibrate`` → ``score`` / ``predict`` / ``detect`` (a frame). ``Pipeline(det)``
    returns the kind that fits ``det`` (like :class:`pathlib.Path`).
    """

    #: "table" or "series" (= the detector's ``input_kind``)
    kind: ClassVar[str]
    #: the kind-specific CLI options this kind reads (name → default), see :data:`TABLE_OPTIONS`
    options: ClassVar[dict[str, Any]] = {}
    #: rows are scored one by one (any batch of rows); else a batch must be one entity's series in time order
    independent_rows: ClassVar[bool] = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Pipeline:
        if cls is Pipeline:  # the kind that fits the detector
            detector = args[0] if args else kwargs["detector"]
            cls = SeriesPipeline if detector.input_kind == "series" else TablePipeline
        return super().__new__(cls)

    def __init__(self, detector: BaseDetector, preprocessor: Any = None) -> None:
        self.detector = detector
        self.preprocessor = preprocessor if preprocessor is not None else self.default_preprocessor(detector)
        self.info: dict[str, Any] = {}
        self.manifest: dict[str, Any] = {}

    # ------------------------------------------------------------------------ per kind
    @staticmethod
    @abstractmethod
    def default_preprocessor(detector: BaseDetector) -> Any:
        """The preprocessor used when none is given."""

    @abstractmethod
    def as_data(self, data: Any) -> Any:
        """``data`` as this kind's container (:class:`TableData` / ``SeriesData``)."""

    @abstractmethod
    def fit(self, data: Any, normal_only: bool = True) -> Pipeline:
        """Fit preprocessing and detector (which also sets the default threshold)."""

    @abstractmethod
    def transform(self, data: Any) -> np.ndarray:
        """The detector's input: ``data`` preprocessed."""

    @abstractmethod
    def contributions(self, data: Any) -> pd.DataFrame:
        """Each input column's (channel's) share of the score."""

    @abstractmethod
    def detect(self, data: Any, **options: Any) -> pd.DataFrame:
        """Scores and 0/1 flags of ``data`` as one frame (columns depend on the kind)."""

    @abstractmethod
    def score_rows(self, rows: pd.DataFrame, keep_cols: Sequence[str] = (), contributions: bool = False
                   ) -> pd.DataFrame:
        """One output row per input row: ``keep_cols``, ``score``, ``anomaly`` (0/1) and, with
        ``contributions``, ``contrib_<col>`` (the batch scoring of :mod:`nadkit.scoring` and Spark)."""

    @abstractmethod
    def read_input(self, spec: str, labels: str | None = None, require_labels: bool = False,
                   drop_cols: str | Sequence[str] | None = None, **options: Any) -> Any:
        """Read the CLI's DATA (a file or ``dataset:split``) for this kind; ``labels`` is a
        label column or a labels file; kind-specific ``options`` as in :meth:`check_options`."""

    @abstractmethod
    def describe_input(self, data: Any) -> str:
        """What ``data`` is, for a progress or summary line (e.g. ``"9,711 normal rows of …"``)."""

    @abstractmethod
    def prepare_fit(self, spec: str, label_col: str | None = None, drop_cols: str | Sequence[str] | None = None,
                    preprocess: dict[str, Any] | None = None, **options: Any) -> FitInput:
        """Read ``train``'s DATA and configure the preprocessor from the options."""

    @abstractmethod
    def detect_input(self, spec: str, output: str | os.PathLike[str], key_cols: str = "auto",
                     contributions: bool = False,
                     on_progress: Callable[[int, int | None], None] | None = None,
                     **options: Any) -> DetectOutput:
        """``detect`` on the CLI's DATA, written to ``output`` (CSV/Parquet)."""

    # ------------------------------------------------------------------------ shared
    @property
    def threshold(self) -> Threshold:
        """The fitted threshold (stored with the detector's state, saved as threshold.json)."""
        return self.detector.threshold_

    @threshold.setter
    def threshold(self, value: Threshold) -> None:
        self.detector.threshold_ = value

    @property
    def calibration_scores(self) -> np.ndarray:
        """The detector's held-out training scores its default threshold was fitted on."""
        return self.detector.calibration_scores_

    def score(self, data: Any) -> np.ndarray:
        """Anomaly scores of ``data`` (per row; per step for series, NaN for unscored steps)."""
        return self.detector.score(self.transform(data))

    def predict(self, data: Any) -> np.ndarray:
        """0/1 flags of ``data`` at the threshold."""
        return self.detector.predict(self.transform(data))

    def calibrate(self, data: Any, y=None, method: str | Threshold = "quantile", **params: Any) -> Pipeline:
        """Fit the threshold on scores of ``data`` (normal rows, or labelled validation data)."""
        data = self.as_data(data)
        y = data.y if y is None else y
        self.detector.calibrate(self.transform(data), y, method, **self._calibration_params(data, y, method, params))
        self.threshold.data_hash_ = hash_frame(data.X)
        return self

    def _calibration_params(self, data: Any, y: Any, method: Any, params: dict[str, Any]) -> dict[str, Any]:
        if method == "rolling":   # its window runs over consecutive steps; table rows are scored in batches
            raise DataError("--method rolling is for series models (its window follows a stream of steps); "
                            "use --method fpr for a table model")
        return params

    def threshold_params(self, method: str, **given: Any) -> dict[str, Any]:
        """The threshold's parameters from the CLI's (``None`` = not given)."""
        return {k: v for k, v in given.items() if v is not None and k != "metric"}

    def check_options(self, **options: Any) -> None:
        """Refuse a kind-specific option of the other kind that was given (not its default)."""
        known = {**TABLE_OPTIONS, **SERIES_OPTIONS}
        for name, value in options.items():
            if name not in known:
                raise TypeError(f"unknown pipeline option {name!r}")
            if name not in self.options and value is not None and value != known[name]:
                other = "series" if self.kind == "table" else "table"
                raise DataError(f"--{name.replace('_', '-')} is for {other} models ({_examples(other)}), "
                                f"not {_name(self.detector)}")

    def fit_input(self, inp: FitInput) -> Pipeline:
        """Fit on what :meth:`prepare_fit` read."""
        return self.fit(inp.data)

    def fit_summary(self) -> str:
        """What ``train`` prints after saving."""
        return f"default threshold: {self.threshold.describe()}"

    def notes(self) -> list[str]:
        """Kind-specific lines for ``nadkit info``."""
        return []


def _name(detector: BaseDetector) -> str:
    from nadkit.models import detector_name

    return detector_name(detector)


def _examples(kind: str) -> str:
    from nadkit.models import REGISTRY

    names = [n for n, c in REGISTRY.items() if c.input_kind == kind]
    return ", ".join(names[:3]) + (", …" if len(names) > 3 else "")


class TablePipeline(Pipeline):
    """A detector with its preprocessing and threshold, for raw feature tables (one score per row)."""

    kind = "table"
    options = TABLE_OPTIONS

    @staticmethod
    def default_preprocessor(detector: BaseDetector) -> Preprocessor:
        return Preprocessor()

    def as_data(self, data: pd.DataFrame | TableData) -> TableData:
        return data if isinstance(data, TableData) else TableData(data)

    # ------------------------------------------------------------------------------- fitting
    def fit(self, data: pd.DataFrame | TableData, normal_only: bool = True) -> TablePipeline:
        """Fit preprocessing and detector; with labelled data only normal rows are used."""
        table = self.as_data(data)
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
                 workdir: str | os.PathLike[str] | None = None, batch_rows: int | None = None) -> TablePipeline:
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

    def contributions(self, df: pd.DataFrame | TableData) -> pd.DataFrame:
        """Each input column's share of the score (one-hot groups summed back to their column)."""
        per_feature = self.detector.score_features(self.transform(df))
        return self.preprocessor.group_contributions(per_feature)

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

    def score_rows(self, rows: pd.DataFrame, keep_cols: Sequence[str] = (), contributions: bool = False
                   ) -> pd.DataFrame:
        from nadkit.scoring import detect_frame

        return detect_frame(self, rows, keep_cols, contributions)

    # ------------------------------------------------------------------------------- the CLI's hooks
    def read_input(self, spec: str, labels: str | None = None, require_labels: bool = False,
                   drop_cols: str | Sequence[str] | None = None, **options: Any) -> TableData:
        """A table file or ``dataset:split`` with every column (the model picks its own)."""
        from nadkit.data.resolve import read_table_input

        self.check_options(**options)
        return read_table_input(spec, labels=labels, require_labels=require_labels,
                                drop_cols=_split(drop_cols), use_cols=_split(options.get("use_cols")))

    def describe_input(self, data: TableData) -> str:
        n_normal = int((data.y == 0).sum()) if data.y is not None else len(data)
        return f"{n_normal:,} normal rows of {data.name}"

    def prepare_fit(self, spec: str, label_col: str | None = None, drop_cols: str | Sequence[str] | None = None,
                    preprocess: dict[str, Any] | None = None, **options: Any) -> FitInput:
        """Read the training table (or check the file to stream, ``stream=True``) and build the
        preprocessor from ``preprocess`` (the config's section) and ``categorical``."""
        from nadkit.data.loaders import check_numeric_cells

        self.check_options(**options)
        drop = _split(drop_cols)
        pre_kw = dict(preprocess or {})
        if options.get("stream"):
            from nadkit.data.exports import FORMATS, detect_format
            from nadkit.io import iter_table_batches

            if not Path(spec).is_file():
                raise DataError(f"--stream reads a CSV/Parquet file; {spec} is not one")
            fmt = detect_format(spec)
            if fmt is not None:
                raise DataError(f"{spec} is a {FORMATS[fmt].title} export: train on it without --stream "
                                "(--stream reads plain tables, identifiers and all)")
            cats = _split(options.get("categorical"))
            if cats:
                pre_kw["categorical"] = list(cats)
            # numeric columns with a few bad cells are refused before they are taken as categorical
            first = next(iter_table_batches(spec))
            skip = {label_col, *drop}
            check_numeric_cells(first.drop(columns=[c for c in first.columns if c in skip]), spec,
                                pre_kw.get("categorical") or ())
            self.preprocessor = Preprocessor(**pre_kw)
            return FitInput(spec, f"the normal rows of {spec}, streamed", {"preprocess": pre_kw},
                            stream={"label_col": label_col, "drop_cols": drop})
        from nadkit.data.resolve import resolve_data

        table = resolve_data(spec, label_col=label_col, drop_cols=drop, use_cols=_split(options.get("use_cols")))
        cats = _split(options.get("categorical")) or table.meta.get("categorical")
        if cats:
            pre_kw["categorical"] = list(cats)
        check_numeric_cells(table.X, table.name, pre_kw.get("categorical") or ())
        self.preprocessor = Preprocessor(**pre_kw)
        return FitInput(table, self.describe_input(table), {"preprocess": pre_kw}, notice=table.meta.get("notice"))

    def fit_input(self, inp: FitInput) -> TablePipeline:
        if inp.stream is not None:
            return self.fit_file(inp.data, **inp.stream)
        return self.fit(inp.data)

    def detect_input(self, spec: str, output: str | os.PathLike[str], key_cols: str = "auto",
                     contributions: bool = False,
                     on_progress: Callable[[int, int | None], None] | None = None,
                     **options: Any) -> DetectOutput:
        """A file is streamed through the model batch by batch (:func:`nadkit.scoring.score_file`);
        a ``dataset:split`` is scored in memory. Key columns first (:func:`nadkit.scoring.key_columns`)."""
        from nadkit.io import write_table
        from nadkit.scoring import detect_frame, file_columns, key_columns, score_file

        self.check_options(**options)
        tick = on_progress or (lambda done, total: None)
        notice = None
        if Path(spec).exists():
            keep = key_columns(key_cols, file_columns(spec))
            summary = score_file(self, spec, output, keep, contributions, on_progress=tick)
            n, flagged, notice = summary["rows"], summary["flagged"], summary.get("notice")
        else:
            from nadkit.data.resolve import resolve_data

            table = resolve_data(spec)
            notice = table.meta.get("notice")
            df = table.X
            keep = key_columns(key_cols, list(df.columns))
            result = detect_frame(self, df, keep, contributions)
            tick(len(result), len(result))
            write_table(result, output)
            n, flagged = len(result), int(result["anomaly"].sum())
        kept = f" with key columns {', '.join(keep)}" if keep else ""
        return DetectOutput(f"{n:,} rows scored{kept}, {flagged:,} flagged ({flagged / n:.2%}) → {output}",
                            alerts=output, incidents={"scores": output}, notice=notice)


class SeriesPipeline(Pipeline):
    """A series detector with its :class:`~nadkit.data.series.SeriesPreprocessor` and threshold,
    used on raw :class:`~nadkit.data.series.SeriesData` (or a DataFrame of channels).

    Scores, μ, σ and bands come back per time step (and channel); the first ``window - 1``
    steps are unscored (NaN scores, flag 0, ``scored = False`` in :meth:`detect`). μ, σ and the
    bands are in the channels' own units.
    """

    kind = "series"
    options = SERIES_OPTIONS
    independent_rows = False

    @staticmethod
    def default_preprocessor(detector: BaseDetector) -> Any:
        from nadkit.data.series import SeriesPreprocessor

        # e.g. Net-GAN's tanh output wants channels in [−1, 1]
        return SeriesPreprocessor(scaling=detector.input_scaling)

    def as_data(self, data: Any) -> Any:
        from nadkit.data.series import SeriesData

        return data if isinstance(data, SeriesData) else SeriesData(data)

    def fit(self, data: Any, normal_only: bool = True) -> SeriesPipeline:
        """Fit preprocessing and detector on a training series. Windows need contiguous steps,
        so labelled anomalous steps are not removed (``normal_only`` is ignored); train on a
        period believed normal."""
        series = self.as_data(data)
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

    def contributions(self, data: Any) -> pd.DataFrame:
        """Per-channel scores ``|x − μ|/σ`` (NaN for unscored steps), one column per channel."""
        return pd.DataFrame(self.detector.score_features(self.transform(data)), columns=self.preprocessor.channels_)

    def _calibration_params(self, data: Any, y: Any, method: Any, params: dict[str, Any]) -> dict[str, Any]:
        """``channel_labels`` (per-channel 0/1 labels for ``method="alpha"``) from the series
        unless given; ``alpha`` needs labels or a target FPR."""
        params = dict(params)
        if params.get("channel_labels") is None:
            params["channel_labels"] = data.channel_labels
        if method == "alpha" and y is None and params["channel_labels"] is None and params.get("target_fpr") is None:
            raise DataError("--method alpha needs --labels (per channel or per step) or --fpr")
        return params

    def bands(self, data: Any, history: np.ndarray | None = None, start: int = 0) -> dict[str, np.ndarray]:
        """Everything per step and channel in the channels' units: ``value``, ``mu``, ``sigma``,
        ``lower``/``upper`` band limits, channel ``score`` and ``flag``; per step ``step_score``,
        ``step_threshold`` (NaN with per-channel bands) and ``step_flag``;
        ``alpha_up``/``alpha_down`` per channel. One pass of the model
        (:meth:`~nadkit.models.series_base.SeriesDetector.analyse`, which also says what
        ``history`` and ``start`` do)."""
        det, pre = self.detector, self.preprocessor
        X = self.transform(data)
        a = det.analyse(X, history=history, start=start)
        up, down = self.threshold.band_alphas(X.shape[1])
        return {"value": pre.inverse_transform(X), "mu": pre.inverse_transform(a["mu"]),
                "sigma": pre.inverse_transform(a["sigma"], scale_only=True),
                "lower": pre.inverse_transform(a["lower"]), "upper": pre.inverse_transform(a["upper"]),
                "score": a["score"], "flag": a["flag"], "step_score": a["step_score"],
                "step_threshold": a["step_threshold"], "step_flag": a["step_flag"],
                "alpha_up": up, "alpha_down": down}

    def detect(self, data: Any, layout: str = "long") -> pd.DataFrame:
        """Per time step and channel: value, flag, score, μ, σ and band limits.

        ``layout="long"`` (default): one row per (step, channel) with columns ``step``, ``time``
        (when known), ``channel``, ``value``, ``mu``, ``sigma``, ``lower``, ``upper``, ``score``,
        ``flag``, ``step_score``, ``step_threshold``, ``step_flag``, ``scored`` — the same columns
        for any number of channels, ready for SQL/Grafana/Spark or ``df.pivot``.
        ``step_threshold`` is what the step score was compared with (a rolling threshold's
        value at that step; NaN with per-channel bands). ``layout="wide"``: one row per step,
        ``step_score``, ``step_threshold``, ``step_flag``, ``scored`` and ``<channel>_<field>``
        columns.
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
            out.update({"step_score": b["step_score"], "step_threshold": b["step_threshold"],
                        "step_flag": b["step_flag"], "scored": scored})
            for k, ch in enumerate(channels):
                out.update({f"{ch}_{f}": b[f][:, k] for f in fields})
            return pd.DataFrame(out)
        out = {"step": np.repeat(np.arange(n), c)}
        if series.time is not None:
            out["time"] = np.repeat(series.time, c)
        out["channel"] = pd.Categorical(np.tile(channels, n), categories=channels)
        out.update({f: b[f].reshape(-1) for f in fields})
        out.update({k: np.repeat(b[k], c) for k in ("step_score", "step_threshold", "step_flag")})
        out["scored"] = np.repeat(scored, c)
        return pd.DataFrame(out)

    def score_rows(self, rows: pd.DataFrame, keep_cols: Sequence[str] = (), contributions: bool = False
                   ) -> pd.DataFrame:
        """``rows``: one entity's consecutive steps in time order (:func:`nadkit.entities.score_rows`)."""
        from nadkit.entities import score_rows

        return score_rows(self, rows, keep_cols, contributions)

    # ------------------------------------------------------------------------------- the CLI's hooks
    def threshold_params(self, method: str, **given: Any) -> dict[str, Any]:
        """``alpha``: F1 ``metric`` per channel on labels, or a target FPR of the step flag (``fpr``)."""
        if method != "alpha":
            return super().threshold_params(method, **given)
        return {"metric": given.get("metric") or "point", "target_fpr": given.get("fpr")}

    def read_input(self, spec: str, labels: str | None = None, require_labels: bool = False,
                   drop_cols: str | Sequence[str] | None = None, **options: Any) -> Any:
        """A series file (time column, fixed step; ``fill_gaps``) or ``dataset:split``; a fitted
        pipeline reads only its channels."""
        from nadkit.data.resolve import read_series_input

        self.check_options(**options)
        read = dict(require_labels=require_labels, time_col=options.get("time_col", "auto"),
                    fill_gaps=options.get("fill_gaps", 0), drop_cols=_split(drop_cols),
                    channels=getattr(self.preprocessor, "channels_", None))
        try:
            return read_series_input(spec, labels=labels, **read)
        except DataError:
            if labels != "label":  # only the CLI's default column may be absent: the dataset's own labels
                raise
            return read_series_input(spec, labels=None, **read)

    def _entities(self, spec: str, entity_col: str, time_col: str = "auto", fill_gaps: int = 0,
                  **read: Any) -> list:
        """Each entity's rows of a file as a series (:func:`nadkit.entities.read_entities`)."""
        from nadkit.entities import read_entities

        return read_entities(spec, entity_col, time_col=time_col, max_gap=fill_gaps,
                             channels=getattr(self.preprocessor, "channels_", None), **read)

    def describe_input(self, data: Any) -> str:
        filled = data.meta.get("filled_steps", 0) + data.meta.get("filled_values", 0)
        return (f"{len(data):,} steps × {len(data.channels)} channels of {data.name}"
                + (f" ({filled} missing points filled)" if filled else ""))

    def prepare_fit(self, spec: str, label_col: str | None = None, drop_cols: str | Sequence[str] | None = None,
                    preprocess: dict[str, Any] | None = None, **options: Any) -> FitInput:
        """Read the training series (``entity_col``: every entity's series joined end to end,
        :mod:`nadkit.entities`); ``mask_outliers`` masks training values beyond 7 std."""
        from nadkit.data.series import SeriesPreprocessor

        self.check_options(**options)
        if options.get("entity_col"):
            from nadkit.entities import joined

            series = joined(self._entities(spec, options["entity_col"], options.get("time_col", "auto"),
                                           options.get("fill_gaps", 0), label_col=label_col,
                                           drop_cols=_split(drop_cols)), self.detector.window)
        else:
            series = self.read_input(spec, labels=label_col, drop_cols=drop_cols,
                                     **{k: v for k, v in options.items() if k in ("time_col", "fill_gaps")})
        self.preprocessor = SeriesPreprocessor(mask_outliers=bool(options.get("mask_outliers")),
                                               scaling=self.detector.input_scaling)
        return FitInput(series, self.describe_input(series))

    def fit_summary(self) -> str:
        return (f"window {self.detector.window}, default threshold: {self.threshold.describe()} on the "
                f"{self.detector.calibration_source_}")

    def notes(self) -> list[str]:
        sr, schema = self.manifest.get("series") or self.detector.series_info(), self.manifest.get("schema", {})
        return [f"series: window {sr['window']}, context {sr['context']} steps, step {schema.get('step')}, "
                f"first {sr['n_unscored']} steps unscored, {sr['aggregate']} over channels"]

    def detect_input(self, spec: str, output: str | os.PathLike[str], key_cols: str = "auto",
                     contributions: bool = False,
                     on_progress: Callable[[int, int | None], None] | None = None,
                     **options: Any) -> DetectOutput:
        """:meth:`detect` of the series (``entity_col``: each entity's rows as a series of their
        own, stacked with the entity first), written to ``output``."""
        from nadkit.io import write_table

        self.check_options(**options)
        if key_cols.strip().lower() not in ("auto", "none", ""):
            raise DataError("--key-cols is for table models; series output keeps the time and each channel's value")
        layout, entity_col = options.get("layout", "long"), options.get("entity_col")
        if entity_col:
            from nadkit.entities import detect_entities

            ents = self._entities(spec, entity_col, options.get("time_col", "auto"), options.get("fill_gaps", 0))
            result = detect_entities(self, ents, entity_col, layout=layout)
        else:
            result = self.detect(self.read_input(spec, time_col=options.get("time_col", "auto"),
                                                 fill_gaps=options.get("fill_gaps", 0)), layout=layout)
        write_table(result, output)
        steps = result.drop_duplicates([*([entity_col] if entity_col else []), "step"]) if layout == "long" else result
        flagged, scored = int(steps["step_flag"].sum()), int(steps["scored"].sum())
        message = (f"{len(steps):,} steps × {len(self.preprocessor.channels_)} channels scored "
                   f"({len(steps) - scored} warm-up steps unscored), {flagged:,} steps flagged "
                   f"({flagged / max(scored, 1):.2%}) → {output}")
        return DetectOutput(message, alerts=result, incidents={"result": result, "layout": layout})


def make_pipeline(detector: BaseDetector, preprocessor: Any = None) -> Pipeline:
    """The pipeline kind that fits the detector (:class:`SeriesPipeline` for series detectors)."""
    return Pipeline(detector, preprocessor)
