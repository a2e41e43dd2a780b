"""Alerts: flagged records as Elastic ECS-shaped JSON documents, written as JSON lines or sent
to a webhook.

One document per flagged table row, or per flagged time step of a series (per entity when the
series had one). The fields follow the Elastic Common Schema:

* ``@timestamp`` (the record's time when it has a time column, else when the alert was made),
  ``event.kind: "alert"``, ``event.module: "nadkit"``, ``event.dataset`` (``nadkit.flows`` /
  ``nadkit.series``), ``event.id`` (a deterministic idempotency key: scoring the same data with
  the same model again gives the same ids), ``event.severity`` (21 low, 47 medium, 73 high,
  99 critical, as Elastic's rules), ``event.risk_score`` (0–100), ``event.created``;
* ``rule.name``, ``observer`` (nadkit and its version), ``labels`` (model, severity, entity);
* ``source.ip``/``source.port``/``destination.ip``/``destination.port`` and
  ``network.transport`` when such columns were kept (CICFlowMeter, Zeek, nfdump, Argus,
  nfstream names), ``host.name`` = the entity of a series;
* ``nadkit``: ``score``, ``threshold``, ``ratio`` (score / threshold), ``model``, the record's
  ``row`` or ``step``, its other kept columns (``keys``) and the top ``contributions``.

The risk score is ``100 · (1 − 0.5 / ratio)`` clipped to 0–100: 50 at the threshold, 75 at
twice it, 87.5 at four times (low < 62.5 ≤ medium < 75 ≤ high < 87.5 ≤ critical). Series with
per-channel α bands have no scalar threshold: their alerts get risk 50 (medium).

>>> import pandas as pd
>>> frame = pd.DataFrame({"Src IP": ["10.0.0.1", "10.0.0.2"], "score": [0.1, 0.9], "anomaly": [0, 1]})
>>> [d["source"]["ip"] for d in table_alerts(frame, model="ae", threshold=0.3)]
['10.0.0.2']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import queue
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from nadkit.data.exports import find_column
from nadkit.errors import DataError

log = logging.getLogger("nadkit.alerts")

#: ECS field ← normalised column names (lower case, letters and digits only)
ECS_COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("source", "ip"): ("srcip", "sourceip", "idorigh", "sa", "srcaddr", "saddr", "srcaddress"),
    ("destination", "ip"): ("dstip", "destinationip", "idresph", "da", "dstaddr", "daddr", "dstaddress"),
    ("source", "port"): ("srcport", "sourceport", "idorigp", "sp", "sport"),
    ("destination", "port"): ("dstport", "destinationport", "idrespp", "dp", "dport"),
}
TIME_COLUMNS = ("timestamp", "ts", "time", "datetime", "date", "starttime", "stime", "firstseen",
                "bidirectionalfirstseenms")
PROTOCOL_COLUMNS = ("protocol", "proto", "pr", "protocolname")
IANA_PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}
SEVERITIES = ((87.5, 99, "critical"), (75.0, 73, "high"), (62.5, 47, "medium"), (0.0, 21, "low"))
OUTPUT_COLUMNS = {"score", "anomaly"}


def risk(score: float, threshold: float | None) -> tuple[float | None, float, int, str]:
    """``(ratio, risk_score, event.severity, severity name)`` of a score at a threshold."""
    if threshold is None or not math.isfinite(threshold) or threshold <= 0 or not math.isfinite(score):
        return None, 50.0, 47, "medium"
    ratio = score / threshold
    value = float(np.clip(100.0 * (1.0 - 0.5 / ratio), 0.0, 100.0)) if ratio > 0 else 0.0
    for floor, level, name in SEVERITIES:
        if value >= floor:
            return ratio, round(value, 2), level, name
    return ratio, round(value, 2), 21, "low"  # pragma: no cover


def _plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars → Python, NaN/NaT → None, times → ISO 8601."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        return _iso(pd.Timestamp(value))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _iso(ts: pd.Timestamp) -> str:
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _now() -> str:
    return _iso(pd.Timestamp(datetime.now(UTC)))


def _times(values: pd.Series) -> pd.Series:
    """A column of record times as UTC timestamps (NaT where unreadable): datetimes, ISO or
    CICFlowMeter strings, epoch seconds or milliseconds."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values):
        out = pd.to_datetime(values, utc=True)
    elif pd.api.types.is_numeric_dtype(values):
        v = pd.to_numeric(values, errors="coerce").astype(float)
        finite = np.abs(v.to_numpy()[np.isfinite(v.to_numpy())])
        unit = "ms" if finite.size and np.median(finite) > 1e11 else "s"
        out = pd.to_datetime(v.where((v > 0) & (v < 1e14)), unit=unit, utc=True, errors="coerce")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = pd.to_datetime(values.astype(str), utc=True, errors="coerce", format="mixed")
    return pd.Series(out, index=values.index)


def _transport(value: Any) -> str | None:
    value = _plain(value)
    if isinstance(value, (int, float)) and float(value).is_integer():
        return IANA_PROTOCOLS.get(int(value))
    if isinstance(value, str) and value.strip():
        text = value.strip().lower()
        return IANA_PROTOCOLS.get(int(text)) if text.isdigit() else text
    return None


def alert_id(*parts: Any) -> str:
    """The idempotency key of one alert (32 hex digits) from what identifies it."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def _document(*, model: str, kind: str, score: float, threshold: float | None, when: str | None,
              key: str, keys: dict[str, Any], contributions: dict[str, float] | None,
              position: dict[str, int], entity: str | None = None, detector: str | None = None,
              created: str) -> dict[str, Any]:
    ratio, risk_score, severity, level = risk(score, threshold)
    doc: dict[str, Any] = {
        "@timestamp": when or created,
        "event": {"kind": "alert", "module": "nadkit", "dataset": f"nadkit.{kind}", "id": key,
                  "severity": severity, "risk_score": risk_score, "created": created},
        "rule": {"name": f"nadkit {model}: anomaly score above threshold", "id": model, "ruleset": "nadkit"},
        "observer": OBSERVER,
        "labels": {"model": model, "severity": level, **({"entity": entity} if entity is not None else {})},
    }
    for (obj, field), names in ECS_COLUMNS.items():
        col = find_column(keys, names)
        value = _plain(keys[col]) if col is not None else None
        if value is not None and value != "":
            if field == "port":
                with contextlib.suppress(TypeError, ValueError):
                    value = int(value)
                if not isinstance(value, int):
                    continue  # a bucketed port ('registered'): not an ECS port
            doc.setdefault(obj, {})[field] = str(value) if field == "ip" else value
    proto = find_column(keys, PROTOCOL_COLUMNS)
    if proto is not None and (transport := _transport(keys[proto])) is not None:
        doc["network"] = {"transport": transport}
    if entity is not None:
        doc["host"] = {"name": entity}
    nk: dict[str, Any] = {"score": _plain(float(score)), "threshold": _plain(threshold),
                          "ratio": None if ratio is None else round(ratio, 6), "model": model, **position}
    if detector:
        nk["detector"] = detector
    if entity is not None:
        nk["entity"] = entity
    if keys:
        nk["keys"] = {str(c): _plain(v) for c, v in keys.items()}
    if contributions:
        nk["contributions"] = contributions
    doc["nadkit"] = nk
    return doc


OBSERVER = {"product": "nadkit", "vendor": "nadkit", "type": "anomaly-detector",
            "hostname": socket.gethostname()}
with contextlib.suppress(Exception):
    from nadkit import __version__

    OBSERVER["version"] = __version__


def _time_col(columns: Iterable[str]) -> str | None:
    return find_column(columns, TIME_COLUMNS)


def _top(values: np.ndarray, names: Sequence[str], top: int) -> list[dict[str, float]]:
    """Per row, the ``top`` largest finite values by name (rows of ``values``)."""
    if values.size == 0 or top <= 0:
        return [{} for _ in range(len(values))]
    filled = np.where(np.isfinite(values), values, -np.inf)
    order = np.argsort(-filled, axis=1, kind="stable")[:, :top]
    out = []
    for row, idx in zip(filled, order, strict=True):
        out.append({names[j]: round(float(row[j]), 6) for j in idx if np.isfinite(row[j])})
    return out


def table_alerts(frame: pd.DataFrame, model: str, threshold: float | None, *, offset: int = 0,
                 source: str = "", detector: str | None = None, top: int = 5) -> list[dict[str, Any]]:
    """The alerts of the flagged rows (``anomaly == 1``) of a table detect frame: kept columns,
    ``score``, ``anomaly``, optional ``contrib_<col>``. ``offset`` is the first row's position in
    the whole input (batches), ``source`` names the input (part of the idempotency key)."""
    if not {"score", "anomaly"} <= set(frame.columns):
        raise DataError("alerts need a scores table with 'score' and 'anomaly' columns")
    flagged = np.flatnonzero(frame["anomaly"].to_numpy() == 1)
    if not len(flagged):
        return []
    rows = frame.iloc[flagged]
    contrib = [c for c in frame.columns if str(c).startswith("contrib_")]
    keys = [c for c in frame.columns if c not in OUTPUT_COLUMNS and c not in contrib]
    tcol = _time_col(keys)
    when = _times(rows[tcol]) if tcol is not None else None
    tops = _top(rows[contrib].to_numpy(dtype=np.float64), [c[len("contrib_"):] for c in contrib], top) \
        if contrib else [None] * len(rows)
    records = rows[keys].to_dict("records") if keys else [{} for _ in range(len(rows))]
    scores = rows["score"].to_numpy(dtype=np.float64)
    created = _now()
    docs = []
    for i, pos in enumerate(flagged.tolist()):
        t = when.iloc[i] if when is not None else pd.NaT
        row = offset + pos
        docs.append(_document(model=model, kind="flows", score=scores[i], threshold=threshold,
                              when=None if pd.isna(t) else _iso(t), key=alert_id(model, source, row),
                              keys=records[i], contributions=tops[i], position={"row": row},
                              detector=detector, created=created))
    return docs


def series_alerts(frame: pd.DataFrame, model: str, threshold: float | None, channels: Sequence[str], *,
                  entity_col: str | None = None, source: str = "", detector: str | None = None,
                  top: int = 5) -> list[dict[str, Any]]:
    """The alerts of the flagged steps (``step_flag == 1``) of a series detect frame, long
    (one row per step and channel) or wide layout, per entity when ``entity_col`` is a column;
    the top channels by channel score are the contributions."""
    if "step_flag" not in frame.columns:
        raise DataError("alerts need a series scores table with a 'step_flag' column")
    group = [entity_col] if entity_col else []
    if "channel" in frame.columns:  # long: pivot each flagged step's channel scores
        hit = frame[frame["step_flag"].to_numpy() == 1]
        if not len(hit):
            return []
        first = hit.drop_duplicates([*group, "step"])  # one row per flagged step, in the frame's order
        index = [*group, "step"]
        per = hit.assign(channel=hit["channel"].astype(str)).set_index([*index, "channel"])["score"]
        wide = per.unstack("channel")
        order = pd.MultiIndex.from_frame(first[index]) if group else pd.Index(first["step"], name="step")
        wide = wide.reindex(index=order, columns=[str(c) for c in channels if str(c) in wide.columns])
        steps = first.reset_index(drop=True)
        per_channel = wide.to_numpy(dtype=np.float64)
        names = list(wide.columns)
    else:
        steps = frame[frame["step_flag"].to_numpy() == 1].reset_index(drop=True)
        if not len(steps):
            return []
        names = [c for c in channels if f"{c}_score" in steps.columns]
        per_channel = steps[[f"{c}_score" for c in names]].to_numpy(dtype=np.float64)
    tops = _top(per_channel, [str(n) for n in names], top)
    # the step's own threshold (a rolling threshold's), where detect wrote it
    limits = _step_limits(steps["step_threshold"] if "step_threshold" in steps.columns else None, threshold,
                          len(steps))
    when = _times(steps["time"]) if "time" in steps.columns else None
    created = _now()
    docs = []
    for i, rec in enumerate(steps.to_dict("records")):
        entity = str(rec[entity_col]) if entity_col else None
        t = when.iloc[i] if when is not None else pd.NaT
        step = int(rec["step"])
        keys = {entity_col: entity} if entity_col else {}
        if "time" in rec:
            keys["time"] = rec["time"]
        docs.append(_document(model=model, kind="series", score=float(rec["step_score"]), threshold=limits[i],
                              when=None if pd.isna(t) else _iso(t), key=alert_id(model, source, entity, step),
                              keys=keys, contributions=tops[i], position={"step": step}, entity=entity,
                              detector=detector, created=created))
    return docs


def _step_limits(thresholds: Any, fixed: float | None, n: int) -> list[float | None]:
    """Each step's threshold: from ``thresholds`` (a stream answer's, or detect's
    ``step_threshold`` column: a rolling threshold's value at that step) where finite, else
    the fixed one."""
    if thresholds is None:
        return [fixed] * n
    t = np.asarray([np.nan if v is None else v for v in thresholds], dtype=np.float64)
    return [float(v) if np.isfinite(v) else fixed for v in t]


def dumps(doc: dict[str, Any]) -> str:
    """One JSON line (no NaN: strict JSON)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_plain)


# ----------------------------------------------------------------------------- JSON lines out
def check_alerts_path(path: str | os.PathLike[str], *inputs: Any) -> None:
    """Refuse an ``--alerts`` file that would destroy something: it must be new, empty or an
    alerts file nadkit wrote (first line an alert with ``event.module: nadkit``), and not an input."""
    p = Path(path)
    real = Path(os.path.realpath(p))
    for inp in inputs:
        if inp is not None and str(inp) and Path(os.path.realpath(inp)) == real:
            raise DataError(f"--alerts {p} is an input or output of this command; choose another file")
    if not real.parent.is_dir():
        raise DataError(f"cannot write alerts to {p}: its directory {p.parent} does not exist")
    if p.is_symlink() or (p.exists() and not p.is_file()):
        raise DataError(f"--alerts {p} exists and is not a regular file")
    if p.is_file() and p.stat().st_size:
        with open(p, "rb") as fh:
            first = fh.readline(1 << 16)
        try:
            event = json.loads(first).get("event", {})
        except (ValueError, AttributeError):
            event = {}
        if not (isinstance(event, dict) and event.get("module") == "nadkit" and event.get("kind") == "alert"):
            raise DataError(f"refusing to replace {p}: it exists and is not a nadkit alerts file")


def check_alert_options(alerts: str | None, webhook: str | None, *inputs: Any) -> None:
    """``--alerts``/``--webhook`` checked before any work (see :func:`check_alerts_path`)."""
    if alerts not in (None, "-"):
        check_alerts_path(alerts, *inputs)
    if webhook is not None:
        check_url(webhook)


def check_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url or ""):
        raise DataError(f"webhook URL must start with http:// or https:// and name a host, got {url!r}")
    return url


class AlertSink:
    """Where alerts go: JSON lines (a file, written atomically, or a text stream such as stdout)
    and/or a :class:`WebhookSender`. Use as a context manager; ``emit`` takes documents."""

    def __init__(self, path: str | os.PathLike[str] | None = None, stream: TextIO | None = None,
                 webhook: WebhookSender | None = None) -> None:
        self.path, self.stream, self.webhook = path, stream, webhook
        self.count = 0
        self._stack = contextlib.ExitStack()
        self._fh: TextIO | None = None

    def __enter__(self) -> AlertSink:
        from nadkit.io import atomic_path

        if self.path is not None:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._fh = self._stack.enter_context(open(tmp, "w", encoding="utf-8"))
        elif self.stream is not None:
            self._fh = self.stream
        if self.webhook is not None:
            self._stack.callback(self.webhook.close)
            self.webhook.start()
        return self

    def emit(self, docs: Iterable[dict[str, Any]]) -> None:
        for doc in docs:
            if self._fh is not None:
                self._fh.write(dumps(doc) + "\n")
            if self.webhook is not None:
                self.webhook.send(doc, block=True)
            self.count += 1

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None and self._fh is self.stream:
            self._fh.flush()
        if self._fh is not None and self.path is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        return self._stack.__exit__(*exc)


def detect_alerts(scores: pd.DataFrame | str | os.PathLike[str], pipe: Any, *, alerts: str | None = None,
                  webhook: str | None = None, model: str = "model", source: str = "",
                  entity_col: str | None = None, say: Callable[[str], None] | None = None) -> int:
    """``nadkit detect --alerts FILE|- --webhook URL``: the alerts of a detect result (a frame,
    or the scores file it wrote, read back in batches) to JSON lines and/or a webhook. Returns
    the number of alerts; ``say`` reports where they went (on stderr)."""
    if alerts is None and webhook is None:
        return 0
    threshold = getattr(pipe.threshold, "value_", None)
    threshold = None if threshold is None else float(threshold)
    detector = pipe.manifest.get("detector") if getattr(pipe, "manifest", None) else None
    series = pipe.detector.has_tag("series")
    sender = WebhookSender(webhook) if webhook else None
    sink = AlertSink(path=None if alerts in (None, "-") else alerts,
                     stream=sys.stdout if alerts == "-" else None, webhook=sender)
    with sink:
        for offset, frame in _frames(scores):
            if series:
                sink.emit(series_alerts(frame, model, threshold, list(pipe.preprocessor.channels_),
                                        entity_col=entity_col, source=source, detector=detector))
            else:
                sink.emit(table_alerts(frame, model, threshold, offset=offset, source=source, detector=detector))
    if say is not None:
        where = " and ".join(w for w in ("stdout" if alerts == "-" else alerts,
                                         f"webhook {webhook}" if webhook else None) if w)
        delivered = f" ({sender.describe()})" if sender is not None else ""
        say(f"{sink.count:,} alerts → {where}{delivered}")
    return sink.count


def _frames(scores: pd.DataFrame | str | os.PathLike[str]) -> Iterator[tuple[int, pd.DataFrame]]:
    if isinstance(scores, pd.DataFrame):
        yield 0, scores
        return
    from nadkit.io import iter_table_batches

    offset = 0
    for batch in iter_table_batches(scores):
        yield offset, batch
        offset += len(batch)


# ---------------------------------------------------------------------------------- webhook
class WebhookSender:
    """POST each alert as JSON to ``url`` from a background thread.

    Alerts wait in a bounded queue (``max_queue``); when it is full an alert is dropped and a
    warning says so (once, then every 1,000 drops, and in the total at :meth:`close`). Each
    POST carries the alert's ``event.id`` as the ``Idempotency-Key`` header, so a receiver can
    drop duplicates when a retry follows a request it did receive. A 5xx, 408, 429 or a
    connection error is retried up to ``retries`` times with exponential backoff
    (``backoff · 2^k`` seconds, at most ``max_backoff``); other 4xx answers are not retried.
    """

    def __init__(self, url: str, max_queue: int = 10_000, retries: int = 6, backoff: float = 0.5,
                 max_backoff: float = 30.0, timeout: float = 10.0, headers: dict[str, str] | None = None) -> None:
        check_url(url)
        self.url, self.retries, self.backoff, self.max_backoff, self.timeout = url, retries, backoff, max_backoff, timeout
        self.headers = {"Content-Type": "application/json", "User-Agent": "nadkit-alerts", **(headers or {})}
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self.sent = self.failed = self.dropped = self.attempts = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> WebhookSender:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="nadkit-webhook", daemon=True)
            self._thread.start()
        return self

    def send(self, doc: dict[str, Any], block: bool = False, timeout: float | None = 30.0) -> bool:
        """Queue one alert; False (and a warning) when the queue is full and it was dropped."""
        self.start()
        try:
            self.queue.put(doc, block=block, timeout=timeout if block else None)
            return True
        except queue.Full:
            with self._lock:
                self.dropped += 1
                n = self.dropped
            if n == 1 or n % 1000 == 0:
                msg = (f"webhook {self.url}: the alert queue is full ({self.queue.maxsize:,}); "
                       f"{n:,} alert(s) dropped so far")
                log.warning(msg)
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
            return False

    def send_many(self, docs: Iterable[dict[str, Any]]) -> None:
        for doc in docs:
            self.send(doc)

    def _post(self, doc: dict[str, Any]) -> None:
        body = dumps(doc).encode()
        key = str(doc.get("event", {}).get("id", alert_id(body)))
        delay = self.backoff
        for attempt in range(self.retries + 1):
            self.attempts += 1
            try:
                req = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={**self.headers, "Idempotency-Key": key})
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
                self.sent += 1
                return
            except urllib.error.HTTPError as exc:
                retry, why = exc.code >= 500 or exc.code in (408, 429), f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                retry, why = True, str(getattr(exc, "reason", exc))
            if not retry or attempt == self.retries or self._stop.wait(min(delay, self.max_backoff)):
                break
            delay *= 2
        self.failed += 1
        log.warning("webhook %s: alert %s not delivered (%s)", self.url, key, why)

    def _run(self) -> None:
        while True:
            doc = self.queue.get()
            try:
                if doc is None:
                    return
                self._post(doc)
            finally:
                self.queue.task_done()

    def close(self, timeout: float = 60.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), then stop; a warning
        names the alerts that were dropped, failed or left undelivered."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        left = self.queue.unfinished_tasks
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(None)
        self._thread.join(timeout=max(0.1, deadline - time.monotonic()))
        self._thread = None
        if self.dropped or self.failed or left:
            msg = (f"webhook {self.url}: {self.sent:,} alert(s) delivered, {self.failed:,} failed after retries, "
                   f"{self.dropped:,} dropped (queue full), {left:,} still queued at close")
            log.warning(msg)
            warnings.warn(msg, RuntimeWarning, stacklevel=2)

    def describe(self) -> str:
        return f"{self.sent:,} delivered, {self.failed:,} failed, {self.dropped:,} dropped"


# ------------------------------------------------------------------------------- the service
def stream_alerts(result: dict[str, Any], model: str, threshold: float | None, channels: Sequence[str],
                  detector: str | None = None, top: int = 5) -> list[dict[str, Any]]:
    """The alerts of one stream append (the answer of
    :meth:`nadkit.service.streams.StreamStore.append`): one per returned step labelled 1, the
    stream id as the entity, the top channels when the answer has per-channel scores. The
    idempotency key is (model, stream, step, time): a stream forgotten (or evicted) and started
    again without times reuses the keys of its first life."""
    labels = result.get("labels") or []
    hits = [i for i, flag in enumerate(labels) if flag]
    if not hits:
        return []
    entity = str(result["stream"])
    steps = np.asarray(result["steps"])
    scores = np.asarray(result["scores"], dtype=np.float64)
    limits = _step_limits(result.get("thresholds"), threshold, len(scores))
    per_channel = np.asarray(result["score"], dtype=np.float64)[hits] if "score" in result else None
    tops = _top(per_channel, [str(c) for c in channels], top) if per_channel is not None else [None] * len(hits)
    times = result.get("times")
    created = _now()
    docs = []
    for k, i in enumerate(hits):
        t = times[i] if times is not None else None
        when = None
        if isinstance(t, str):
            with contextlib.suppress(ValueError, TypeError):
                when = _iso(pd.Timestamp(t))
        step = int(steps[i])
        docs.append(_document(model=model, kind="series", score=float(scores[i]), threshold=limits[i], when=when,
                              key=alert_id(model, "stream", entity, step, t), keys={"time": t} if t is not None else {},
                              contributions=tops[k], position={"step": step}, entity=entity, detector=detector,
                              created=created))
    return docs


class ServiceAlerts:
    """The service's alert outputs: JSON lines appended to ``path`` (one line per alert,
    flushed; a long-running log, so appended rather than replaced) and/or a background
    :class:`WebhookSender` (never blocks scoring: a full queue drops with a warning)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, webhook: str | None = None,
                 max_queue: int = 10_000) -> None:
        if path is not None:
            check_alerts_path(path)
        self.path = path
        self.webhook = WebhookSender(webhook, max_queue=max_queue) if webhook else None
        self._fh: TextIO | None = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115
        self._lock = threading.Lock()

    def publish(self, docs: Sequence[dict[str, Any]]) -> None:
        if not docs:
            return
        if self._fh is not None:
            text = "".join(dumps(d) + "\n" for d in docs)
            with self._lock:
                self._fh.write(text)
                self._fh.flush()
        if self.webhook is not None:
            self.webhook.send_many(docs)

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close(timeout=10)
        if self._fh is not None:
            with self._lock:
                self._fh.close()
                self._fh = None
