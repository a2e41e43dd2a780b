"""Streaming scores for series models: ``POST /v1/models/{name}/streams/{id}`` appends points to
a stream and answers with a score for every new point whose window is full.

The interface a series model offers (``nadkit.models.series_base``):

* ``detector.series_info()`` → ``{"window": T, "context": C, ...}``: the score at step t
  depends only on steps ``t-C+1 … t`` (C ≥ T), and the first ``T-1`` steps of any series are
  unscored (NaN);
* ``pipeline.bands(frame)`` on raw channel values (one column per channel, consecutive steps)
  → per step ``step_score``/``step_flag`` and per step and channel ``mu``, ``sigma``,
  ``lower``, ``upper``, ``score``, ``flag`` (channels' units).

A :class:`StreamStore` keeps, per (model, stream id), the last ``C-1`` raw points. Appending k
points scores ``buffer + new`` and returns the last k rows, so each point gets exactly the
score batch scoring of the whole stream gives it. Points must be consecutive steps at the
model's step (fill gaps on the client side): points that carry a ``time`` (ISO 8601 strings, or
numbers) must each be the previous time plus the step — the model's (its schema's ``step``) or,
when the model has none, the one the stream's first two times set. A gap, a replayed or
out-of-order time is a 409 naming the expected time; once a stream has times, every point needs
one. The store holds at most ``max_streams`` streams and evicts the least recently used one
beyond that; ``DELETE`` forgets a stream. A refused chunk leaves its stream unchanged.

A model whose step score also depends on the next L steps (``series_info()["lookahead"]``,
Net-GAN's average over every window covering a step) answers for the steps that became final:
an append returns the steps up to ``seen - 1 - L`` not returned before (``steps`` says which;
``pending`` counts the received steps still waiting), and the store keeps ``C-1+L`` points.
Each returned score then equals batch scoring of a series that continues at least L steps
past it; the last L steps of a stream that ends get no streamed score.

A rolling threshold (the series models' default, :class:`nadkit.thresholds.RollingFPR`) keeps
its window per stream: each step is flagged against the last scores of the same stream, as
``detect`` on the whole stream flags it.

Every answer also carries ``incidents``: the incidents (:class:`nadkit.incidents.IncidentTracker`,
runs of flagged steps merged across at most ``nadkit.incidents.DEFAULT_GAP`` unflagged ones, over
the whole stream, not only this chunk) that the returned steps opened, extended or closed, each
with its global ``start``/``end`` step (and times), peak score, severity 0–100 against the
model's normal calibration scores, top channels, ``status`` ``open`` or ``closed`` and
``entity``: the stream id (a stream is one entity: a host, site or interface). The store keeps
the latest state of each stream's last :data:`MAX_INCIDENTS` incidents for the dashboard
(``GET /v1/models/{name}/streams``: :meth:`StreamStore.entities`).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nadkit.incidents import IncidentTracker, stream_tail
from nadkit.service.inputs import RequestError


class OutOfStep(RequestError):
    """Stream points whose times do not continue the stream (a gap, a replay): 409."""

    status = 409

#: incidents kept per stream for the dashboard (the oldest are dropped first)
MAX_INCIDENTS = 1000
STREAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
BAND_FIELDS = ("mu", "sigma", "lower", "upper", "score", "flag")


def series_fields(result: dict[str, np.ndarray], channels: list[str], rows: slice = slice(None),
                  bands: bool = True, first_scored: int | None = None) -> dict[str, Any]:
    """The response fields for ``rows`` of ``SeriesPipeline.bands`` output: ``scores``
    (NaN → null: no full window yet), ``labels`` (null there too), ``thresholds`` (the
    threshold each step's score was compared with; null with per-channel bands) and, with ``bands``, per step
    and channel ``mu``, ``sigma``, ``lower``, ``upper``, ``score`` and ``flag``. Rows from
    ``first_scored`` on (counted within ``rows``) have a full window: a non-finite score there
    is a :class:`RequestError`."""
    scores, flags = result["step_score"][rows], result["step_flag"][rows]
    scored = np.isfinite(scores)
    if first_scored is not None and not scored[first_scored:].all():
        bad = first_scored + np.flatnonzero(~scored[first_scored:])
        raise RequestError(f"the score is not finite for {len(bad)} point(s) (e.g. rows {bad[:5].tolist()}): "
                           "their values are far outside the range the model was trained on")
    out: dict[str, Any] = {"scores": scores, "labels": [int(f) if ok else None for f, ok in
                                                        zip(flags.tolist(), scored.tolist(), strict=True)],
                           "thresholds": result["step_threshold"][rows]}
    if bands:
        out["channels"] = channels
        out.update({f: result[f][rows] for f in BAND_FIELDS})
    return out


@dataclass
class Stream:
    """One stream's recent raw points and how many it has seen."""

    buffer: pd.DataFrame
    seen: int = 0
    pending_times: list[Any] = field(default_factory=list)  # timestamps of the steps not yet returned
    clock: Clock | None = None  # the last time seen and the step, once points carried times
    lock: threading.Lock = field(default_factory=threading.Lock)
    incidents: IncidentTracker | None = None
    history: OrderedDict[int, dict[str, Any]] = field(default_factory=OrderedDict)  # incident id → latest state
    recent: np.ndarray | None = None  # a rolling threshold's window: the last step scores returned


class StreamStore:
    """The streams of one server (thread-safe, bounded, least recently used evicted first)."""

    def __init__(self, max_streams: int = 1000, alerts=None) -> None:
        self.max_streams = max_streams
        self.alerts = alerts  # a nadkit.alerts.ServiceAlerts: an ECS alert per flagged step
        self._streams: OrderedDict[tuple[str, str], Stream] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._streams)

    def _get(self, model: str, stream_id: str, channels: list[str]) -> Stream:
        if not STREAM_ID.match(stream_id):
            raise RequestError("stream id must be 1-128 letters, digits, '.', '_', ':' or '-'")
        key = (model, stream_id)
        with self._lock:
            stream = self._streams.get(key)
            if stream is None:
                stream = self._streams[key] = Stream(pd.DataFrame(columns=channels, dtype=np.float64))
                while len(self._streams) > self.max_streams:
                    self._streams.popitem(last=False)
            self._streams.move_to_end(key)
            return stream

    def entities(self, model: str) -> list[dict[str, Any]]:
        """Each stream (entity) of ``model``, least recently appended first: its id as
        ``entity``, the steps it has ``seen`` and its kept ``incidents`` (oldest first)."""
        with self._lock:
            streams = [(sid, st) for (m, sid), st in self._streams.items() if m == model]
        out = []
        for sid, st in streams:
            with st.lock:
                out.append({"entity": sid, "seen": st.seen, "incidents": list(st.history.values())})
        return out

    def forget(self, model: str, stream_id: str) -> bool:
        with self._lock:
            return self._streams.pop((model, stream_id), None) is not None

    def append(self, served, stream_id: str, points: pd.DataFrame, bands: bool = True,
               times: list[Any] | None = None) -> dict[str, Any]:
        """Append ``points`` (raw channel values, with optional ``times``) to a stream; scores
        for the steps that became final (the new points, unless the model looks ahead)."""
        det = served.pipeline.detector
        info = det.series_info()
        window, context = int(info["window"]), int(info["context"])
        lookahead = int(info.get("lookahead", 0))
        channels = list(served.pipeline.preprocessor.channels_)
        stream = self._get(served.name, stream_id, channels)
        with stream.lock:
            clock = Clock.advance(stream.clock, times, len(points), getattr(served.pipeline.preprocessor, "step_", None))
            frame = pd.concat([stream.buffer, points[channels]], ignore_index=True) if len(stream.buffer) \
                else points[channels].reset_index(drop=True)
            k = len(points)
            start = stream.seen - len(stream.buffer)  # global step index of the frame's first row
            total = stream.seen + k
            # steps [first, stop) became final: those returned so far are the first seen - L
            first = max(0, stream.seen - lookahead)
            stop = max(first, total - lookahead)
            n = stop - first
            out: dict[str, Any] = {"model": served.name, "stream": stream_id, "window": window,
                                   "received": k, "steps": np.arange(first, stop)}
            if lookahead:
                out["pending"] = total - stop
            thr, recent = served.pipeline.threshold, stream.recent
            if n and len(frame) >= window:
                rows = slice(first - start, stop - start)
                # rolling: the threshold's window continues the stream's earlier step scores
                result = served.score_series(frame, history=recent, start=rows.start)
                if thr.follows_stream:
                    recent = thr.recent(recent, result["step_score"][rows])
            else:  # nothing final, or no full window yet: nothing to score
                c = len(channels)
                result = {"step_score": np.full(n, np.nan), "step_flag": np.zeros(n, np.int8),
                          "step_threshold": np.full(n, np.nan), **{f: np.full((n, c), np.nan) for f in BAND_FIELDS}}
                rows = slice(None)
            out.update(series_fields(result, channels, rows, bands, first_scored=max(0, window - 1 - first)))
            if times is not None or stream.pending_times:
                waiting = stream.pending_times + (list(times) if times is not None else [None] * k)
                out["times"], stream.pending_times = waiting[:n], waiting[n:]
            if stream.incidents is None:
                stream.incidents = IncidentTracker(tail=stream_tail(served.pipeline), channels=channels)
            out["incidents"] = stream.incidents.update(out["steps"], result["step_score"][rows], result["step_flag"][rows],
                                                       result["score"][rows], out.get("times"))
            for incident in out["incidents"]:
                incident["entity"] = stream_id
                stream.history[incident["incident_id"]] = incident
            while len(stream.history) > MAX_INCIDENTS:
                stream.history.popitem(last=False)
            stream.buffer = frame.iloc[max(0, stop - (context - 1) - start):].reset_index(drop=True)
            stream.seen = total
            stream.clock = clock
            stream.recent = recent
            out["seen"] = stream.seen
        if self.alerts is not None:
            from nadkit.alerts import stream_alerts

            self.alerts.publish(stream_alerts(out, served.name, getattr(served.pipeline.threshold, "value_", None),
                                              channels, detector=served.pipeline.manifest.get("detector")))
        return out


@dataclass(frozen=True)
class Clock:
    """A timed stream's last time and step: datetimes as int64 nanoseconds (UTC when the
    strings carry an offset), or plain numbers."""

    kind: str  # "datetime" | "number"
    last: float | int
    step: float | int | None  # None until two times (or the model's step) set it
    aware: bool = False  # datetimes given with a UTC offset

    @classmethod
    def advance(cls, clock: Clock | None, times: list[Any] | None, k: int, model_step: str | None) -> Clock | None:
        """The clock after ``k`` new points with ``times`` (None: the points had none), or
        :class:`OutOfStep` / :class:`RequestError` naming the first point that does not fit."""
        if times is None:
            if clock is not None:
                raise OutOfStep(f"this stream's points carry a 'time'; the next is expected at {clock.show(clock.next())}: "
                                "send each point as a record with its 'time'")
            return None
        kind, values, aware = _parse_times(times)
        if clock is not None and (kind != clock.kind or aware != clock.aware):
            raise RequestError(f"point 0 has time {times[0]!r}, but this stream's times are "
                               f"{clock.describe_kind()}; the next is expected at {clock.show(clock.next())}")
        step = clock.step if clock is not None else None
        if step is None and kind == "datetime" and model_step is not None:
            with contextlib.suppress(ValueError, TypeError):
                step = int(pd.Timedelta(model_step).value) or None
        seq = values if clock is None else np.concatenate([np.asarray([clock.last], values.dtype), values])
        diffs = np.diff(seq)
        if step is None and len(diffs):
            step = diffs[0].item()
        if step is not None and len(diffs):
            off = diffs != step if kind == "datetime" else ~np.isclose(diffs, step, rtol=1e-9, atol=0)
            bad = np.flatnonzero(off | (diffs <= 0))
            if bad.size:
                j = int(bad[0])
                i = j if clock is not None else j + 1  # the offending point, within this chunk
                probe = cls(kind, seq[j].item(), step, aware)
                what = ("a replayed or out-of-order time" if diffs[j] <= 0 else
                        "a gap" if diffs[j] > step else "off the stream's step")
                expected = probe.show(probe.next()) if step > 0 else f"a time after {probe.show(seq[j].item())}"
                raise OutOfStep(f"point {i} has time {times[i]!r}: {what}; the stream expects {expected} "
                                f"(the time before it plus the step {probe.show_step()}). Send consecutive points at "
                                "the model's step (fill gaps on the client side); nothing was added")
        return cls(kind, seq[-1].item(), step, aware)

    def next(self) -> float | int | None:
        return None if self.step is None else self.last + self.step

    def show(self, value: float | int | None) -> str:
        if value is None:
            return f"a time after {self.show(self.last)}"
        if self.kind == "number":
            return repr(value)
        text = pd.Timestamp(int(value), unit="ns").isoformat()
        return text + "+00:00" if self.aware else text

    def show_step(self) -> str:
        if self.kind == "number":
            return repr(self.step)
        return str(pd.Timedelta(int(self.step), unit="ns"))

    def describe_kind(self) -> str:
        if self.kind == "number":
            return "numbers"
        return "timestamps with a UTC offset" if self.aware else "timestamps without a UTC offset"


def _parse_times(times: list[Any]) -> tuple[str, np.ndarray, bool]:
    """Points' ``time`` values → ("datetime", int64 ns, aware) or ("number", float64, False)."""
    missing = next((i for i, t in enumerate(times) if t is None), None)
    if missing is not None:
        raise RequestError(f"point {missing} has no 'time': give every point of a stream its time, or none")
    types = {type(t) for t in times}
    if types <= {int, float}:
        values = np.asarray(times, dtype=np.float64)
        if not np.isfinite(values).all():
            raise RequestError("'time' values must be finite numbers")
        return "number", values, False
    if types != {str}:
        raise RequestError("'time' must be an ISO 8601 timestamp string for every point, or a number for every point")
    try:
        parsed = pd.to_datetime(pd.Series(times), format="ISO8601")
    except (ValueError, TypeError, OverflowError) as exc:
        if "Mixed timezones" in str(exc):
            raise RequestError("the points' times mix UTC offsets (or times with and without one); "
                               "give all of them in one time zone") from exc
        for i, t in enumerate(times):
            try:
                pd.to_datetime(pd.Series([t]), format="ISO8601")
            except (ValueError, TypeError, OverflowError):
                raise RequestError(f"'time' of point {i} is not an ISO 8601 timestamp: {t[:40]!r}") from exc
        raise RequestError(f"the points' times cannot be read: {str(exc).splitlines()[0]}") from exc
    aware = isinstance(parsed.dtype, pd.DatetimeTZDtype)
    if aware:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    try:
        values = parsed.dt.as_unit("ns").to_numpy().astype(np.int64)
    except (ValueError, OverflowError) as exc:
        raise RequestError("the points' times lie outside the years 1677-2262") from exc
    return "datetime", values, aware
