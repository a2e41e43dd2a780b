"""The models a server holds: loaded once at start-up (through :mod:`nadkit.artifact`, which
never unpickles), described for ``/v1/models`` and scored per request.

A model's name is its directory's name, or ``NAME`` when given as ``NAME=DIR``. Metrics shown
with a model come from its manifest (``"metrics"`` key) or a ``metrics.json`` inside the model
directory or next to it (the layout ``nadkit bench --save-models`` writes:
``<out>/<model>/metrics.json`` beside ``<out>/<model>/model/``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadkit import artifact
from nadkit.errors import ArtifactError
from nadkit.models.train import resolve_device
from nadkit.pipeline import Pipeline
from nadkit.service.inputs import TableSchema

log = logging.getLogger("nadkit.service")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class Scored:
    """One request's result: a score and a 0/1 label per row, optional per-column contributions."""

    scores: np.ndarray
    labels: np.ndarray
    contributions: np.ndarray | None = None
    columns: list[str] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class ServedModel:
    """A loaded pipeline with what the API and the dashboard show about it."""

    name: str
    path: Path
    pipeline: Pipeline
    metrics: dict[str, Any] | None = None
    metrics_source: str | None = None
    evaluation: Any = None  # nadkit.service.evaluation.Evaluation, set at start-up when asked
    series_view: Any = None  # nadkit.service.series.SeriesView, set at start-up when asked
    #: with ``--entity-col``: entity → its SeriesView, in order (``series_view`` is the first one)
    series_views: dict[str, Any] | None = None
    entity_col: str | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str], name: str | None = None) -> ServedModel:
        path = Path(path)
        pipe = artifact.load(path)
        name = name or path.resolve().name
        if not NAME.match(name):
            raise ArtifactError(f"model name {name!r} must be 1-64 letters, digits, '.', '_' or '-' "
                                "(give one as NAME=DIR)")
        metrics, source = _find_metrics(path, pipe.manifest)
        return cls(name=name, path=path, pipeline=pipe, metrics=metrics, metrics_source=source)

    # ---------------------------------------------------------------------------- properties
    @property
    def manifest(self) -> dict[str, Any]:
        return self.pipeline.manifest

    @property
    def kind(self) -> str:
        """'table' (rows) or 'series' (time steps of channels)."""
        return self.pipeline.detector.input_kind

    @property
    def detector(self) -> str:
        return self.manifest.get("detector", type(self.pipeline.detector).__name__.lower())

    @property
    def has_contributions(self) -> bool:
        return self.pipeline.detector.has_tag("feature_scores")

    @property
    def schema(self) -> TableSchema:
        return self._schema

    def __post_init__(self) -> None:
        if self.kind == "table":
            self._schema = TableSchema.from_manifest(self.manifest["schema"])
        else:  # series: the channels the SeriesPreprocessor was fitted on
            self._schema = TableSchema.channels(list(self.pipeline.preprocessor.channels_))
        # a torch detector on a GPU moves its net to the device and back per call, so calls must
        # not overlap there; on the CPU scoring only reads the fitted state and runs concurrently
        device = getattr(self.pipeline.detector, "device", "cpu")
        self.on_cpu = resolve_device(device) == "cpu"
        self._lock = contextlib.nullcontext() if self.on_cpu else threading.Lock()

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this model."""
        thr = self.pipeline.threshold
        out: dict[str, Any] = {
            "name": self.name, "type": self.detector, "class": self.manifest.get("detector_class"),
            "input_kind": self.kind, "created": self.manifest.get("created"),
            "nadkit_version": self.manifest.get("versions", {}).get("nadkit"),
            "params": _jsonable(self.pipeline.detector.get_params()),
            "training": self.manifest.get("training", {}),
            "schema": self.manifest.get("schema", {}),
            "threshold": {**thr.to_dict(), "label": thr.label(), "description": thr.describe()},
            "contributions": self.has_contributions,
            "metrics": self.metrics, "metrics_source": self.metrics_source,
            "evaluation": None if self.evaluation is None else self.evaluation.summary(),
        }
        if self.kind == "series":
            out["series"] = self.pipeline.detector.series_info()
            out["series_view"] = None if self.series_view is None else self.series_view.summary()
            if self.series_views is not None:
                out["entity_col"] = self.entity_col
                out["series_entities"] = {e: v.summary() for e, v in self.series_views.items()}
        return out

    # ------------------------------------------------------------------------------- scoring
    def score(self, frame: pd.DataFrame | dict[str, np.ndarray], contributions: bool = True) -> Scored:
        """Score raw feature rows (a frame or a dict of column arrays) through
        :meth:`nadkit.pipeline.Pipeline.detect_arrays`."""
        with self._lock:
            scores, labels, contrib = self.pipeline.detect_arrays(frame, contributions=contributions)
        notes = []
        unseen = self.schema.unseen_categories(frame)
        if unseen:
            notes.append("unseen categories mapped to __other__: " + "; ".join(
                f"{c}: {', '.join(map(repr, v[:5]))}{' …' if len(v) > 5 else ''}" for c, v in unseen.items()))
        return Scored(scores=scores, labels=labels,
                      contributions=None if contrib is None else contrib.to_numpy(),
                      columns=None if contrib is None else list(contrib.columns), notes=notes)

    def score_series(self, frame: pd.DataFrame, history: np.ndarray | None = None, start: int = 0
                     ) -> dict[str, np.ndarray]:
        """A series model's per-step and per-channel outputs (``SeriesPipeline.bands``)."""
        with self._lock:
            return self.pipeline.bands(frame, history=history, start=start)


def load_models(model_dirs: Iterable[str | os.PathLike[str]] | Mapping[str, str | os.PathLike[str]]
                ) -> dict[str, ServedModel]:
    """Load every model once; ``NAME=DIR`` strings (or a mapping) name them explicitly."""
    items: list[tuple[str | None, str | os.PathLike[str]]]
    if isinstance(model_dirs, Mapping):
        items = list(model_dirs.items())
    else:
        items = [_split_name(d) for d in model_dirs]
    if not items:
        raise ArtifactError("no model directories given")
    models: dict[str, ServedModel] = {}
    for name, path in items:
        model = ServedModel.load(path, name)
        if model.name in models:
            raise ArtifactError(f"two models are named {model.name!r} ({models[model.name].path} and {path}); "
                                "name them with NAME=DIR")
        models[model.name] = model
        log.info("loaded %s (%s) from %s", model.name, model.detector, path)
    return models


def _split_name(spec: str | os.PathLike[str]) -> tuple[str | None, str | os.PathLike[str]]:
    text = os.fspath(spec)
    if "=" in text and not Path(text).exists():
        name, path = text.split("=", 1)
        return name, path
    return None, spec


def _find_metrics(path: Path, manifest: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    if isinstance(manifest.get("metrics"), dict):
        return manifest["metrics"], "manifest.json"
    for candidate in (path / "metrics.json", path.parent / "metrics.json"):
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                log.warning("ignoring unreadable %s: %s", candidate, exc)
                continue
            if isinstance(data, dict):
                return data, str(candidate)
    return None, None


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=str))
