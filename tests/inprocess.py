"""The console entry point run in the test's own process (a subprocess per call costs seconds of
torch/Lightning imports): exit code, stdout and stderr, as ``python -m nadkit`` would give."""

from __future__ import annotations

import contextlib
import io
import sys
from types import SimpleNamespace

import pytest


def run_nadkit(*args) -> SimpleNamespace:
    """``nadkit ARGS`` in this process → ``returncode``, ``stdout``, ``stderr`` (its whitespace
    collapsed: rich wraps messages at the console's width) and ``stderr_lines`` (as written;
    stderr is not a terminal here, so progress comes as plain lines)."""
    from nadkit import cli

    out, err, argv = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["nadkit", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exc:
            cli.main()
    finally:
        sys.argv = argv
    return SimpleNamespace(returncode=exc.value.code or 0, stdout=out.getvalue(),
                           stderr=" ".join(err.getvalue().split()), stderr_lines=err.getvalue().splitlines())
