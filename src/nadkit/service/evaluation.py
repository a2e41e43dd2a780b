"""Labelled evaluation data for the dashboard, scored once at start-up.

``nadkit serve MODEL... --eval-data DATA`` names a labelled table: ``dataset:split`` (e.g.
``nsl-kdd:test``) or a CSV/Parquet file with a label column (``--eval-labels``, default
``label``). At start-up (:func:`attach`) every table model whose input columns are all in that
table scores up to ``eval_rows`` of its rows (a seeded random sample when the table is larger). The evaluation
page shows those scores by class, ROC/PR curves, the low-FPR end (TPR at FPR 0.1 % and 1 %,
partial AUROC for FPR ≤ 1 %), the detection rate per attack class at the model's threshold and
at the cut giving FPR 1 % on these normals (an oracle operating point, labelled as such), and a
threshold slider; the flows page shows a
sample of ``flow_rows`` of the same rows. Everything shown is computed on this data only; the
threshold the model uses comes from its own ``threshold.json`` (fitted without test labels).
Each evaluation dataset goes only to the models of its kind: the labelled table to table models,
the series (``--series-data``) to series models; a dataset no model can use is logged and left.
With ``--entity-col`` the series data is one series per entity (a list of ``(entity, series)``),
each scored as its own series (:func:`nadkit.service.series.view_entities`); the option is
refused, as the pipeline's ``check_options`` refuses it, when no served model is a series model.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nadkit import evaluation
from nadkit.data.container import TableData
from nadkit.data.preprocess import UnknownCategoryWarning
from nadkit.errors import DataError

log = logging.getLogger("nadkit.service")


@dataclass
class Evaluation:
    """One model's scores on the labelled evaluation rows, and the flows sample."""

    data: str
    scores: np.ndarray
    y: np.ndarray
    attack: np.ndarray | None
    report: dict[str, Any]
    flows: pd.DataFrame  # raw features of the sample rows
    flow_index: np.ndarray  # positions of the sample rows in ``scores``

    def summary(self) -> dict[str, Any]:
        keys = ("n", "n_anomalies", "auroc", "auprc", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "pauroc_0.01",
                "threshold", "threshold_at_fpr_0.01", "threshold_fpr_interval", "precision", "recall",
                "f1", "f2", "accuracy", "fpr", "confusion")
        return {"data": self.data, **{k: self.report[k] for k in keys if k in self.report}}

    def payload(self) -> dict[str, Any]:
        """What the evaluation page needs: every score with its label (and class)."""
        return {"data": self.data, "scores": self.scores, "y": self.y,
                "attack": None if self.attack is None else self.attack.tolist(), "report": self.report}

    def flows_payload(self) -> dict[str, Any]:
        """The flows sample: raw features, score, label, true class per row."""
        i = self.flow_index
        return {"data": self.data, "columns": list(self.flows.columns),
                "records": self.flows.to_dict("records"),
                "scores": self.scores[i], "y": self.y[i],
                "attack": None if self.attack is None else self.attack[i].tolist(),
                "index": i}


def sample_rows(table: TableData, max_rows: int, seed: int = 0) -> TableData:
    """At most ``max_rows`` rows of ``table`` (seeded, original order kept)."""
    if len(table) <= max_rows:
        return table
    rng = np.random.default_rng(seed)
    return table.subset(np.sort(rng.choice(len(table), max_rows, replace=False)))


def evaluate(model, table: TableData, flow_rows: int = 300, seed: int = 0) -> Evaluation | None:
    """Score ``table`` with a served table model; None (with a log line) when it does not fit."""
    if table.y is None:
        raise DataError(f"evaluation data {table.name} has no labels (give --eval-labels COLUMN)")
    if model.kind != "table":
        return None
    missing = model.schema.missing(table.X.columns)
    if missing:
        log.warning("no evaluation for %s: %s lacks %d of its columns (%s …)", model.name, table.name,
                    len(missing), ", ".join(missing[:3]))
        return None
    X = table.X[model.schema.columns]
    with warnings.catch_warnings():  # start-up is single-threaded; unseen categories are expected
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        rep = evaluation.evaluate(model.pipeline, X, table.y, attack=table.attack, name=model.name,
                                  data_name=table.name)
    scores, report = rep.scores, rep.to_dict()
    rng = np.random.default_rng(seed + 1)
    idx = np.sort(rng.choice(len(table), min(flow_rows, len(table)), replace=False))
    return Evaluation(data=table.name, scores=scores, y=table.y.astype(np.int8), attack=table.attack,
                      report=report, flows=X.iloc[idx].reset_index(drop=True), flow_index=idx)


def attach(models: Mapping[str, Any], eval_data: TableData | None = None, series_data: Any = None,
           eval_rows: int = 20_000, flow_rows: int = 300, series_steps: int = 5_000,
           entity_col: str | None = None) -> None:
    """Score each evaluation dataset with the served models of its kind only, once, at start-up:
    ``eval_data`` (labelled table) → ``model.evaluation`` of table models, ``series_data`` →
    ``model.series_view`` of series models (with ``entity_col``, ``series_data`` is a list of
    ``(entity, series)`` → ``model.series_views``, one per entity). Other models are not touched."""
    from nadkit.service.series import view_entities, view_series

    if entity_col:
        if not any(m.kind == "series" for m in models.values()):
            next(iter(models.values())).pipeline.check_options(entity_col=entity_col)  # the pipeline's error
        if series_data is None or not isinstance(series_data, list):
            raise DataError("--entity-col names the entity column of --series-data (the series models' start-up "
                            "data): give --series-data FILE too")
        if not series_data:
            raise DataError(f"--series-data has no rows to split by {entity_col!r}")
        for m in models.values():
            if m.kind == "series" and entity_col in m.pipeline.preprocessor.channels_:
                raise DataError(f"--entity-col {entity_col} is one of model {m.name}'s channels; name the column "
                                "that says which entity (host, site) a row belongs to")
    for data, kind in ((eval_data, "table"), (series_data, "series")):
        if data is None:
            continue
        name = f"{len(data)} entities ({entity_col})" if kind == "series" and entity_col else data.name
        chosen = [m for m in models.values() if m.kind == kind]
        if not chosen:
            log.warning("%s is evaluation data for %s models and none is served: not scored", name, kind)
            continue
        if kind == "table":
            table = sample_rows(data, eval_rows)
            for model in chosen:
                log.info("scoring %d evaluation rows of %s with %s", len(table), table.name, model.name)
                model.evaluation = evaluate(model, table, flow_rows=flow_rows)
        else:
            for model in chosen:
                log.info("scoring %s for the series page with %s", name, model.name)
                if entity_col:
                    model.series_views = view_entities(model, data, series_steps)
                    model.entity_col = entity_col if model.series_views is not None else None
                    model.series_view = None if model.series_views is None else next(iter(model.series_views.values()))
                else:
                    model.series_view = view_series(model, data, series_steps)
