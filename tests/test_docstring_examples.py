"""Every docstring example in the package runs and shows what it says: the examples are
documentation, and documentation that has drifted from the code misleads."""

import doctest
import importlib
import os
import pkgutil

import pytest

import nadkit

#: every module but the command-line entry point (importing it runs the CLI)
MODULES = sorted(m.name for m in pkgutil.walk_packages(nadkit.__path__, "nadkit.") if m.name != "nadkit.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, capsys, monkeypatch, tmp_path):
    module = importlib.import_module(name)
    monkeypatch.chdir(tmp_path)              # an example that writes files writes them here
    before = dict(os.environ)
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    finally:                                 # and what an example sets does not leak into later tests
        os.environ.clear()
        os.environ.update(before)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed:\n{capsys.readouterr().out}"
