"""Tracking hooks that library code calls unconditionally: no-ops unless a tracker is bound.

Models (e.g. a composite detector's per-cluster sub-models) and benchmark runners call
:func:`nested_run` and ``log_*`` here; nothing happens until a :class:`Tracker` is installed
with :func:`bind`. The MLflow binding lives in :mod:`nadkit.experiments.tracking` (the CLI's
``--track``), so this module, and everything below ``models/``, imports neither MLflow nor
``experiments``. The binding is held in a :class:`~contextvars.ContextVar`, so it is local to
the thread / asyncio task that opened the run.

>>> from nadkit import track
>>> with track.nested_run("cluster_0", {"k": 3}) as run_id:   # nothing bound: no-op
...     track.log_metrics({"rows": 10})
...     print(run_id, track.is_active())
None False
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, Protocol

__all__ = ["Tracker", "bind", "is_active", "log_artifacts", "log_figure", "log_history",
           "log_metrics", "log_params", "nested_run"]


class Tracker(Protocol):
    """What a tracking binding implements (each call goes to its innermost open run)."""

    def nested_run(self, name: str, params: Mapping[str, Any] | None,
                   tags: Mapping[str, Any] | None) -> AbstractContextManager[str | None]: ...
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None) -> None: ...
    def log_figure(self, fig: Any, artifact_file: str) -> None: ...
    def log_artifacts(self, path: str | os.PathLike[str], artifact_path: str | None) -> None: ...


_TRACKER: ContextVar[Tracker | None] = ContextVar("nadkit_tracker", default=None)


@contextlib.contextmanager
def bind(tracker: Tracker) -> Iterator[Tracker]:
    """Route the hooks to ``tracker`` inside the block (restores the previous binding after)."""
    token = _TRACKER.set(tracker)
    try:
        yield tracker
    finally:
        _TRACKER.reset(token)


def is_active() -> bool:
    """True while a tracker is bound (tracking is on)."""
    return _TRACKER.get() is not None


@contextlib.contextmanager
def nested_run(name: str, params: Mapping[str, Any] | None = None,
               tags: Mapping[str, Any] | None = None) -> Iterator[str | None]:
    """A child run of the active run; yields its id (None when nothing is bound)."""
    tracker = _TRACKER.get()
    if tracker is None:
        yield None
        return
    with tracker.nested_run(name, params, tags) as run_id:
        yield run_id


def log_params(params: Mapping[str, Any]) -> None:
    """(Nested) parameters of the innermost run."""
    tracker = _TRACKER.get()
    if tracker is not None and params:
        tracker.log_params(params)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """The numeric entries of ``metrics`` (nested dicts flattened) at ``step``."""
    tracker = _TRACKER.get()
    if tracker is not None:
        tracker.log_metrics(metrics, step)


def log_history(history: list[Mapping[str, Any]]) -> None:
    """Per-epoch rows (a detector's ``history_``) as metric histories with step = epoch."""
    if _TRACKER.get() is None:
        return
    for i, row in enumerate(history):
        log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=int(row.get("epoch", i)))


def log_figure(fig: Any, artifact_file: str) -> None:
    """A matplotlib figure as a PNG artifact; the figure is closed either way."""
    tracker = _TRACKER.get()
    try:
        if tracker is not None:
            tracker.log_figure(fig, artifact_file)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def log_artifacts(path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
    """A file, or a directory's files (recursively), as artifacts under ``artifact_path``."""
    tracker = _TRACKER.get()
    if tracker is not None:
        tracker.log_artifacts(path, artifact_path)
