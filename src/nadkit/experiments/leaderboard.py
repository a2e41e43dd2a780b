"""Leaderboards shared by the table and series benches: compact at 80 columns, Markdown too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: short headers, so a leaderboard fits an 80-column terminal
HEADERS = {"model": "model", "series": "series", "auroc": "AUROC", "auprc": "AUPRC", "f1": "F1",
           "f2": "F2", "precision": "P", "recall": "R", "tpr_at_fpr_0.01": "TPR@1%", "fit_s": "fit s",
           "score_s": "score s", "score_rows_per_s": "rows/s", "vus_pr": "VUS-PR", "vus_roc": "VUS-ROC",
           "range_f1": "rF1", "event_detection_rate": "events", "tpr_at_fpr_0.001": "TPR@.1%",
           "pauroc_0.01": "pAUC1%", "fpr": "FPR", "accuracy": "acc"}
_TEXT = ("model", "series", "group")


def format_value(col: str, v: Any) -> str:
    """A leaderboard cell: 3 decimals for metrics, compact seconds and rows/s, – for missing."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if not isinstance(v, int | float) or isinstance(v, bool):
        return str(v)
    if col == "score_rows_per_s":
        return f"{v / 1e6:.1f}M" if v >= 1e6 else (f"{v / 1e3:.0f}k" if v >= 1e3 else f"{v:.0f}")
    if col.endswith("_s"):
        return f"{v:.2f}" if v < 10 else (f"{v:.1f}" if v < 100 else f"{v:,.0f}")
    return f"{v:.3f}"


def leaderboard_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "",
                      headers: dict[str, str] | None = None):
    """A compact rich table of ``rows`` (readable at 80 columns); a row with ``<metric>_sd``
    values gets a dim ``± sd`` line under it."""
    from rich import box
    from rich.table import Table

    t = Table(title=title or None, box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True,
              show_edge=False, title_justify="left")
    for c in columns:
        t.add_column((headers or {}).get(c) or HEADERS.get(c, c), justify="left" if c in _TEXT else "right",
                     no_wrap=c not in _TEXT, overflow="fold")
    for r in rows:
        t.add_row(*[format_value(c, r.get(c)) for c in columns])
        if any(r.get(f"{c}_sd") is not None for c in columns if c not in _TEXT and not c.endswith("_s")):
            t.add_row(*["  ± sd" if i == 0 else
                        ("" if c in _TEXT or c.endswith("_s") or r.get(f"{c}_sd") is None
                         else format_value(c, r[f"{c}_sd"])) for i, c in enumerate(columns)],
                      style="dim")
    return t


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
