"""Choose default hyper-parameters on a validation split built from TRAINING files only.

NSL-KDD: fit on 90% of KDDTrain+ normals; validate on the other 10% + an equal number of
KDDTrain+ attacks. The test split (KDDTest+) is never read. The selection metric is the
class-balanced AUROC: the mean over attack classes (≥ 20 validation rows) of AUROC(normal vs
that class), so the dominant, easy DoS class does not decide alone; torch models are averaged
over three seeds. The defaults in nadkit are the winners.

    python benchmarks/select_defaults.py [model ...]
"""

from __future__ import annotations

import itertools
import sys
import time
import warnings

import numpy as np

from nadkit.data.preprocess import Preprocessor
from nadkit.experiments.protocols import standard_split
from nadkit.metrics import auroc
from nadkit.models import make_detector

warnings.filterwarnings("ignore")

GRIDS = {
    "pca": {"n_components": [0.8, 0.9, 0.95, 0.99]},
    "iforest": {"n_estimators": [100, 200], "max_samples": [256, 1024]},
    "ocsvm": {"nu": [0.01, 0.05, 0.1], "gamma": ["scale", 0.3, 1.0, 3.0]},
    "ae": {"dropout": [0.0, 0.1], "latent": [4, 8, 16], "lr": [1e-3, 3e-3]},
    "vae": {"beta": [1.0, 0.1, 0.01], "latent": [8, 16]},
}


def main(models: list[str]) -> None:
    split = standard_split("nsl-kdd", seed=0, validation=0.1)
    pre = Preprocessor(categorical=split.train.meta.get("categorical")).fit(split.train.X)
    X_train = pre.transform(split.train.X)
    X_val, y_val = pre.transform(split.validation.X), split.validation.y
    print(f"train normals {len(X_train)}, validation {len(y_val)} ({int(y_val.sum())} attacks from KDDTrain+)")
    for name in models or list(GRIDS):
        grid = GRIDS[name]
        results = []
        seeds = (0, 1, 2) if name in ("ae", "vae") else (0,)
        for values in itertools.product(*grid.values()):
            params = dict(zip(grid, values, strict=True))
            t = time.perf_counter()
            plain, balanced = [], []
            for seed in seeds:
                kw = {**params, "random_state": seed} if "random_state" in make_detector(name).get_params() else params
                s = make_detector(name, **kw).fit(X_train).score(X_val)
                plain.append(auroc(y_val, s))
                balanced.append(class_balanced_auroc(y_val, s, split.validation.attack))
            results.append((np.mean(balanced), params))
            print(f"  {name} {params}: class-balanced AUROC {np.mean(balanced):.4f}, AUROC {np.mean(plain):.4f}"
                  f" ({time.perf_counter() - t:.1f}s)", flush=True)
        best = max(results, key=lambda r: r[0])
        print(f"BEST {name}: {best[1]} class-balanced validation AUROC {best[0]:.4f}", flush=True)


def class_balanced_auroc(y, scores, attack, min_rows: int = 20) -> float:
    normal = y == 0
    values = []
    for cls in np.unique(attack[y == 1]):
        mask = attack == cls
        if mask.sum() >= min_rows:
            keep = normal | mask
            values.append(auroc(y[keep], scores[keep]))
    return float(np.mean(values))


if __name__ == "__main__":
    main(sys.argv[1:])
