"""Benchmark runner: several detectors on one protocol split, honest metrics, plots, leaderboard.

Each detector is fitted on all training normals of the protocol; its threshold is calibrated on
the normal rows it did not fit on (the torch models' validation split, the rows outside
OCSVM's fitting sample), on out-of-fold scores of cross-fitted copies, or where those are
practically out-of-sample on its training scores (see :mod:`nadkit.models.base`) — never on
test labels. The report says which; the default method is ``fpr`` at 1 %. Writes, under ``out_dir``:
``<model>/metrics.json`` + PNG plots, ``leaderboard.json``, ``leaderboard.md``,
``roc_pr.png`` and ``leaderboard.png``; ``<model>/fpr_tpr.png`` shows the low-FPR end.

:func:`run` is the one entry point for both kinds of dataset: table datasets go to
:func:`run_bench`, series datasets (SMD, SKAB, NAB, a series file) to
:mod:`nadkit.experiments.series_bench`; both print with :func:`leaderboard_table`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nadkit import artifact, evaluation, plots
from nadkit.data.preprocess import Preprocessor
from nadkit.errors import DataError
from nadkit.experiments import tracking
from nadkit.experiments.leaderboard import (
    HEADERS,
    leaderboard_markdown,
    leaderboard_table,
)
from nadkit.experiments.protocols import Split, standard_split
from nadkit.io import atomic_path, write_json
from nadkit.models import make_detector
from nadkit.pipeline import Pipeline, hash_frame
from nadkit.thresholds import make_threshold

COLUMNS = ("model", "auroc", "auprc", "f1", "f2", "precision", "recall", "tpr_at_fpr_0.001",
           "tpr_at_fpr_0.01", "pauroc_0.01", "fpr", "fit_s", "score_rows_per_s")
#: what the terminal leaderboard shows (fits 80 columns; leaderboard.md/json have all of COLUMNS)
PRINT_COLUMNS = ("model", "auroc", "auprc", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "pauroc_0.01", "f1",
                 "fit_s", "score_rows_per_s")


def scoring_throughput(det, X: np.ndarray, min_rows: int = 1_000_000, repeats: int = 3) -> float:
    """Rows per second of ``det.score`` on a NumPy array (tiled to ``min_rows``; best of N)."""
    big = np.tile(X, (int(np.ceil(min_rows / len(X))), 1)) if len(X) < min_rows else X
    det.score(big[:1000])  # warm-up
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        det.score(big)
        best = min(best, time.perf_counter() - t)
    return len(big) / best


def evaluate_pipeline(pipe: Pipeline, split: Split, out_dir: Path, name: str,
                      fit_seconds: float | None = None, throughput_rows: int = 1_000_000,
                      X_test: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`nadkit.evaluation.evaluate` on the test split, with the bench's context (protocol,
    parameters, fit time, scoring throughput); writes ``<name>/metrics.json`` and the plots.
    The returned metrics carry the test scores as ``_scores``."""
    if X_test is None:
        X_test = pipe.transform(split.test)
    rep = evaluation.evaluate(pipe, split.test, X=X_test, name=name)
    report = rep.to_dict()
    report["threshold_set_on"] = getattr(pipe.detector, "calibration_source_", "training normals")
    report["protocol"] = split.description
    report["model"] = name
    report["params"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in pipe.detector.get_params().items()}
    if fit_seconds is not None:
        report["fit_s"] = fit_seconds
    report["score_rows_per_s"] = (scoring_throughput(pipe.detector, X_test, throughput_rows)
                                  if throughput_rows else None)
    rep.metrics = report
    evaluation.save(rep, out_dir / name, training=True, atomic=False, marker=None)
    report["_scores"] = rep.scores
    return report


def run_bench(dataset: str, models: Sequence[str], out_dir: str | Path,
              params: dict[str, dict[str, Any]] | None = None, seed: int = 0,
              calibration: str = "fpr", calibration_params: dict[str, Any] | None = None,
              save_models: bool = False, throughput_rows: int = 1_000_000,
              on_progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Fit, calibrate and evaluate each model in ``models`` on ``dataset``'s protocol split."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = standard_split(dataset, seed=seed, validation=0.0)
    say = on_progress or (lambda _msg: None)
    say(f"{split.train.name}: {len(split.train)} training normals, {len(split.test)} test rows")
    params = params or {}
    pre = Preprocessor(categorical=split.train.meta.get("categorical")).fit(split.train.X)
    X_train = pre.transform(split.train.X)
    X_test = pre.transform(split.test.X)
    rows, curves = [], {}
    for name in models:
        kw = dict(params.get(name, {}))
        if "random_state" in make_detector(name).get_params():
            kw.setdefault("random_state", seed)
        det = make_detector(name, **kw)
        with tracking.nested_run(name, {"model": name}):
            say(f"fitting {name} …")
            t = time.perf_counter()
            det.fit(X_train)
            fit_s = time.perf_counter() - t
            pipe = Pipeline(det, pre)
            pipe.info = {"training_rows": len(split.train), "training_hash": hash_frame(split.train.X),
                         "training_data": split.train.name}
            pipe.threshold = make_threshold(calibration, **(calibration_params or {})).fit(
                pipe.calibration_scores)
            report = evaluate_pipeline(pipe, split, out, name, fit_s, throughput_rows, X_test)
            curves[name] = (split.test.y, report.pop("_scores"))
            if save_models or tracking.is_active():
                artifact.save(pipe, out / name / "model")
            tracking.log_pipeline(pipe, out / name / "model")
            tracking.log_evaluation(report, out / name)
            rows.append({k: report.get(k) for k in COLUMNS})
            say(f"{name}: AUROC {report['auroc']:.4f}  AUPRC {report['auprc']:.4f}  F1 {report['f1']:.4f}  "
                f"fit {fit_s:.1f}s")
    write_json(out / "leaderboard.json", {"dataset": dataset, "protocol": split.description,
                                          "calibration": calibration, "seed": seed, "rows": rows})
    with atomic_path(out / "leaderboard.md") as tmp:
        tmp.write_text(leaderboard_markdown(rows, COLUMNS, title=f"{dataset} — {split.description}"))
    plots.save(plots.roc_pr(curves, title=f"{dataset}: test split"), out / "roc_pr.png")
    plots.save(plots.leaderboard(rows, "auroc", title=f"{dataset}: AUROC"), out / "leaderboard.png")
    return rows


def split_model_params(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"dcvae.step_budget": 20}`` → ``{"dcvae": {"step_budget": 20}}`` (bench ``-p``)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in flat.items():
        model, dot, name = key.partition(".")
        if not dot or not model or not name:
            raise DataError(f"bench --param expects model.key=value (e.g. dcvae.step_budget=200), got {key!r}")
        out.setdefault(model.lower(), {})[name] = value
    return out


def dataset_kind(dataset: str) -> str:
    """``"table"`` or ``"series"``: a registered dataset's kind; a file is a series."""
    from nadkit.data.loaders import DATASETS, dataset_of

    info = dataset_of(dataset)
    if info is not None:
        return info.kind
    if Path(dataset).is_file():
        return "series"
    raise DataError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)} or give a "
                    "CSV/Parquet series file (with --labels)")


@dataclass
class BenchResult:
    """What a bench run prints: leaderboard rows with their columns and title, per-group rows."""

    rows: list[dict[str, Any]]
    columns: tuple[str, ...]
    title: str
    groups: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    out_dir: Path | None = None

    def tables(self) -> list[Any]:
        """The leaderboard, and for a series bench with several groups their VUS-PR (or AUPRC)."""
        tables = [leaderboard_table(self.rows, self.columns, self.title)]
        if 1 < len(self.groups) <= 8:
            metric = "vus_pr" if any(r.get("vus_pr") is not None for r in self.rows) else "auprc"
            names = [r["model"] for r in self.rows]
            rows = [{"model": m, **{g: v.get(m, {}).get(metric) for g, v in self.groups.items()}}
                    for m in names]
            tables.append(leaderboard_table(rows, ("model", *self.groups),
                                            f"{HEADERS[metric]} per group",
                                            headers={g: g.removeprefix("machine-") for g in self.groups}))
        return tables


def run(dataset: str, models: Sequence[str] | None, out_dir: str | Path,
        params: dict[str, dict[str, Any]] | None = None, seed: int = 0, seeds: Sequence[int] | None = None,
        series: Sequence[str] | None = None, labels: str | None = None, train_share: float | None = None,
        calibration: str = "quantile", calibration_params: dict[str, Any] | None = None,
        save_models: bool = False, on_progress: Callable[[str], None] | None = None) -> BenchResult:
    """One bench for either kind of dataset: the table protocol split (:func:`run_bench`) or
    every series of a series dataset (:func:`~nadkit.experiments.series_bench.run_series_bench`)."""
    if dataset_kind(dataset) == "series":
        from nadkit.experiments.series_bench import COLUMNS as SERIES_COLUMNS
        from nadkit.experiments.series_bench import run_series_bench

        s = run_series_bench(dataset, models, out_dir, params=params, seeds=seeds or [seed],
                             series=series, labels=labels, train_share=train_share, on_progress=on_progress)
        seeds_txt = f"; nadkit rows: mean ± sd over seeds {s['seeds']}" if len(s["seeds"]) > 1 else ""
        return BenchResult(s["mean"], SERIES_COLUMNS,
                           f"{dataset}: mean over {len(s['series']) - len(s['skipped'])} series{seeds_txt}",
                           s["groups"], Path(out_dir))
    given = [o for o, v in (("--series", series), ("--labels", labels), ("--train-share", train_share),
                            ("--seeds", seeds)) if v]
    if given:
        raise DataError(f"{', '.join(given)} apply to series benches (smd, skab, nab or a series file), "
                        f"not to {dataset}")
    from nadkit.models import DEFAULT_TABLE_MODEL

    default = [DEFAULT_TABLE_MODEL, *(m for m in ("pca", "iforest", "ocsvm", "ae", "vae") if m != DEFAULT_TABLE_MODEL)]
    rows = run_bench(dataset, models or default, out_dir, params=params,
                     seed=seed, calibration=calibration, calibration_params=calibration_params,
                     save_models=save_models, on_progress=on_progress)
    return BenchResult(rows, PRINT_COLUMNS, f"{dataset}: test split (thresholds from training normals)",
                       out_dir=Path(out_dir))


def load_leaderboard(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
