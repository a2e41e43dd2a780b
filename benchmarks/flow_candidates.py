"""Research: candidate flow scorers vs PyOD on NSL-KDD, KDD Cup 99 and UNSW-NB15 (issue 13).

Selection protocol (written before looking at any test number): every candidate is fitted on
80 % of each dataset's training normals; the other 20 % of training normals plus the training
file's attacks (NSL-KDD: KDDTrain+, KDD Cup 99: the 10 % file) form a labelled *validation*
split. The default is the candidate with the best mean rank on validation over both labelled
datasets × the five metrics (AUROC, AUPRC, TPR@0.1 %FPR, TPR@1 %FPR, pAUROC≤1 %). UNSW-NB15 has
no training-file attacks: it never takes part in the choice and is the unseen check. Test
numbers are printed for the record; no choice reads them.

    OMP_NUM_THREADS=1 python benchmarks/flow_candidates.py [--datasets nsl-kdd,kddcup99,unsw-nb15]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from nadkit.data.preprocess import Preprocessor
from nadkit.experiments.protocols import standard_split
from nadkit.metrics import auprc, auroc
from nadkit.models import make_detector

warnings.filterwarnings("ignore")
CACHE = "results/flow-candidates"


def tpr_at(y, s, fpr):
    neg = np.sort(s[y == 0])
    k = int(np.floor(fpr * len(neg)))
    thr = neg[len(neg) - 1 - k] if k < len(neg) else neg[0]
    return float(np.mean(s[y == 1] > thr))


def metrics(y, s):
    return {"auroc": auroc(y, s), "auprc": auprc(y, s), "tpr001": tpr_at(y, s, 0.001),
            "tpr01": tpr_at(y, s, 0.01), "pauroc": float(roc_auc_score(y, s, max_fpr=0.01))}


def knn_dist(ref: np.ndarray, X: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """Sorted distances to the k nearest reference rows (exact, blocked), shape (n, k)."""
    R = torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32))
    r2 = (R * R).sum(1)
    out = np.empty((len(X), k))
    with torch.inference_mode():
        for i in range(0, len(X), block):
            Q = torch.from_numpy(np.ascontiguousarray(X[i:i + block], dtype=np.float32))
            d2 = (Q * Q).sum(1, keepdim=True) + r2[None, :] - 2 * Q @ R.T
            v = d2.clamp_min(0).topk(k, dim=1, largest=False, sorted=True).values.sqrt()
            out[i:i + block] = v.numpy()
    return out


def robust_z(cal: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """log1p, then standardise by median / MAD of the calibration normals' scores."""
    c = np.log1p(np.maximum(cal, 0))
    med = np.median(c)
    mad = np.median(np.abs(c - med)) * 1.4826 + 1e-12
    return [(np.log1p(np.maximum(a, 0)) - med) / mad for a in arrays]


def run(dataset: str, seed: int, out: dict) -> None:
    t0 = time.perf_counter()
    split = standard_split(dataset, seed=seed, validation=0.2)
    pre = Preprocessor(categorical=split.train.meta.get("categorical")).fit(split.train.X)
    Xtr = pre.transform(split.train.X)
    Xva, yva = pre.transform(split.validation.X), split.validation.y
    Xte, yte = pre.transform(split.test.X), split.test.y
    labelled_val = yva is not None and yva.sum() > 0
    rng = np.random.default_rng(seed)
    # inner calibration normals: a slice of train normals kept out of the reference sets
    perm = rng.permutation(len(Xtr))
    cal_idx, fit_idx = perm[:5000], perm[5000:]
    Xfit, Xcal = Xtr[fit_idx], Xtr[cal_idx]
    ref = Xfit[rng.choice(len(Xfit), min(20_000, len(Xfit)), replace=False)]
    print(f"{dataset}: fit {Xfit.shape}, cal {len(Xcal)}, val {Xva.shape} "
          f"({int(yva.sum()) if yva is not None else 0} attacks), test {Xte.shape}", flush=True)
    comps: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # name -> (cal, val, test)

    def add(name, fn):
        t = time.perf_counter()
        comps[name] = (fn(Xcal), fn(Xva), fn(Xte))
        print(f"  {name:18s} {time.perf_counter() - t:6.1f}s", flush=True)

    ae = make_detector("ae", random_state=seed).fit(Xfit)
    add("ae", ae.score)
    lat = lambda X: ae._batched(X, ae.net_.encode)  # noqa: E731
    lref = lat(ref)
    t = time.perf_counter()
    d = [knn_dist(ref, X, 10) for X in (Xcal, Xva, Xte)]
    print(f"  knn (k<=10)        {time.perf_counter() - t:6.1f}s", flush=True)
    for k in (1, 5, 10):
        comps[f"knn{k}"] = tuple(a[:, :k].mean(1) for a in d)
    add("lknn5", lambda X: knn_dist(lref, lat(X), 5).mean(1))
    ifo = make_detector("iforest", random_state=seed).fit(Xfit)
    add("iforest", ifo.score)
    pca = make_detector("pca").fit(Xfit)
    add("pca", pca.score)
    oc = make_detector("ocsvm").fit(Xfit)
    add("ocsvm", oc.score)

    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.ecod import ECOD
    from pyod.models.iforest import IForest
    from pyod.models.ocsvm import OCSVM
    sample = Xfit[rng.choice(len(Xfit), min(len(Xfit), 20_000), replace=False)]
    for name, m, Xf in (("PyOD AE", AutoEncoder(random_state=0, verbose=0), Xfit),
                        ("PyOD IForest", IForest(random_state=0), Xfit),
                        ("PyOD ECOD", ECOD(), Xfit), ("PyOD OCSVM", OCSVM(), sample)):
        t = time.perf_counter()
        m.fit(Xf)
        print(f"  fit {name} {time.perf_counter() - t:.1f}s", flush=True)
        add(name, m.decision_function)

    np.savez(Path(CACHE) / f"{dataset}-{seed}.npz", yva=yva if yva is not None else np.zeros(0), yte=yte,
             **{f"{n}|{i}": a for n, v in comps.items() for i, a in enumerate(v)})
    z = {n: robust_z(*v) for n, v in comps.items() if not n.startswith("PyOD")}
    combos = {"ae+knn5": ["ae", "knn5"], "ae+knn5+iforest": ["ae", "knn5", "iforest"],
              "ae+lknn5": ["ae", "lknn5"], "ae+knn5+pca": ["ae", "knn5", "pca"],
              "ae+knn5+ocsvm": ["ae", "knn5", "ocsvm"], "knn5+iforest": ["knn5", "iforest"],
              "ae+iforest": ["ae", "iforest"], "ae+knn1": ["ae", "knn1"],
              "ae+knn10": ["ae", "knn10"], "ae+lknn5+iforest": ["ae", "lknn5", "iforest"]}
    res = {}
    for name, (_, sv, st) in comps.items():
        res[name] = {"val": metrics(yva, sv) if labelled_val else None, "test": metrics(yte, st)}
    for name, parts in combos.items():
        sv = np.mean([z[p][0] for p in parts], axis=0)
        st = np.mean([z[p][1] for p in parts], axis=0)
        res["mean:" + name] = {"val": metrics(yva, sv) if labelled_val else None, "test": metrics(yte, st)}
        sv = np.max([z[p][0] for p in parts], axis=0)
        st = np.max([z[p][1] for p in parts], axis=0)
        res["max:" + name] = {"val": metrics(yva, sv) if labelled_val else None, "test": metrics(yte, st)}
    out[dataset] = res
    print(f"{dataset} done in {time.perf_counter() - t0:.0f}s", flush=True)
    hdr = f"{'candidate':26s}" + "".join(f"{k:>8s}" for k in ("auroc", "auprc", "tpr001", "tpr01", "pauroc"))
    for part in ("val", "test"):
        print(f"--- {dataset} {part}\n{hdr}")
        for name, r in res.items():
            if r[part] is not None:
                print(f"{name:26s}" + "".join(f"{r[part][k]:8.4f}" for k in ("auroc", "auprc", "tpr001", "tpr01", "pauroc")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="nsl-kdd,kddcup99,unsw-nb15")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/flow-candidates.json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    Path(CACHE).mkdir(parents=True, exist_ok=True)
    out: dict = {}
    for d in a.datasets.split(","):
        run(d, a.seed, out)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
