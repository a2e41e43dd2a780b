"""The thesis protocol (seeds-spec §4.2–4.3): its splits, its semi-supervised cross-validation,
hyper-parameter selection on validation folds only, and the final test runs.

Splits (``thesis_split``; seed 42 as in the thesis; anomalies drawn stratified by attack class):

* ``kddcup99``: validation = 125,218 anomalies of the 10% file + 30,296 of its normals (the
  corrected test's normal:anomaly ratio 60,593 : 250,436); train = the other 66,982 normals;
  test = ``corrected`` (311,029 rows, test-only attack types are attacks).
* ``unsw-nb15``: the thesis trains on the official 175,341-row training set and tests on the
  82,332-row testing set, but only the 82,332-row file is on disk. Adaptation: its 37,000
  normals are split in the thesis' normal proportions test : validation : train =
  37,000 : 10,000 : 46,000 (14,720 : 3,978 : 18,302); test and validation get anomalies in the
  official test ratio 45,332 : 37,000 (18,035 and 4,874, stratified by ``attack_cat``); the
  other 22,423 anomalies are not used (the thesis also leaves most training anomalies unused).
* ``ctu13:<scenario>`` (08, 09, 10, 13): the thesis' fixed sizes (test anomalies, test
  normals, train normals); validation anomalies = min(remaining anomalies, test anomalies),
  validation normals = test normals × (validation / test anomalies), capped by what is left.
  Background and Normal flows are both normal (label 0). Any other sizes can be given.

Preprocessing (``thesis_preprocessor``): one-hot categoricals and z-score scaling fitted on
the training rows of whatever split is used (the thesis' median imputer has nothing to do:
nadkit rejects NaN/inf). ``preprocessing="thesis"`` is exactly that; ``"log"`` (the default of
:func:`run_thesis_cv`) first applies log1p to the heavy-tailed non-negative columns (bytes,
packets, rates > 1), which raised CAE's validation AUROC on UNSW-NB15 fold 0 from 0.890 to
0.914 (chosen on validation data; the test split was not looked at).

Cross-validation (``cv_folds``): pool P = train normals ∪ validation normals, A = validation
anomalies, n_v = number of validation normals. Fold f draws n_v normals of P at random
(seed + f) for validation; the rest train. Validation = those normals ∪ all of A in every fold.
``disjoint=True`` instead cuts one permutation of P into K disjoint validation blocks.

Selection (``run_thesis_cv``): for each model, each configuration of a small grid is fitted on
every fold's training normals and scored on the fold's validation rows; the configuration with
the best mean validation AUROC is chosen, then the threshold quantile q (of the model's
held-out *training* scores) with the best mean validation MCC. Test labels are used only for
the final report: the chosen configuration is refitted on all of P (the thesis' train_test
strategy) for each seed and evaluated on the test split.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadkit import plots
from nadkit.data.container import TableData
from nadkit.data.loaders import load_dataset, read_ctu13
from nadkit.data.preprocess import Preprocessor, UnknownCategoryWarning
from nadkit.errors import DataError
from nadkit.evaluation import score_metrics, table_metrics
from nadkit.experiments import tracking
from nadkit.io import atomic_path, write_json
from nadkit.metrics import mcc
from nadkit.models import make_detector

THESIS_SEED = 42
#: CTU-13 sizes (test anomalies, test normals, train normals) per scenario (thesis §4.2)
CTU13_SIZES = {"8": (3_677, 43_694, 29_128), "9": (110_993, 17_981, 11_986),
               "10": (63_812, 9_509, 6_338), "13": (24_002, 19_164, 12_775)}
#: threshold quantiles swept on the validation folds (MCC), as in the thesis' tuning
QUANTILES = (0.8, 0.9, 0.95, 0.98, 0.99, 0.995)


@dataclass
class ThesisSplit:
    """Training normals, labelled validation (normals + anomalies) and the test split."""

    train: TableData
    val: TableData
    test: TableData
    description: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val_normal": int((self.val.y == 0).sum()),
                "val_anomaly": int(self.val.y.sum()), "test_normal": int((self.test.y == 0).sum()),
                "test_anomaly": int(self.test.y.sum())}


# ---------------------------------------------------------------------------------- splits
def stratified_sample(idx: np.ndarray, groups: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of the positions ``idx``, allocated to ``groups[idx]`` in proportion (largest
    remainder), each group's share drawn at random. Returns sorted positions.

    >>> g = np.array(["a"] * 80 + ["b"] * 20)
    >>> s = stratified_sample(np.arange(100), g, 10, np.random.default_rng(0))
    >>> len(s), int((g[s] == "b").sum())
    (10, 2)
    """
    if n > len(idx):
        raise DataError(f"cannot draw {n} rows from {len(idx)}")
    names, inverse, counts = np.unique(groups[idx], return_inverse=True, return_counts=True)
    exact = counts * n / len(idx)
    take = np.floor(exact).astype(int)
    extra = n - take.sum()
    take[np.argsort(-(exact - take), kind="stable")[:extra]] += 1
    chosen = [rng.choice(idx[inverse == g], take[g], replace=False) for g in range(len(names))]
    return np.sort(np.concatenate(chosen)) if chosen else idx[:0]


def _concat(parts: Sequence[TableData], name: str) -> TableData:
    def cat(attr):
        vals = [getattr(p, attr) for p in parts]
        return None if any(v is None for v in vals) else np.concatenate(vals)

    return TableData(pd.concat([p.X for p in parts], ignore_index=True), y=cat("y"),
                     attack=cat("attack"), time=cat("time"), name=name, meta=dict(parts[0].meta))


def _val_and_train(data: TableData, n_val_anomaly: int, n_val_normal: int, n_train: int | None,
                   rng: np.random.Generator, exclude: np.ndarray | None = None) -> tuple[TableData, TableData]:
    """Validation (stratified anomalies + random normals) and training normals from ``data``."""
    free = np.ones(len(data), bool)
    if exclude is not None:
        free[exclude] = False
    anomalies = np.flatnonzero(free & (data.y == 1))
    normals = rng.permutation(np.flatnonzero(free & (data.y == 0)))
    val_a = stratified_sample(anomalies, data.attack.astype(str), n_val_anomaly, rng)
    val_n = np.sort(normals[:n_val_normal])
    rest = normals[n_val_normal:]
    train = np.sort(rest if n_train is None else rest[:n_train])
    val = _concat([data.subset(val_n), data.subset(val_a)], name=f"{data.name} validation")
    return val, data.subset(train, name=f"{data.name} train normals")


def kdd_split(seed: int = THESIS_SEED) -> ThesisSplit:
    """KDD Cup 99: validation and train from the 10% file, test = corrected (see module notes)."""
    source, test = load_dataset("kddcup99", "train"), load_dataset("kddcup99", "test")
    n_val_anomaly = 125_218
    n_val_normal = n_val_anomaly * int((test.y == 0).sum()) // int(test.y.sum())
    val, train = _val_and_train(source, n_val_anomaly, n_val_normal, None, np.random.default_rng(seed))
    return ThesisSplit(train, val, test, "kddcup99 (thesis): validation = 125,218 anomalies "
                       f"(stratified) + {n_val_normal:,} normals of the 10% file, train = the other "
                       f"{len(train):,} normals, test = corrected ({len(test):,} rows)")


def unsw_split(seed: int = THESIS_SEED) -> ThesisSplit:
    """UNSW-NB15 from the one 82,332-row file on disk (adaptation: see module notes)."""
    data = load_dataset("unsw-nb15", "all")
    rng = np.random.default_rng(seed)
    normals = rng.permutation(np.flatnonzero(data.y == 0))
    n = len(normals)
    n_test_n, n_val_n = round(n * 37_000 / 93_000), round(n * 10_000 / 93_000)
    ratio = 45_332 / 37_000
    test_n = normals[:n_test_n]
    test_a = stratified_sample(np.flatnonzero(data.y == 1), data.attack.astype(str),
                               round(n_test_n * ratio), rng)
    test_rows = np.sort(np.concatenate([test_n, test_a]))
    val, train = _val_and_train(data, round(n_val_n * ratio), n_val_n, None, rng, exclude=test_rows)
    test = data.subset(test_rows, name="unsw-nb15 test")
    return ThesisSplit(train, val, test, "unsw-nb15 (thesis proportions on the 82,332-row file): "
                       f"train {len(train):,} normals; validation {int((val.y == 0).sum()):,} normals + "
                       f"{int(val.y.sum()):,} anomalies; test {int((test.y == 0).sum()):,} normals + "
                       f"{int(test.y.sum()):,} anomalies (stratified by attack_cat)")


def ctu13_split(data: TableData, sizes: tuple[int, int, int], seed: int = THESIS_SEED) -> ThesisSplit:
    """CTU-13 from one scenario's flows (``read_ctu13``) with (test anomalies, test normals,
    train normals) = ``sizes``."""
    n_test_a, n_test_n, n_train = sizes
    have_a, have_n = int(data.y.sum()), int((data.y == 0).sum())
    if n_test_a > have_a or n_test_n + n_train > have_n:
        raise DataError(f"{data.name}: needs {n_test_a:,} botnet and {n_test_n + n_train:,} normal "
                        f"flows, has {have_a:,} and {have_n:,}")
    rng = np.random.default_rng(seed)
    test_a = rng.choice(np.flatnonzero(data.y == 1), n_test_a, replace=False)
    normals = rng.permutation(np.flatnonzero(data.y == 0))
    test_rows = np.sort(np.concatenate([test_a, normals[:n_test_n]]))
    train_rows = np.sort(normals[n_test_n:n_test_n + n_train])
    n_val_a = min(have_a - n_test_a, n_test_a)
    n_val_n = min(have_n - n_test_n - n_train, round(n_test_n * n_val_a / n_test_a))
    val, _ = _val_and_train(data, n_val_a, n_val_n, 0, rng,
                            exclude=np.concatenate([test_rows, train_rows]))
    train = data.subset(train_rows, name=f"{data.name} train normals")
    test = data.subset(test_rows, name=f"{data.name} test")
    return ThesisSplit(train, val, test, f"{data.name} (thesis sizes {sizes}): train {len(train):,} "
                       f"normals; validation {n_val_n:,} + {n_val_a:,} botnet; test {n_test_n:,} + "
                       f"{n_test_a:,} botnet")


def thesis_split(dataset: str, seed: int = THESIS_SEED) -> ThesisSplit:
    """``kddcup99``, ``unsw-nb15`` or ``ctu13:<scenario>`` (from the data directory)."""
    name, _, part = dataset.lower().replace("_", "-").partition(":")
    if name == "kddcup99":
        return kdd_split(seed)
    if name == "unsw-nb15":
        return unsw_split(seed)
    if name == "ctu13":
        key = part.lstrip("0")
        if key not in CTU13_SIZES:
            raise DataError(f"the thesis used CTU-13 scenarios {sorted(CTU13_SIZES)}, got {part!r}")
        return ctu13_split(load_dataset("ctu13", key), CTU13_SIZES[key], seed)
    raise DataError(f"the thesis protocol covers kddcup99, unsw-nb15 and ctu13:<scenario>, not {dataset!r}")


def ctu13_file_split(path: str | Path, sizes: tuple[int, int, int], seed: int = THESIS_SEED) -> ThesisSplit:
    """:func:`ctu13_split` of a ``.binetflow`` file."""
    return ctu13_split(read_ctu13(path), sizes, seed)


PREPROCESSING = ("log", "thesis")


def thesis_preprocessor(data: TableData, preprocessing: str = "thesis") -> Preprocessor:
    """One-hot + z-score fitted on ``data``; ``"log"`` adds log1p on heavy-tailed counts."""
    if preprocessing not in PREPROCESSING:
        raise DataError(f"preprocessing must be one of {PREPROCESSING}, got {preprocessing!r}")
    return Preprocessor(categorical=data.meta.get("categorical"),
                        log_transform="auto" if preprocessing == "log" else False,
                        scaling="standard").fit(data.X)


# ------------------------------------------------------------------------- cross-validation
@dataclass
class Fold:
    """Fold ``index``: training normals and validation rows (normals + all anomalies)."""

    index: int
    train: TableData
    val: TableData
    val_normal_rows: np.ndarray  # positions in the normal pool


def cv_folds(split: ThesisSplit, n_folds: int = 3, seed: int = 0, disjoint: bool = False) -> list[Fold]:
    """The thesis' semi-supervised CV (normals re-drawn per fold, every validation anomaly in
    every fold), or disjoint validation blocks of normals with ``disjoint=True``."""
    if n_folds < 2:
        raise DataError(f"cross-validation needs at least 2 folds, got {n_folds}")
    val_normal = split.val.subset(split.val.y == 0)
    anomalies = split.val.subset(split.val.y == 1)
    pool = _concat([split.train, val_normal], name=f"{split.train.name} + validation normals")
    n_v = len(val_normal)
    if disjoint:
        n_v = min(n_v, len(pool) // n_folds)
        perm = np.random.default_rng(seed).permutation(len(pool))
        blocks = [perm[f * n_v:(f + 1) * n_v] for f in range(n_folds)]
    else:
        blocks = [np.random.default_rng(seed + f).permutation(len(pool))[:n_v] for f in range(n_folds)]
    folds = []
    for f, block in enumerate(blocks):
        mask = np.zeros(len(pool), bool)
        mask[block] = True
        val = _concat([pool.subset(mask), anomalies], name=f"fold {f} validation")
        folds.append(Fold(f, pool.subset(~mask, name=f"fold {f} train"), val, np.sort(block)))
    return folds


def normal_pool(split: ThesisSplit) -> TableData:
    """All normals of train ∪ validation (the thesis' train_test training set)."""
    return _concat([split.train, split.val.subset(split.val.y == 0)], name="train + validation normals")


# ------------------------------------------------------------------------------- selection
#: hyper-parameters shared by the four models in the protocol
BASE_PARAMS: dict[str, Any] = {"hidden": (256, 64), "latent": 9, "batch_size": 1024}
#: the small grids searched on the validation folds
GRIDS: dict[str, list[dict[str, Any]]] = {
    "sae": [{"head": "cen"}, {"head": "lof"}, {"head": "ocsvm"}],
    "cae": [{"n_clusters": 2}, {"n_clusters": 4}],
    "ksae": [{"n_clusters": 2, "head": "cen"}, {"n_clusters": 2, "head": "lof"}],
    "bae": [{"n_clusters": 2}, {"n_clusters": 4}],
}


#: the name this helper had here
evaluate_scores = score_metrics


def _fit_eval(model: str, params: dict[str, Any], train: TableData, evals: dict[str, TableData],
              preprocessing: str = "log") -> tuple[Any, float, dict[str, dict[str, Any]]]:
    pre = thesis_preprocessor(train, preprocessing)
    det = make_detector(model, **params)
    t = time.perf_counter()
    det.fit(pre.transform(train.X))
    fit_s = time.perf_counter() - t
    results = {}
    for key, data in evals.items():
        with warnings.catch_warnings():  # unseen categories in validation/test are expected
            warnings.simplefilter("ignore", UnknownCategoryWarning)
            X = pre.transform(data.X)
        scores = det.score(X)
        clusters = det.assign_clusters(X) if det.has_tag("clusters") else None
        results[key] = {"scores": scores, "clusters": clusters,
                        **score_metrics(data.y, scores, clusters)}
    return det, fit_s, results


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values, float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def run_thesis_cv(dataset: str | ThesisSplit, models: Sequence[str], out_dir: str | Path,
                  seeds: Sequence[int] = (0, 1, 2), n_folds: int = 3, disjoint: bool = False,
                  grids: dict[str, list[dict[str, Any]]] | None = None,
                  params: dict[str, dict[str, Any]] | None = None, preprocessing: str = "log",
                  on_progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Select each model's configuration and threshold quantile on the CV folds, then report
    the test metrics of the chosen configuration over ``seeds`` (mean ± std).

    ``params[model]`` overrides :data:`BASE_PARAMS` for every configuration of that model;
    ``grids`` replaces :data:`GRIDS`; ``preprocessing`` is "log" or "thesis" (module notes).
    Writes ``results.json``, ``leaderboard.md``, ``cv_auroc.png`` and ``test_roc_pr.png`` under
    ``out_dir``, updated after each model (a long run leaves the finished models' results).
    """
    say = on_progress or (lambda _m: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = dataset if isinstance(dataset, ThesisSplit) else thesis_split(dataset)
    name = dataset if isinstance(dataset, str) else split.train.name
    folds = cv_folds(split, n_folds, seed=seeds[0], disjoint=disjoint)
    pool = normal_pool(split)
    say(f"{split.description}; {n_folds} {'disjoint ' if disjoint else ''}CV folds")
    grids = grids or GRIDS
    thesis_preprocessor(split.train.subset(slice(0, 2)), preprocessing)  # check the name early
    report: dict[str, Any] = {"dataset": name, "protocol": split.description, "sizes": split.sizes(),
                              "preprocessing": preprocessing,
                              "folds": n_folds, "disjoint": disjoint, "seeds": list(seeds),
                              "selection": "configuration: best mean validation AUROC over folds; "
                                           "threshold quantile (of held-out training scores): best "
                                           "mean validation MCC", "models": {}}
    curves = {}
    for model in models:
        base = {**BASE_PARAMS, **(params or {}).get(model, {})}
        with tracking.nested_run(model, {"model": model, **base, "grid": grids.get(model)}):
            grid = grids.get(model) or [{}]
            cv = []
            for ci, cfg in enumerate(grid):
                fold_rows = []
                for fold in folds:
                    with tracking.nested_run(f"config {ci} fold {fold.index}", {**cfg, "fold": fold.index}):
                        det, fit_s, res = _fit_eval(model, {**base, **cfg, "random_state": seeds[0]},
                                                    fold.train, {"val": fold.val}, preprocessing)
                        r = res["val"]
                        tracking.log_metrics({f"val_{k}": v for k, v in r.items() if k not in ("scores", "clusters")})
                    mccs = {q: mcc(fold.val.y, r["scores"] > np.quantile(det.calibration_scores_, q))
                            for q in QUANTILES}
                    fold_rows.append({"fold": fold.index, "fit_s": fit_s, "mcc": mccs,
                                      **{k: v for k, v in r.items() if k not in ("scores", "clusters")}})
                    say(f"{model} config {ci} {cfg} fold {fold.index}: val AUROC {r['auroc']:.4f} "
                        f"(fit {fit_s:.0f}s)")
                m, s = _mean_std([row["auroc"] for row in fold_rows])
                cv.append({"config": cfg, "val_auroc_mean": m, "val_auroc_std": s, "folds": fold_rows})
            best = max(range(len(cv)), key=lambda i: cv[i]["val_auroc_mean"])
            q_best = max(QUANTILES, key=lambda q: np.mean([row["mcc"][q] for row in cv[best]["folds"]]))
            chosen = {**base, **cv[best]["config"]}
            say(f"{model}: chose {cv[best]['config']} (val AUROC {cv[best]['val_auroc_mean']:.4f}), q={q_best}")
            runs = []
            for seed in seeds:
                with tracking.nested_run(f"test seed {seed}", {"random_state": seed, "quantile": q_best}):
                    det, fit_s, res = _fit_eval(model, {**chosen, "random_state": seed}, pool,
                                                {"test": split.test}, preprocessing)
                    r = res["test"]
                    thr = float(np.quantile(det.calibration_scores_, q_best))
                    rep = table_metrics(split.test.y, r["scores"], threshold=thr)
                    tracking.log_metrics({**{k: rep[k] for k in ("auroc", "auprc", "f1", "mcc")},
                                          "fit_s": fit_s, "threshold": thr,
                                          **{k: r[k] for k in ("cluster_weighted_auroc",) if k in r}})
                runs.append({"seed": seed, "fit_s": fit_s, "threshold": thr,
                             **{k: rep[k] for k in ("auroc", "auprc", "tpr_at_fpr_0.01", "precision",
                                                    "recall", "f1", "mcc", "accuracy")},
                             **({"cluster_weighted_auroc": r["cluster_weighted_auroc"]}
                                if "cluster_weighted_auroc" in r else {})})
                if seed == seeds[0]:
                    curves[model] = (split.test.y, r["scores"])
                say(f"{model} seed {seed}: test AUROC {r['auroc']:.4f}"
                    + (f", cluster-weighted {r['cluster_weighted_auroc']:.4f}" if r.get("clusters") is not None else "")
                    + f" (fit {fit_s:.0f}s)")
            summary = {k: _mean_std([run[k] for run in runs]) for k in runs[0] if k not in ("seed", "threshold")}
            report["models"][model] = {"chosen": _jsonable(chosen), "quantile": q_best, "cv": cv,
                                       "test_runs": runs, "test": summary}
            tracking.log_params({"chosen": _jsonable(cv[best]["config"]), "quantile": q_best})
            tracking.log_metrics({f"test_{k}_mean": v[0] for k, v in summary.items()})
        _write_report(report, curves, out, f"{name}: test split (seed {seeds[0]})")  # after each model
    return report


def _write_report(report: dict[str, Any], curves: dict[str, Any], out: Path, title: str) -> None:
    write_json(out / "results.json", report)
    with atomic_path(out / "leaderboard.md") as tmp:
        tmp.write_text(results_markdown(report))
    if curves:
        plots.save(plots.roc_pr(curves, title=title), out / "test_roc_pr.png")
        plots.save(cv_plot(report), out / "cv_auroc.png")


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _pm(pair: tuple[float, float] | None, digits: int = 4, spread: bool = True) -> str:
    if pair is None or not math.isfinite(pair[0]):
        return "–"
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}" if spread else f"{pair[0]:.{digits}f}"


def results_markdown(report: dict[str, Any]) -> str:
    """The test table (mean ± std over seeds) and the CV table (mean ± std over folds)."""
    lines = [f"Protocol: {report['protocol']}; preprocessing: {report['preprocessing']}.", "",
             f"Selection on {report['folds']} {'disjoint ' if report['disjoint'] else ''}validation "
             f"folds: {report['selection']}. Test: "
             + (f"mean ± std over seeds {report['seeds']}" if len(report["seeds"]) > 1 else
                f"one seed ({report['seeds'][0]})") + ".", "",
             "| model | chosen | global AUROC | cluster-weighted AUROC | AUPRC | TPR@1%FPR | F1 | MCC | fit s |",
             "|---|---|---|---|---|---|---|---|---|"]
    several = len(report["seeds"]) > 1  # one seed: no spread to show
    for model, m in report["models"].items():
        t = m["test"]
        cfg = ", ".join(f"{k}={v}" for k, v in m["chosen"].items() if k not in BASE_PARAMS) or "defaults"
        cells = [_pm(t.get(k), spread=several) for k in ("auroc", "cluster_weighted_auroc", "auprc",
                                                         "tpr_at_fpr_0.01", "f1", "mcc")]
        lines.append(f"| {model} | {cfg}, q={m['quantile']} | {' | '.join(cells)} | {t['fit_s'][0]:.0f} |")
    lines += ["", "Validation folds (global AUROC, mean ± std over folds):", "",
              "| model | configuration | validation AUROC |", "|---|---|---|"]
    for model, m in report["models"].items():
        for c in m["cv"]:
            cfg = ", ".join(f"{k}={v}" for k, v in c["config"].items()) or "defaults"
            lines.append(f"| {model} | {cfg} | {_pm((c['val_auroc_mean'], c['val_auroc_std']))} |")
    return "\n".join(lines) + "\n"


def cv_plot(report: dict[str, Any]):
    """Validation AUROC (mean ± std over folds) of every configuration, per model."""
    import matplotlib.pyplot as plt

    labels, means, stds = [], [], []
    for model, m in report["models"].items():
        for i, c in enumerate(m["cv"]):
            labels.append(f"{model}#{i}")
            means.append(c["val_auroc_mean"])
            stds.append(c["val_auroc_std"])
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(labels)), 4))
    ax.bar(labels, means, yerr=stds, color="tab:blue", capsize=3)
    ax.set_ylim(max(0.0, min(means) - 0.1), 1.0)
    ax.set_ylabel("validation AUROC")
    ax.set_title(f"{report['dataset']}: cross-validation (configurations in results.json)")
    ax.tick_params(axis="x", rotation=45)
    return fig
