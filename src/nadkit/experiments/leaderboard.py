"""Leaderboards shared by the table and series benches: compact at 80 columns, Markdown too."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: short headers, so a leaderboard fits an 80-column terminal
HEADERS = {"model": "model", "series": "series", "class": "class", "auroc": "AUROC", "auprc": "AUPRC",
           "f1": "F1", "f2": "F2", "precision": "P", "recall": "R", "tpr_at_fpr_0.01": "TPR@1%", "fit_s": "fit s",
           "score_s": "score s", "score_rows_per_s": "rows/s", "vus_pr": "VUS-PR", "vus_roc": "VUS-ROC",
           "range_f1": "rF1", "event_detection_rate": "events", "tpr_at_fpr_0.001": "TPR@.1%",
           "pauroc_0.01": "pAUC1%", "fpr": "FPR", "accuracy": "acc", "point_adjusted_f1": "PA-F1",
           "cluster_weighted_auroc": "cwAUROC", "mcc": "MCC", "n": "rows"}
_TEXT = ("model", "series", "group", "class")


def format_value(col: str, v: Any) -> str:
    """A leaderboard cell: metrics with 3 significant digits (3 decimals from 0.1 up, so a
    column lines up), counts with thousands separators, compact seconds and rows/s, – for missing.

    >>> [format_value("auroc", v) for v in (0.97512, 1.0, 0.0, 0.01234, 0.000123, 2e-6)]
    ['0.975', '1.000', '0.000', '0.0123', '0.000123', '2.00e-06']
    """
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if not isinstance(v, int | float | np.integer | np.floating) or isinstance(v, bool):
        return str(v)
    if col == "score_rows_per_s":
        return f"{v / 1e6:.1f}M" if v >= 1e6 else (f"{v / 1e3:.0f}k" if v >= 1e3 else f"{v:.0f}")
    if col.endswith("_s"):
        return f"{v:.2f}" if v < 10 else (f"{v:.1f}" if v < 100 else f"{v:,.0f}")
    if isinstance(v, int | np.integer):
        return f"{v:,}"
    a = abs(v)
    if a == 0 or 0.1 <= a < 10:
        return f"{v:.3f}"
    if 1e-4 <= a < 0.1:
        return f"{v:.{2 - math.floor(math.log10(a))}f}"
    if a < 1e-4:
        return f"{v:.2e}"
    return f"{v:.1f}" if a < 1000 else f"{v:,.0f}"


class Leaderboard:
    """A compact rich table of ``rows`` that fits the console: when its columns are wider than
    the console, they go into several tables one under the other, each repeating the name
    columns (model, series, class), so that no number is ever cut. A row with ``<metric>_sd``
    values gets a dim ``± sd`` line under it."""

    def __init__(self, rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "",
                 headers: dict[str, str] | None = None) -> None:
        self.rows, self.columns, self.title = list(rows), tuple(columns), title
        self.headers = {c: (headers or {}).get(c) or HEADERS.get(c, c) for c in self.columns}

    def table(self, columns: Sequence[str] | None = None, title: str | None = None):
        """One rich table of ``columns`` (default: all)."""
        from rich import box
        from rich.table import Table

        columns = self.columns if columns is None else tuple(columns)
        t = Table(title=self.title if title is None else title or None, box=box.SIMPLE_HEAD, padding=(0, 1),
                  collapse_padding=True, show_edge=False, title_justify="left")
        for c in columns:
            t.add_column(self.headers[c], justify="left" if c in _TEXT else "right",
                         no_wrap=c not in _TEXT, overflow="fold")
        for r in self.rows:
            t.add_row(*[format_value(c, r.get(c)) for c in columns])
            if any(r.get(f"{c}_sd") is not None for c in columns if c not in _TEXT and not c.endswith("_s")):
                t.add_row(*["  ± sd" if i == 0 else
                            ("" if c in _TEXT or c.endswith("_s") or r.get(f"{c}_sd") is None
                             else format_value(c, r[f"{c}_sd"])) for i, c in enumerate(columns)],
                          style="dim")
        return t

    def parts(self, console, options) -> list[Any]:
        """The tables that fit ``options.max_width``: all columns in one, or the value columns
        split into groups, each with the name columns."""
        from rich.measure import Measurement

        wide = options.update(width=10_000)  # (a measurement is capped at the options' width)

        def width(cols):
            return Measurement.get(console, wide, self.table(cols)).maximum

        names = [c for c in self.columns if c in _TEXT]
        values = [c for c in self.columns if c not in _TEXT]
        if width(self.columns) <= options.max_width or len(values) < 2:
            return [self.table()]
        for k in range(2, len(values) + 1):  # the fewest groups of about equal size that fit
            size, extra = divmod(len(values), k)
            bounds = np.cumsum([0] + [size + (i < extra) for i in range(k)])
            groups = [values[bounds[i]:bounds[i + 1]] for i in range(k)]
            if all(width([*names, *g]) <= options.max_width for g in groups):
                break
        return [self.table([c for c in self.columns if c in names or c in g], None if i == 0 else "")
                for i, g in enumerate(groups)]

    def __rich_console__(self, console, options):
        yield from self.parts(console, options)

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement.get(console, options, self.table())


def leaderboard_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "",
                      headers: dict[str, str] | None = None) -> Leaderboard:
    """A compact :class:`Leaderboard` of ``rows`` (readable at 80 columns)."""
    return Leaderboard(rows, columns, title, headers)


def leaderboard_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str],
                         title: str = "") -> str:
    """The same leaderboard as a Markdown table (``mean ± sd`` where a row has ``_sd`` values)."""
    head = "| " + " | ".join(HEADERS.get(c, c) for c in columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = ""
    for r in rows:
        cells = []
        for c in columns:
            cell = format_value(c, r.get(c))
            if r.get(f"{c}_sd") is not None:
                cell += f" ± {format_value(c, r[f'{c}_sd'])}"
            cells.append(cell)
        body += "| " + " | ".join(cells) + " |\n"
    return (f"## {title}\n\n" if title else "") + head + body
