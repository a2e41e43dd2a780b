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


def series_fields(result: dict[str, np.ndarray], channels: list[str], last: int | None = None,
                  bands: bool = True, first_scored: int | None = None) -> dict[str, Any]:
    """The response fields for the ``last`` steps of ``SeriesPipeline.bands`` output: ``scores``
    (NaN → null: no full window yet), ``labels`` (null there too) and, with ``bands``, per step
    and channel ``mu``, ``sigma``, ``lower``, ``upper``, ``score`` and ``flag``. Rows from
    ``first_scored`` on have a full window: a non-finite score there is a :class:`RequestError`."""
    rows = slice(-last, None) if last else slice(None)
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

    def append(self, served, stream_id: str, points: pd.DataFrame, bands: bool = True) -> dict[str, Any]:
        """Append ``points`` (raw channel values) to a stream; scores for the new points."""
        det = served.pipeline.detector
        info = det.series_info()
        window, context = int(info["window"]), int(info["context"])
        channels = list(served.pipeline.preprocessor.channels_)
        stream = self._get(served.name, stream_id, channels)
        with stream.lock:
            frame = pd.concat([stream.buffer, points[channels]], ignore_index=True) if len(stream.buffer) \
                else points[channels].reset_index(drop=True)
            k = len(points)
            first = stream.seen  # global step index of the first new point
            out: dict[str, Any] = {"model": served.name, "stream": stream_id, "window": window,
                                   "received": k, "steps": np.arange(first, first + k)}
            if len(frame) >= window:
                result = served.score_series(frame)
            else:  # no full window yet: nothing to score
                c = len(channels)
                result = {"step_score": np.full(k, np.nan), "step_flag": np.zeros(k, np.int8),
                          **{f: np.full((k, c), np.nan) for f in BAND_FIELDS}}
            out.update(series_fields(result, channels, k, bands, first_scored=max(0, window - 1 - first)))
            stream.buffer = frame.iloc[-(context - 1):].reset_index(drop=True) if context > 1 else frame.iloc[:0]
            stream.seen += k
            out["seen"] = stream.seen
        return out
