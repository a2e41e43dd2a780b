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
model's step (fill gaps on the client side). The store holds at most ``max_streams`` streams
and evicts the least recently used one beyond that; ``DELETE`` forgets a stream.

A model whose step score also depends on the next L steps (``series_info()["lookahead"]``,
Net-GAN's average over every window covering a step) answers for the steps that became final:
an append returns the steps up to ``seen - 1 - L`` not returned before (``steps`` says which;
``pending`` counts the received steps still waiting), and the store keeps ``C-1+L`` points.
Each returned score then equals batch scoring of a series that continues at least L steps
past it; the last L steps of a stream that ends get no streamed score.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nadkit.service.inputs import RequestError

STREAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
BAND_FIELDS = ("mu", "sigma", "lower", "upper", "score", "flag")


def series_fields(result: dict[str, np.ndarray], channels: list[str], rows: slice = slice(None),
                  bands: bool = True, first_scored: int | None = None) -> dict[str, Any]:
    """The response fields for ``rows`` of ``SeriesPipeline.bands`` output: ``scores``
    (NaN → null: no full window yet), ``labels`` (null there too) and, with ``bands``, per step
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
                                                        zip(flags.tolist(), scored.tolist(), strict=True)]}
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
    lock: threading.Lock = field(default_factory=threading.Lock)


class StreamStore:
    """The streams of one server (thread-safe, bounded, least recently used evicted first)."""

    def __init__(self, max_streams: int = 1000) -> None:
        self.max_streams = max_streams
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
            if n and len(frame) >= window:
                result, rows = served.score_series(frame), slice(first - start, stop - start)
            else:  # nothing final, or no full window yet: nothing to score
                c = len(channels)
                result = {"step_score": np.full(n, np.nan), "step_flag": np.zeros(n, np.int8),
                          **{f: np.full((n, c), np.nan) for f in BAND_FIELDS}}
                rows = slice(None)
            out.update(series_fields(result, channels, rows, bands, first_scored=max(0, window - 1 - first)))
            if times is not None or stream.pending_times:
                waiting = stream.pending_times + (list(times) if times is not None else [None] * k)
                out["times"], stream.pending_times = waiting[:n], waiting[n:]
            stream.buffer = frame.iloc[max(0, stop - (context - 1) - start):].reset_index(drop=True)
            stream.seen = total
            out["seen"] = stream.seen
        return out
