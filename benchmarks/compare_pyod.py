"""nadkit vs PyOD on the same protocol split, in the same run, on this machine.

For each dataset: both libraries get the same preprocessed matrix (nadkit's Preprocessor fitted
on the training normals). Records AUROC, AUPRC, fit seconds and scoring rows/s from a NumPy
array, plus the fit time nadkit's AE needs to reach PyOD AutoEncoder's AUROC. Writes the
``pyod-compare`` section of docs/benchmarks.md. Quality: AUROC, AUPRC, TPR at 0.1 % and 1 % FPR,
partial AUROC (FPR ≤ 1 %). KDD Cup 99's test file (311,029 rows) is scored on a seeded uniform
100,000-row sample. The first nadkit row is the default flow model (``DEFAULT_TABLE_MODEL``).

    python benchmarks/compare_pyod.py [nsl-kdd unsw-nb15 kddcup99]
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from _common import machine, update_section
from flow_candidates import HEAD, KDD99_TEST_ROWS, METRICS, metrics

from nadkit.data.preprocess import Preprocessor
from nadkit.experiments.protocols import standard_split
from nadkit.metrics import auroc
from nadkit.models import DEFAULT_TABLE_MODEL, make_detector

warnings.filterwarnings("ignore")


def throughput(score, X: np.ndarray, rows: int) -> float:
    big = np.tile(X, (int(np.ceil(rows / len(X))), 1))[:rows] if rows > len(X) else X[:rows]
    score(big[:2000])
    best = np.inf
    for _ in range(2):
        t = time.perf_counter()
        score(big)
        best = min(best, time.perf_counter() - t)
    return len(big) / best


def pyod_models():
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.ocsvm import OCSVM

    return {"AutoEncoder": lambda: AutoEncoder(random_state=0, verbose=0),
            "IForest": lambda: IForest(random_state=0),
            "OCSVM": lambda: OCSVM(),
            "ECOD": lambda: ECOD()}


FAST = {"nadkit ae", "nadkit vae", "nadkit pca"}


def run(dataset: str) -> str:
    split = standard_split(dataset, seed=0, validation=0.0)
    test = split.test
    if dataset == "kddcup99" and len(test) > KDD99_TEST_ROWS:
        test = test.subset(np.sort(np.random.default_rng(0).choice(len(test), KDD99_TEST_ROWS, replace=False)))
    pre = Preprocessor(categorical=split.train.meta.get("categorical")).fit(split.train.X)
    Xtr, Xte, y = pre.transform(split.train.X), pre.transform(test.X), test.y
    print(f"{dataset}: train {Xtr.shape}, test {Xte.shape}", flush=True)
    rows = []

    def record(lib, name, fit_fn, score_fn):
        t = time.perf_counter()
        fit_fn()
        fit_s = time.perf_counter() - t
        s = score_fn(Xte)
        n = 1_000_000 if f"{lib} {name.split()[0]}" in FAST else len(Xte)
        rps = throughput(score_fn, Xte, n)
        m = metrics(y, s)
        rows.append((lib, name, m, fit_s, rps, n))
        print(f"  {lib:6s} {name:12s} " + " ".join(f"{k} {m[k]:.4f}" for k in METRICS)
              + f" fit {fit_s:7.1f}s score {rps:12,.0f} rows/s (on {n:,} rows)", flush=True)

    # PyOD's OCSVM is a kernel SVM on every training row (quadratic): it gets the same seeded
    # 20,000-row sample nadkit's OCSVM fits on (max_samples_fit), or it runs for hours.
    sample = Xtr[np.random.default_rng(0).choice(len(Xtr), min(len(Xtr), 20_000), replace=False)]
    for name, make in pyod_models().items():
        m, fit_rows = make(), sample if name == "OCSVM" else Xtr
        record("PyOD", name, lambda m=m, X=fit_rows: m.fit(X), lambda X, m=m: m.decision_function(X))
    names = [DEFAULT_TABLE_MODEL] + [n for n in ("pca", "iforest", "ocsvm", "ae", "vae") if n != DEFAULT_TABLE_MODEL]
    for name in names:
        det = make_detector(name)
        record("nadkit", name + (" (default)" if name == DEFAULT_TABLE_MODEL else ""),
               lambda det=det: det.fit(Xtr), det.score)

    pyod_ae = next(r for r in rows if r[0] == "PyOD" and r[1] == "AutoEncoder")
    reach = []
    for epochs in (1, 2, 3, 5, 8, 12, 20, 40, 80):
        t = time.perf_counter()
        det = make_detector("ae", epochs=epochs).fit(Xtr)
        fit_s = time.perf_counter() - t
        a = auroc(y, det.score(Xte))
        reach.append((epochs, fit_s, a))
        print(f"  nadkit ae epochs={epochs}: fit {fit_s:.1f}s AUROC {a:.4f}", flush=True)
        if a >= pyod_ae[2]["auroc"]:
            break
    md = [f"### {dataset}", "", split.description + ".", "",
          f"Train {Xtr.shape[0]:,} normal rows × {Xtr.shape[1]} features; test {Xte.shape[0]:,} rows.", "",
          "| library | model | " + " | ".join(HEAD) + " | fit s | scoring rows/s | rows scored |",
          "|---|---|" + "---|" * len(HEAD) + "---|---|---|"]
    md += [f"| {lib} | {name} | " + " | ".join(f"{m[k]:.4f}" for k in METRICS) + f" | {f:.1f} | {r:,.0f} | {n:,} |"
           for lib, name, m, f, r, n in rows]
    hit = next((r for r in reach if r[2] >= pyod_ae[2]["auroc"]), None)
    md += ["", f"Fit time for nadkit AE to reach PyOD AutoEncoder's AUROC ({pyod_ae[2]['auroc']:.4f}, fit "
               f"{pyod_ae[3]:.1f} s): " + (f"{hit[1]:.1f} s with epochs={hit[0]} (AUROC {hit[2]:.4f}), "
                                          f"{pyod_ae[3] / hit[1]:.1f}× faster." if hit else
                                          "not reached within 80 epochs."), ""]
    return "\n".join(md)


def main(datasets: list[str]) -> None:
    parts = [f"Measured by `python benchmarks/compare_pyod.py` on {machine()}, "
             f"{time.strftime('%Y-%m-%d')}. Default hyper-parameters for both libraries; "
             "scoring speed is `score`/`decision_function` on a float32 NumPy array (best of 2). "
             "Both OCSVMs fit on at most 20,000 training rows (nadkit's `max_samples_fit`; PyOD's "
             "gets the same seeded sample).", ""]
    for d in datasets or ["nsl-kdd", "unsw-nb15", "kddcup99"]:
        parts.append(run(d))
    update_section("pyod-compare", "## nadkit vs PyOD (tabular detectors)\n\n" + "\n".join(parts))


if __name__ == "__main__":
    main(sys.argv[1:])
