"""Concise progress lines for long jobs (training epochs, rows scored), fit for terminals and logs.

On a terminal a :class:`ProgressLine` redraws one line in place; anywhere else (a log file, a
pipe, a CI job) it prints plain lines, at most one every ``interval`` seconds plus the first and
the last, so a log never fills with carriage-return bars:

>>> import io
>>> buf = io.StringIO()
>>> line = ProgressLine(stream=buf, interval=3600)
>>> for k in range(1, 4):
...     line.update(f"epoch {k}/3", final=k == 3)
>>> line.close()
>>> print(buf.getvalue(), end="")
epoch 1/3
epoch 3/3
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import IO

#: seconds between two plain (non-terminal) progress lines
LOG_INTERVAL = 5.0
#: seconds between two redraws on a terminal
TTY_INTERVAL = 0.2


def duration(seconds: float) -> str:
    """``73`` → ``"1:13"``, ``3725`` → ``"1:02:05"`` (``"?"`` when not finite)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def eta(done: float, total: float | None, elapsed: float) -> str:
    """Remaining time at the average rate so far (``"?"`` without a total or any progress)."""
    if not total or done <= 0:
        return "?"
    return duration(elapsed / done * max(total - done, 0))


class ProgressLine:
    """One progress line on ``stream`` (default: the current ``sys.stderr``).

    ``update(text)`` redraws the line on a terminal (throttled to ``TTY_INTERVAL``) and prints a
    plain line elsewhere, at most one per ``interval`` seconds; ``final=True`` always prints.
    """

    def __init__(self, stream: IO[str] | None = None, interval: float = LOG_INTERVAL,
                 tty: bool | None = None) -> None:
        self._stream = stream
        self.tty = tty
        self.interval = interval
        self._last = -math.inf
        self._pending: str | None = None  # the newest text not printed yet (plain mode)
        self._drawn = False

    @property
    def stream(self) -> IO[str]:
        return self._stream if self._stream is not None else sys.stderr

    def _is_tty(self) -> bool:
        if self.tty is None:
            try:
                self.tty = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                self.tty = False
        return self.tty

    def due(self) -> bool:
        """Whether an :meth:`update` now would be drawn or printed (so a caller can skip
        building its text, e.g. a loss that needs a device sync, between two lines)."""
        wait = TTY_INTERVAL if self._is_tty() else self.interval
        return time.monotonic() - self._last >= wait

    def update(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if self._is_tty():
            if final or now - self._last >= TTY_INTERVAL:
                self._write("\r" + text + "\x1b[K")
                self._drawn, self._last = True, now
            return
        first = self._last == -math.inf
        if final or first or now - self._last >= self.interval:
            self._write(text + "\n")
            self._last, self._pending = now, None
        else:
            self._pending = text

    def message(self, text: str) -> None:
        """A line of its own (e.g. why training stopped), below the progress line."""
        self.close()
        self._write(text + "\n")

    def close(self) -> None:
        """End the line: a newline on a terminal; elsewhere the newest update not yet printed."""
        if self._is_tty():
            if self._drawn:
                self._write("\n")
                self._drawn = False
        elif self._pending is not None:
            self._write(self._pending + "\n")
            self._pending = None

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe must not end the job
            pass


def row_progress(what: str, stream: IO[str] | None = None,
                 interval: float = LOG_INTERVAL) -> tuple[Callable[..., None], ProgressLine]:
    """``(tick, line)``: ``tick(done, total)`` shows ``what: rows 12,000/1,000,000 (1.2 %) …``;
    ``tick(done, total, estimated=True)`` marks the total as an estimate (``/~1,000,000``).

    >>> import io
    >>> buf = io.StringIO()
    >>> tick, line = row_progress("scoring", stream=buf)
    >>> tick(10, 40)
    >>> buf.getvalue().split(" elapsed")[0]
    'scoring: rows 10/40 (25.0%)'
    """
    line = ProgressLine(stream, interval)
    start = time.monotonic()

    def tick(done: int, total: int | None, estimated: bool = False) -> None:
        elapsed = time.monotonic() - start
        rate = done / elapsed if elapsed > 0 else math.nan
        if total and estimated:
            total = max(total, done)  # an estimate never reads below what is done
        if total:
            text = (f"{what}: rows {done:,}/{'~' if estimated else ''}{total:,} ({done / total:.1%}) "
                    f"elapsed {duration(elapsed)} ETA {eta(done, total, elapsed)}")
        else:
            text = f"{what}: rows {done:,} elapsed {duration(elapsed)}"
        if math.isfinite(rate):
            text += f" ({rate:,.0f} rows/s)"
        line.update(text, final=bool(total) and not estimated and done >= total)

    return tick, line


#: CSV files up to this size get their rows counted exactly for the progress total (one pass
#: over the bytes, about 0.5 s per 130 MB / 1M flow rows here, < 1 % of scoring them); larger
#: ones get an estimate from the bytes per row of their first :data:`SAMPLE_BYTES`
EXACT_COUNT_BYTES = 1 << 30
SAMPLE_BYTES = 1 << 22
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


def count_csv_rows(path: str, chunk: int = 1 << 24) -> int | None:
    """Data rows of a plain CSV file (its newlines less the header), for a progress total;
    None for a compressed file or one that cannot be read (quoted newlines over-count)."""
    if str(path).lower().endswith(_COMPRESSED):
        return None
    try:
        n, last = 0, b"\n"
        with open(path, "rb") as f:
            while block := f.read(chunk):
                n += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return None
    n += last != b"\n"  # a last line without its newline
    return max(n - 1, 0)


def csv_row_total(path: str, exact_bytes: int | None = None) -> tuple[int, bool] | None:
    """``(rows, estimated)`` of a plain CSV file for a progress total: counted exactly up to
    ``exact_bytes`` (default :data:`EXACT_COUNT_BYTES`), else estimated as file size × rows per byte of the first
    :data:`SAMPLE_BYTES` (``estimated`` True); None for a compressed or unreadable file."""
    if str(path).lower().endswith(_COMPRESSED):
        return None
    try:
        size = os.path.getsize(path)
        if size <= (EXACT_COUNT_BYTES if exact_bytes is None else exact_bytes):
            n = count_csv_rows(path)
            return None if n is None else (n, False)
        with open(path, "rb") as f:
            head = f.read(SAMPLE_BYTES)
    except OSError:
        return None
    header = head.find(b"\n") + 1
    lines = head.count(b"\n") - 1
    if header <= 0 or lines <= 0:
        return None
    return round((size - header) * lines / (head.rfind(b"\n") + 1 - header)), True


@contextlib.contextmanager
def file_row_progress(what: str, data: str | None, enabled: bool = True) -> Iterator[Callable[[int, int | None], None]]:
    """Yields ``tick(rows_done, rows_total_or_None)`` for scoring ``data``: a progress line on
    stderr (in place on a terminal, plain throttled lines in a log). Without a total from the
    reader (Parquet metadata gives one), a CSV's comes from :func:`csv_row_total`, taken at
    the first tick (so a bad file fails before any counting)."""
    if not enabled:
        yield lambda done, total: None
        return
    tick, line = row_progress(what)
    known: dict[str, tuple[int, bool] | None] = {}

    def update(done: int, total: int | None) -> None:
        if total is None and data is not None:
            if "csv" not in known:
                known["csv"] = csv_row_total(data) if os.path.isfile(data) else None
            csv = known["csv"]
            if csv is not None and (csv[1] or csv[0] >= done):
                tick(done, csv[0], estimated=csv[1])
                return
        tick(done, total)

    try:
        yield update
    finally:
        line.close()


_STEPS: ContextVar[Callable[[int, int], None] | None] = ContextVar("nadkit_step_progress", default=None)


def report_steps(done: int, total: int) -> None:
    """Called by the series models' inference loops after each batch: shows progress when a
    :func:`step_progress` block is active (a no-op otherwise)."""
    tick = _STEPS.get()
    if tick is not None:
        tick(done, total)


@contextlib.contextmanager
def step_progress(what: str, enabled: bool = True, stream: IO[str] | None = None,
                  interval: float = LOG_INTERVAL) -> Iterator[None]:
    """Within the block, series inference prints ``what: steps 12,000/23,694 (pass 2) …``
    (a series model's detect runs a few passes over the steps: μ/σ, scores, flags).

    >>> import io
    >>> buf = io.StringIO()
    >>> with step_progress("scoring", stream=buf):
    ...     report_steps(5, 10); report_steps(10, 10)
    >>> [ln.split(" elapsed")[0] for ln in buf.getvalue().splitlines()]
    ['scoring: steps 5/10 (50.0%) pass 1', 'scoring: steps 10/10 (100.0%) pass 1']
    """
    if not enabled:
        yield
        return
    line = ProgressLine(stream, interval)
    start = time.monotonic()
    state = {"pass": 0, "last": math.inf}

    def tick(done: int, total: int) -> None:
        if done <= state["last"]:
            state["pass"] += 1
        state["last"] = done
        elapsed = time.monotonic() - start
        share = f" ({done / total:.1%})" if total else ""
        line.update(f"{what}: steps {done:,}/{total:,}{share} pass {state['pass']} elapsed {duration(elapsed)}",
                    final=done >= total)

    token = _STEPS.set(tick)
    try:
        yield
    finally:
        _STEPS.reset(token)
        line.close()
