"""Errors that nadkit reports to users as one clear line (the CLI prints them without a traceback)."""

from __future__ import annotations


class NadkitError(Exception):
    """Base class of every error caused by the user's input, files or settings."""


class DataError(NadkitError, ValueError):
    """Input data is unusable: missing or unexpected columns, NaN/inf, empty, wrong shape."""


class ArtifactError(NadkitError):
    """A model directory is missing, corrupt, truncated or made by an incompatible version."""


class NotFittedError(NadkitError, AttributeError):
    """A detector, preprocessor or threshold was used before it was fitted."""


class DatasetNotFoundError(NadkitError, FileNotFoundError):
    """A dataset file is neither in the data directory nor downloadable."""
