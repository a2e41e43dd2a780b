"""A series scored once at start-up for the dashboard's series page.

``nadkit serve MODEL... --series-data DATA`` names a series (``skab:valve1/0``,
``smd:machine-1-2:test`` or a CSV/Parquet time table, labels optional). Every series model
whose channels are all in it scores its first ``series_steps`` steps once through
:meth:`nadkit.pipeline.SeriesPipeline.bands`. The series page
(``/series?model=NAME``) then shows, per chosen channel, the values with the μ − α_down·σ …
μ + α_up·σ band and the flagged points, and the score per step with the model's threshold
(``GET /v1/models/{name}/series?channels=a,b``). Nothing here changes the model's threshold.

With ``--entity-col host`` the file is a long table of several entities: each entity's rows are
a series of their own (:func:`nadkit.entities.read_entities`: windows never cross entities, the
first ``window - 1`` steps of every entity are unscored), scored as such by
:func:`view_entities`; the series page picks one (``?entity=``) and the incidents page has one
lane per entity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from nadkit.errors import DataError
from nadkit.metrics import series_report

log = logging.getLogger("nadkit.service")
CHANNEL_FIELDS = ("value", "mu", "lower", "upper", "flag")


@dataclass
class SeriesView:
    """One series model's outputs on the start-up series (see :meth:`SeriesPipeline.bands`)."""

    data: str
    channels: list[str]
    bands: dict[str, np.ndarray]
    time: list[str] | None
    y: np.ndarray | None
    threshold: float | None
    threshold_method: str
    report: dict[str, Any]
    entity: str | None = None  # with --entity-col: the entity whose rows these are
    step_threshold: np.ndarray | None = None  # a rolling threshold's value at each step

    def summary(self) -> dict[str, Any]:
        """What the models page shows: size, flags and, with labels, AUROC/AUPRC and F1."""
        keys = ("n_anomalies", "n_events", "auroc", "auprc", "precision", "recall", "f1",
                "range_f1", "event_detection_rate")
        return {"data": self.data, **({"entity": self.entity} if self.entity is not None else {}),
                "n": len(self.bands["step_score"]),
                "n_flagged": int(self.bands["step_flag"].sum()),
                "n_unscored": int(np.isnan(self.bands["step_score"]).sum()),
                **{k: self.report[k] for k in keys if k in self.report}}

    def payload(self, channels: list[str] | None = None) -> dict[str, Any]:
        """Per step: time, score, flag, label; per requested channel: value, μ, band, flags."""
        unknown = [c for c in channels or [] if c not in self.channels]
        if unknown:
            raise DataError(f"unknown channel(s) {unknown[:5]}; the model's channels are {self.channels}")
        b = self.bands
        index = {c: k for k, c in enumerate(self.channels)}
        per_channel = {c: {**{f: np.ascontiguousarray(b[f][:, index[c]]) for f in CHANNEL_FIELDS},
                           "alpha_up": float(b["alpha_up"][index[c]]),
                           "alpha_down": float(b["alpha_down"][index[c]])} for c in channels or []}
        return {"data": self.data, "entity": self.entity, "channels": self.channels, "time": self.time,
                "step_score": b["step_score"], "step_flag": b["step_flag"], "y": self.y,
                "threshold": self.threshold, "threshold_method": self.threshold_method,
                "step_threshold": self.step_threshold, "summary": self.summary(), "values": per_channel}


def view_series(model, series, max_steps: int = 5_000) -> SeriesView | None:
    """Score the first ``max_steps`` steps of ``series`` with a served series model; None (with
    a log line) for table models and series that lack some of the model's channels."""
    if model.kind != "series":
        return None
    pipe = model.pipeline
    channels = list(pipe.preprocessor.channels_)
    missing = [c for c in channels if c not in series.X.columns]
    if missing:
        log.warning("no series view for %s: %s lacks %d of its channels (%s …)", model.name, series.name,
                    len(missing), ", ".join(missing[:3]))
        return None
    if len(series) > max_steps:
        series = series.slice(0, max_steps)
    bands = pipe.bands(series)
    thr = pipe.threshold
    report: dict[str, Any] = {}
    if series.y is not None and series.y.any() and np.isfinite(bands["step_score"]).any():
        report = series_report(series.y, bands["step_score"], pred=bands["step_flag"], timestamps=series.time)
    time = None if series.time is None else np.datetime_as_string(np.asarray(series.time, "datetime64[ms]")).tolist()
    moving = bands["step_threshold"] if thr.follows_stream else None
    return SeriesView(data=series.name or "series", channels=channels, bands=bands, time=time, y=series.y,
                      threshold=getattr(thr, "value_", None), threshold_method=thr.describe(), report=report,
                      step_threshold=moving)


def view_entities(model, entities: list[tuple[str, Any]], max_steps: int = 5_000) -> dict[str, SeriesView] | None:
    """:func:`view_series` of each ``(entity, series)`` (the first ``max_steps`` steps of each), in
    order; None where :func:`view_series` gives None. An entity shorter than the model's window
    is a :class:`DataError` naming it (as ``nadkit detect --entity-col`` refuses it)."""
    if model.kind != "series":
        return None
    window = model.pipeline.detector.window
    short = [f"{e!r} ({len(s)})" for e, s in entities if min(len(s), max_steps) < window]
    if short:
        raise DataError(f"--series-data: {len(short)} entit{'y has' if len(short) == 1 else 'ies have'} fewer steps "
                        f"than model {model.name}'s window ({window}): {', '.join(short[:5])}")
    views = {}
    for entity, series in entities:
        view = view_series(model, series, max_steps)
        if view is None:
            return None
        view.entity = entity
        views[entity] = view
    return views
