"""Experiment tracking with MLflow (optional extra: ``pip install 'nadkit[track]'``).

The MLflow binding of the hooks in :mod:`nadkit.track`: library code (bench runners, composite
detectors) calls those unconditionally; they are no-ops until :func:`run` opens a run and binds
:class:`MlflowTracker`, so MLflow is imported only when tracking is on.

* :func:`run` starts the top-level run (the CLI's ``--track``): parameters, and — through
  :func:`nadkit.models.train.extra_loggers` — the per-epoch losses of every torch model trained
  inside it, as MLflow metric histories with step = epoch.
* :func:`nested_run` opens a child run of the active one (one per model of a benchmark, one per
  cluster sub-model of a composite detector); epoch losses inside it go to the child.
* ``log_*`` add parameters, metrics, figures, files and a saved model directory to the
  innermost active run (re-exported from :mod:`nadkit.track`).

The store is ``MLFLOW_TRACKING_URI`` (a server such as ``http://127.0.0.1:5000``, or a
database), by default the SQLite file ``mlflow.db`` in the working directory — MLflow 3's own
default; its artifacts go to ``./mlruns``. See them with ``mlflow ui``.

>>> from nadkit.experiments import tracking
>>> with tracking.nested_run("cluster_0", {"k": 3}) as run_id:   # tracking is off: no-op
...     print(run_id)
None
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from nadkit import track
from nadkit.errors import DataError
from nadkit.models.train import extra_loggers
from nadkit.track import (
    is_active,
    log_artifacts,
    log_figure,
    log_history,
    log_metrics,
    log_params,
    nested_run,
)

DEFAULT_EXPERIMENT = "nadkit"
#: nested report entries not logged as metrics (per-class tables, hyper-parameters)
SKIP_METRIC_KEYS = frozenset({"per_class", "params", "reported_by_cloudera"})

__all__ = ["DEFAULT_EXPERIMENT", "EpochLogger", "MlflowTracker", "is_active", "log_artifacts",
           "log_evaluation", "log_figure", "log_history", "log_metrics", "log_model_dir",
           "log_params", "log_pipeline", "log_pyfunc", "metrics_of", "nested_run", "run", "tracking_uri"]


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<cwd>/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def _mlflow():
    try:
        import mlflow
    except ImportError as exc:
        raise DataError("tracking needs MLflow: pip install 'nadkit[track]'") from exc
    return mlflow


@contextlib.contextmanager
def run(name: str, params: Mapping[str, Any] | None = None, experiment: str | None = None,
        tags: Mapping[str, Any] | None = None, enabled: bool = True) -> Iterator[str | None]:
    """Start the top-level MLflow run ``name`` in ``experiment``; yields its run id.

    With ``enabled=False`` it does nothing and yields None, so callers need no branches.
    A run that raises is marked FAILED.
    """
    if not enabled:
        yield None
        return
    mlflow = _mlflow()
    # MLflow's SQLite store uses a loader SQLAlchemy 2.1 deprecates: MLflow's concern, not the user's
    warnings.filterwarnings("ignore", message=r".*``noload`` loader strategy is deprecated.*")
    # fail fast when a server is unreachable (MLflow's defaults retry for minutes)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment(experiment or DEFAULT_EXPERIMENT)
        active = mlflow.start_run(run_name=name, tags=dict(tags or {}))
    except Exception as exc:  # MlflowException, connection errors…
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot start an MLflow run at {uri}: {first}") from exc
    with active, track.bind(MlflowTracker()), extra_loggers(EpochLogger()):
        log_params(params or {})
        yield active.info.run_id


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def metrics_of(report: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a (nested) report, flattened with dots (``confusion.tp``)."""
    kept = {k: v for k, v in report.items() if k not in SKIP_METRIC_KEYS}
    return {k: float(v) for k, v in _flat(kept).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


class MlflowTracker:
    """The :class:`nadkit.track.Tracker` bound by :func:`run`: each call goes to MLflow's
    innermost active run.

    >>> with nested_run("cluster_0", {"n_rows": 1200}):   # doctest: +SKIP
    ...     submodel.fit(X_cluster)        # its epoch losses are logged to the child run
    ...     log_metrics({"threshold": submodel.threshold_.value_})
    """

    @contextlib.contextmanager
    def nested_run(self, name: str, params: Mapping[str, Any] | None = None,
                   tags: Mapping[str, Any] | None = None) -> Iterator[str | None]:
        with _mlflow().start_run(run_name=name, nested=True, tags=dict(tags or {})) as child:
            self.log_params(params or {})
            yield child.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Values are stringified (lists, tuples, None) and cut at MLflow's 6,000 characters."""
        if params:
            _mlflow().log_params({k: str(v)[:6000] for k, v in _flat(params).items()})

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        values = metrics_of(metrics)
        if values:
            _mlflow().log_metrics(values, step=step)

    def log_figure(self, fig: Any, artifact_file: str) -> None:
        _mlflow().log_figure(fig, artifact_file)

    def log_artifacts(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        p = Path(path)
        if p.is_dir():
            _mlflow().log_artifacts(str(p), artifact_path)
        elif p.is_file():
            _mlflow().log_artifact(str(p), artifact_path)


def log_model_dir(model_dir: str | os.PathLike[str], artifact_path: str = "model") -> None:
    """A saved nadkit model directory; ``nadkit.artifact.load`` reads it back once downloaded."""
    log_artifacts(model_dir, artifact_path)


def log_pipeline(pipe: Any, model_dir: str | os.PathLike[str] | None = None) -> None:
    """A fitted pipeline: hyper-parameters, training facts, threshold, curves and the model.

    ``model_dir`` is the saved model; without it the pipeline is saved to a temporary
    directory for logging.
    """
    if not is_active():
        return
    from nadkit import artifact, plots

    det = pipe.detector
    log_params({"detector": type(det).__name__, **det.get_params()})
    history = getattr(det, "history_", None) or []
    facts: dict[str, Any] = {"threshold": getattr(det.threshold_, "value_", None),
                             "training_rows": pipe.info.get("training_rows")}
    if history:
        facts["epochs_run"] = len(history)
        facts["best_epoch"] = getattr(det, "best_epoch_", -1)
        vals = [r["val_loss"] for r in history if "val_loss" in r]
        if vals:
            facts["best_val_loss"] = min(vals)
        log_figure(plots.training_curves(history, title=f"{type(det).__name__}: training"),
                   "plots/training.png")
    log_metrics(facts)
    calib = getattr(det, "calibration_scores_", None)
    if calib is not None:
        log_figure(plots.score_histogram(calib, threshold=det.threshold_.value_,
                                         title=f"scores of {det.calibration_source_}"),
                   "plots/calibration_scores.png")
    if model_dir is not None:
        log_model_dir(model_dir)
        log_pyfunc(pipe, model_dir)
        return
    with tempfile.TemporaryDirectory(prefix="nadkit-model-") as tmp:
        saved = artifact.save(pipe, Path(tmp) / "model")
        log_model_dir(saved)
        log_pyfunc(pipe, saved)


def log_pyfunc(pipe: Any, model_dir: str | os.PathLike[str]) -> str | None:
    """The saved model as an MLflow pyfunc model of the innermost run ("Logged models"; loaded
    through ``nadkit.artifact``, see :mod:`nadkit.experiments.mlflow_model`); its model URI."""
    if not is_active():
        return None
    from nadkit.experiments.mlflow_model import log_model

    return log_model(pipe, model_dir).model_uri


def log_evaluation(report: Mapping[str, Any], report_dir: str | os.PathLike[str] | None = None) -> None:
    """An evaluation report's metrics, and its directory's files (metrics.json, PNG plots)."""
    if not is_active():
        return
    log_metrics(report)
    if report_dir is not None:
        for f in sorted(Path(report_dir).iterdir()):
            if f.is_file() and f.suffix in (".json", ".png", ".md"):
                log_artifacts(f, "report")


class EpochLogger(Logger):
    """Lightning logger that writes epoch-level metrics to the innermost active MLflow run,
    with step = epoch (the shared trainer logs its losses once per epoch)."""

    @property
    def name(self) -> str:
        return "nadkit-mlflow"

    @property
    def version(self) -> str:
        return "0"

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyper-parameters are logged by :func:`log_pipeline` (the detector's, not the net's)."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if not is_active():
            return
        mlflow = _mlflow()
        active = mlflow.active_run()
        if active is None:
            return
        from mlflow.entities import Metric

        values = dict(metrics)
        epoch = values.pop("epoch", None)
        at = int(epoch) if epoch is not None else int(step or 0)
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, at) for k, v in values.items() if math.isfinite(float(v))]
        if batch:
            mlflow.MlflowClient().log_batch(active.info.run_id, metrics=batch)
