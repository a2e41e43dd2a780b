"""Evaluation protocols: the standard splits and the data argument, re-exported from
:mod:`nadkit.data.splits` and :mod:`nadkit.data.resolve` (where they now live) for
compatibility."""

from __future__ import annotations

from nadkit.data.resolve import resolve_data, resolve_series
from nadkit.data.splits import RAW_SPLITS, Split, standard_split

__all__ = ["RAW_SPLITS", "Split", "resolve_data", "resolve_series", "standard_split"]
