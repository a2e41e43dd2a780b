"""Shared fixtures: the real datasets (read in place from NADKIT_DATA) and small subsets."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
if "NADKIT_DATA" not in os.environ and SHARED.is_dir():
    os.environ["NADKIT_DATA"] = str(SHARED)
os.environ.setdefault("MPLBACKEND", "Agg")
if "PYTEST_XDIST_WORKER" in os.environ:  # `pytest -n 2`: one thread per worker, no oversubscription
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ.get("NADKIT_DATA", ""))
    if not (root / "nsl_kdd").is_dir():
        pytest.fail(f"real datasets not found in NADKIT_DATA={root!s}; point it at shared/datasets")
    return root


@pytest.fixture(scope="session")
def nsl(data_root):
    """NSL-KDD train (all rows) and test, loaded once."""
    from nadkit.data import load_dataset

    return load_dataset("nsl-kdd", "train"), load_dataset("nsl-kdd", "test")


@pytest.fixture(scope="session")
def nsl_small(nsl):
    """A small real subset: 8,000 training normals and 3,000 test rows (seeded), preprocessed."""
    from nadkit.data import Preprocessor

    train, test = nsl
    rng = np.random.default_rng(0)
    normals = train.normal()
    tr = normals.subset(np.sort(rng.choice(len(normals), 8000, replace=False)))
    te = test.subset(np.sort(rng.choice(len(test), 3000, replace=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre = Preprocessor(categorical=train.meta["categorical"]).fit(tr.X)
        return {"train": tr, "test": te, "pre": pre, "X_train": pre.transform(tr.X),
                "X_test": pre.transform(te.X), "y_test": te.y}


@pytest.fixture
def nsl_csv(tmp_path, nsl):
    """A user's CSV: 3,000 labelled KDDTrain+ rows (normal + attacks) with a 'label' column."""
    train, _ = nsl
    rng = np.random.default_rng(1)
    sub = train.subset(np.sort(rng.choice(len(train), 3000, replace=False)))
    df = sub.X.copy()
    df["label"] = sub.attack
    path = tmp_path / "flows.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def spark():
    """One real local Spark (2 cores) for the whole test session: its start-up is slow."""
    from nadkit.spark import session

    conf = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
            "spark.driver.memory": "1g", "spark.python.worker.reuse": "true"}
    with session("local[2]", "nadkit-tests", conf) as s:
        s.sparkContext.setLogLevel("ERROR")
        yield s
