"""The import graph of the ``nadkit`` package is acyclic at module granularity.

Every module is parsed with ``ast`` (nothing is imported): module-level imports and lazy ones
inside functions count alike; ``if TYPE_CHECKING:`` blocks do not (they never run). An edge goes
to the most specific nadkit module named: ``from nadkit.models import ae`` → ``nadkit.models.ae``,
``from nadkit.models import REGISTRY`` → ``nadkit.models`` (the package's ``__init__``). The
implicit import of parent packages is not an edge (every submodule would otherwise depend on its
package's ``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import nadkit

ROOT = Path(nadkit.__file__).parent

#: cycles that are known and waiting for a fix; this list may only shrink
KNOWN_CYCLES: list[list[str]] = []


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
                or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def import_graph() -> dict[str, set[str]]:
    """Module → the nadkit modules it imports (anywhere in its body)."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_checking_nodes(tree)
        package = name if is_pkg else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolved against this module's package
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, node.module] if node.module else base)
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:
                        deps.add(sub)
                    elif target in mods:
                        deps.add(target)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path ``a → … → a``) per strongly connected component with a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan; the package is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_path_within(graph, set(c), c[0]) for c in components]


def _path_within(graph: dict[str, set[str]], comp: set[str], start: str) -> list[str]:
    """A shortest cycle through ``start`` inside one component (breadth-first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def test_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert len(graph) > 50
    # a lazy import inside a CLI function, a relative import in a package
    assert "nadkit.data.resolve" in graph["nadkit.cli"]
    assert {"nadkit.models.base", "nadkit.models.registry"} <= graph["nadkit.models"]
    assert "nadkit.models" not in graph["nadkit.track"]


def test_cycle_finder_reports_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_is_acyclic():
    found = cycles(import_graph())
    unknown = [c for c in found if sorted(set(c)) not in [sorted(set(k)) for k in KNOWN_CYCLES]]
    assert not unknown, "import cycles: " + "; ".join(" → ".join(c) for c in unknown)
    # a fixed cycle must leave KNOWN_CYCLES too (the list only shrinks)
    stale = [k for k in KNOWN_CYCLES if sorted(set(k)) not in [sorted(set(c)) for c in found]]
    assert not stale, f"remove fixed cycles from KNOWN_CYCLES: {stale}"


def test_models_do_not_import_experiments():
    graph = import_graph()
    offenders = {m: sorted(d for d in deps if d.startswith("nadkit.experiments"))
                 for m, deps in graph.items() if m.startswith("nadkit.models")}
    assert not {m: d for m, d in offenders.items() if d}


def test_cli_model_help_names_every_registered_model():
    from typer.testing import CliRunner

    from nadkit.cli import MODEL_NAMES, app
    from nadkit.models import REGISTRY

    assert sorted(MODEL_NAMES) == sorted(REGISTRY)
    for verb in ("train", "bench"):
        shown = CliRunner().invoke(app, [verb, "--help"], env={"COLUMNS": "400"}).output
        assert all(name in shown for name in REGISTRY), (verb, shown)


def test_table_models_and_the_cli_do_not_import_torch():
    """Detector classes are imported on first use (``nadkit.models.__getattr__``, the registry's
    import paths): reading a table, the CLI and a PCA model never pay for torch."""
    import subprocess
    import sys

    code = ("import sys, nadkit.cli, nadkit.artifact, nadkit.pipeline\n"
            "from nadkit.models import PCA, make_detector\n"
            "make_detector('pca'); make_detector('ensemble'); assert 'torch' not in sys.modules\n"
            "from nadkit.models import AE\n"
            "assert 'torch' in sys.modules and AE.__module__ == 'nadkit.models.ae'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_loading_table_artifacts_does_not_import_torch(tmp_path, nsl_small):
    """Each detector declares its own state files (``state_files()``), so loading a table
    artifact imports only its detector's modules: a PCA or knn+pca ensemble never imports
    torch, an IForest or knn+ocsvm ensemble no torch detector. (skops itself imports torch
    when installed: ``import skops.io`` walks every scikit-learn module, array_api_compat's
    torch wrapper included, so there only nadkit's own modules can be checked.)"""
    import subprocess
    import sys

    from nadkit import artifact
    from nadkit.models import make_detector
    from nadkit.pipeline import Pipeline

    X = nsl_small["X_train"][:2000]
    dirs = {}
    for key, name, params in [("pca", "pca", {}), ("knn+pca", "ensemble", {"members": ("knn", "pca")}),
                              ("iforest", "iforest", {"n_estimators": 20}),
                              ("knn+ocsvm", "ensemble", {"members": ("knn", "ocsvm")})]:
        if name == "ensemble":
            params["calibration_rows"] = 400
        pipe = Pipeline(make_detector(name, **params), nsl_small["pre"])
        pipe.detector.fit(X)
        dirs[key] = str(artifact.save(pipe, tmp_path / key.replace("+", "-")))
    allowed = {f"nadkit.models.{m}" for m in ("base", "registry", "pca", "knn", "sklearn_models", "ensemble")}
    code = ("import sys, numpy as np\nfrom nadkit import artifact\n"
            "def check(d):\n"
            f"    assert np.isfinite(artifact.load(d).detector.score(np.zeros((3, {X.shape[1]})))).all()\n"
            f"check({dirs['pca']!r}); check({dirs['knn+pca']!r})\n"
            "assert 'torch' not in sys.modules, 'torch imported by a pca / knn+pca model'\n"
            f"check({dirs['iforest']!r}); check({dirs['knn+ocsvm']!r})\n"
            "models = {m for m in sys.modules if m.startswith('nadkit.models.')}\n"
            f"assert models <= {allowed!r}, sorted(models - {allowed!r})\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_every_registered_detector_declares_its_state_files():
    from nadkit.models import REGISTRY, make_detector

    for name in REGISTRY:
        required, optional = make_detector(name).state_files()
        assert required and not required & optional, name
        assert all(isinstance(f, str) and "/" not in f for f in required | optional), name
