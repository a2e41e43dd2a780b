"""The Cloudera "Deep Learning for Anomaly Detection" protocol on KDD Cup 99, with its bugs fixed.

The set-up of the Cloudera prototype (seeds-spec §2.1), row for row:

* 18 numeric features (:data:`FEATURES`); train = the normal rows ("inliers") of the 10% file.
* Both files are shuffled with seed 200 and split into inliers / outliers. From the ``corrected``
  (test) file, 20% of the inliers and 20% of the outliers (seed 200) form the validation split;
  the rest is subsampled (seed 250) to 8,000 inliers + 2,000 outliers (partition "8020").
* Min-max scaling fitted on the training inliers.

Fixed here: attack types that occur only in the test file (apache2, mailbomb, snmpgetattack, …)
are attacks (upstream labelled them normal; ``legacy_labels=True`` reproduces that, for parity
only), and thresholds are chosen on the validation split, never on the test split.

>>> split = cloudera_split()                                  # doctest: +SKIP
>>> len(split.train), len(split.test), int(split.test.y.sum())  # doctest: +SKIP
(97278, 10000, 2000)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadkit import artifact, plots
from nadkit.data.container import TableData
from nadkit.data.loaders import load_dataset
from nadkit.data.preprocess import Preprocessor
from nadkit.errors import DataError
from nadkit.experiments import tracking
from nadkit.experiments.bench import evaluate_pipeline
from nadkit.experiments.protocols import Split
from nadkit.io import atomic_path, write_json
from nadkit.metrics import auroc, threshold_metrics
from nadkit.models import REGISTRY, make_detector
from nadkit.pipeline import Pipeline, hash_frame
from nadkit.thresholds import BestAccuracy, BestF1

#: the 18 numeric KDD features the prototype keeps
FEATURES = [
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
]

#: the KDD Cup 99 ``training_attack_types`` table (22 attack names → category); upstream
#: labelled every other name, including the test-only attack types, as normal
TRAINING_ATTACK_TYPES = {
    "back": "dos", "land": "dos", "neptune": "dos", "pod": "dos", "smurf": "dos",
    "teardrop": "dos", "ipsweep": "probe", "nmap": "probe", "portsweep": "probe",
    "satan": "probe", "buffer_overflow": "u2r", "loadmodule": "u2r", "perl": "u2r",
    "rootkit": "u2r", "ftp_write": "r2l", "guess_passwd": "r2l", "imap": "r2l",
    "multihop": "r2l", "phf": "r2l", "spy": "r2l", "warezclient": "r2l", "warezmaster": "r2l",
}

#: test inliers / outliers kept per partition (None = all)
PARTITIONS: dict[str, tuple[int, int] | None] = {
    "8020": (8000, 2000), "9010": (9000, 1000), "5050": (5000, 5000), "all": None,
}

SHUFFLE_SEED, VALIDATION_SEED, SUBSAMPLE_SEED = 200, 200, 250

#: the Cloudera table (seeds-spec §2.6): partition 8020, threshold = best accuracy ON THE TEST
#: SET (optimistic), test-only attack types labelled normal. Seq2Seq was evaluated on 400
#: inliers + 80 outliers drawn from the first 100 test rows of each class.
REPORTED: dict[str, dict[str, float]] = {
    "ae": {"accuracy": 0.846, "precision": 0.697, "recall": 0.408, "f1": 0.515, "f2": 0.445, "auroc": 0.956},
    "vae": {"accuracy": 0.931, "precision": 0.821, "recall": 0.836, "f1": 0.829, "f2": 0.833, "auroc": 0.947},
    "bigan": {"accuracy": 0.923, "precision": 0.793, "recall": 0.833, "f1": 0.812, "f2": 0.825, "auroc": 0.947},
    "seq2seq-rows": {"accuracy": 0.838, "precision": 0.507, "recall": 0.888, "f1": 0.645, "f2": 0.772, "auroc": 0.806},
    "pca": {"accuracy": 0.919, "precision": 0.871, "recall": 0.700, "f1": 0.776, "f2": 0.728, "auroc": 0.754},
    "ocsvm": {"accuracy": 0.949, "precision": 0.907, "recall": 0.832, "f1": 0.868, "f2": 0.846, "auroc": 0.958},
}

#: the Cloudera models in their table's order ("seq2seq-rows": each row read as a sequence, as upstream)
MODELS = ("ae", "vae", "bigan", "seq2seq-rows", "pca", "ocsvm")

#: hyper-parameters used on this protocol (chosen on the validation split only; see
#: docs/benchmarks.md and benchmarks/cloudera.py). Anything not listed keeps its default.
PARAMS: dict[str, dict[str, Any]] = {
    "ae": {},
    "vae": {"beta": 0.001},
    "bigan": {"epochs": 20, "score_weight": 0.5, "ema": 0.999},
    "pca": {},
    "ocsvm": {},
}

#: independent training runs per model (seeds seed, seed + 1000, …); the one with the best
#: validation AUROC is kept. The BiGAN's test AUROC varies ±0.006 between seeds (docs/benchmarks.md)
RESTARTS: dict[str, int] = {"bigan": 5}

#: score-time parameters chosen per fitted model on the validation split (they only combine
#: what the trained networks compute): the BiGAN's weight w of L_D against the L1 residual,
#: whose best value moves with the run (the two terms' scales differ from run to run)
TUNED: dict[str, dict[str, tuple[float, ...]]] = {
    "bigan": {"score_weight": tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 21))}}

#: the threshold rules compared (both fitted on the validation split)
THRESHOLDS = {"best-f1": BestF1, "best-accuracy": BestAccuracy}
TABLE_COLUMNS = ("model", "accuracy", "precision", "recall", "f1", "f2", "auroc", "auprc")


def default_models() -> list[str]:
    """The Cloudera models nadkit can build now (Seq2Seq joins when it is registered)."""
    return [m for m in MODELS if m in REGISTRY]


def _labelled(data: TableData, legacy_labels: bool) -> pd.DataFrame:
    """18 features + ``attack`` + ``target`` (1 = attack), in file order (index = row number)."""
    missing = [c for c in FEATURES if c not in data.X.columns]
    if missing:
        raise DataError(f"{data.name}: missing KDD features {missing}")
    frame = data.X[FEATURES].copy()
    frame["attack"] = data.attack
    if legacy_labels:
        frame["target"] = frame["attack"].isin(list(TRAINING_ATTACK_TYPES)).astype(np.int8)
    else:
        frame["target"] = data.y
    return frame


def _table(frame: pd.DataFrame, name: str) -> TableData:
    return TableData(frame[FEATURES].reset_index(drop=True), y=frame["target"].to_numpy(),
                     attack=frame["attack"].to_numpy(), name=name)


def cloudera_split(partition: str = "8020", legacy_labels: bool = False) -> Split:
    """The prototype's train / validation / test split of KDD Cup 99 (see module docs)."""
    if partition not in PARTITIONS:
        raise DataError(f"unknown partition {partition!r}; choose from {list(PARTITIONS)}")
    train = _labelled(load_dataset("kddcup99", "train"), legacy_labels)
    test = _labelled(load_dataset("kddcup99", "test"), legacy_labels)
    train = train.sample(frac=1, random_state=SHUFFLE_SEED)
    test = test.sample(frac=1, random_state=SHUFFLE_SEED)
    train_in = train[train["target"] == 0]
    parts: dict[str, list[pd.DataFrame]] = {"validation": [], "test": []}
    for target, keep in ((0, 0), (1, 1)):
        rows = test[test["target"] == target]
        val = rows.sample(frac=0.2, random_state=VALIDATION_SEED)
        rest = rows.drop(val.index)
        sizes = PARTITIONS[partition]
        if sizes is not None:
            n = sizes[keep]
            if n > len(rest):
                raise DataError(f"partition {partition} needs {n} test rows of class {target}, "
                                f"only {len(rest)} remain")
            rest = rest.sample(n, random_state=SUBSAMPLE_SEED)
        parts["validation"].append(val)
        parts["test"].append(rest)
    labels = "legacy labels: test-only attack types count as normal" if legacy_labels else \
        "every non-normal label is an attack"
    desc = (f"Cloudera KDD Cup 99 protocol, partition {partition}: 18 numeric features; train = "
            f"normal rows of the 10% file; validation = 20% of corrected's normals and attacks "
            f"(seed 200); test = {partition} subsample of the rest (seed 250); {labels}")
    return Split(
        train=_table(train_in, "kddcup99 train normals (cloudera)"),
        test=_table(pd.concat(parts["test"]), f"kddcup99 corrected, cloudera {partition} test"),
        validation=_table(pd.concat(parts["validation"]), "kddcup99 corrected, cloudera validation"),
        description=desc,
    )


def preprocessor() -> Preprocessor:
    """The prototype's scaling: min-max on the training normals, nothing else."""
    return Preprocessor(categorical=[], log_transform=False, scaling="minmax")


def _tune_on_validation(det, grid: dict[str, Sequence[Any]], X_val: np.ndarray,
                        y_val: np.ndarray) -> tuple[dict[str, Any], np.ndarray, float]:
    """Set each score-time parameter of ``det`` to the grid value with the best validation
    AUROC (one parameter after the other); returns the values, the scores and the AUROC."""
    chosen: dict[str, Any] = {}
    scores = det.score(X_val)
    best = auroc(y_val, scores)
    for param, values in grid.items():
        current = det.get_params()[param]
        for v in values:
            det.set_params(**{param: v})
            s = det.score(X_val)
            a = auroc(y_val, s)
            if a > best:
                best, scores, current = a, s, v
        det.set_params(**{param: current})
        chosen[param] = current
    return chosen, scores, best


def run_cloudera(models: Sequence[str] | None, out_dir: str | Path,
                 params: dict[str, dict[str, Any]] | None = None, seed: int = 0,
                 partition: str = "8020", legacy_labels: bool = False, save_models: bool = False,
                 on_progress: Callable[[str], None] | None = None,
                 split: Split | None = None,
                 restarts: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Fit each model on the training normals, set thresholds on validation, evaluate on test.

    Returns one row per model and threshold rule (``threshold`` = "best-f1" or
    "best-accuracy", both fitted on the validation split). Writes ``<model>/metrics.json``,
    the model's plots, ``leaderboard.json``, ``leaderboard.md`` (next to the Cloudera table)
    and ``roc_pr.png`` under ``out_dir``. With tracking on, each model is a nested MLflow run.
    ``restarts`` (default :data:`RESTARTS`) trains a model several times with different seeds and
    keeps the run with the best validation AUROC (the test split is only scored afterwards);
    each run's score-time parameters in :data:`TUNED` are first set to their best validation
    AUROC (``tuned_on_validation`` in the model's metrics.json).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = on_progress or (lambda _msg: None)
    split = split or cloudera_split(partition, legacy_labels)
    say(f"{split.train.name}: {len(split.train):,} rows; validation {len(split.validation):,} "
        f"({int(split.validation.y.sum()):,} attacks); test {len(split.test):,} "
        f"({int(split.test.y.sum()):,} attacks)")
    pre = preprocessor().fit(split.train.X)
    X_train, X_val, X_test = (pre.transform(d.X) for d in (split.train, split.validation, split.test))
    names = list(models) if models else default_models()
    rows, curves = [], {}
    for name in names:
        kw = {**PARAMS.get(name, {}), **(params or {}).get(name, {})}
        seeded = "random_state" in make_detector(name).get_params()
        tries = (RESTARTS if restarts is None else restarts).get(name, 1) if seeded else 1
        with tracking.nested_run(name, {"model": name, "restarts": tries}):
            say(f"fitting {name} …" + (f" ({tries} restarts, best by validation AUROC)" if tries > 1 else ""))
            t = time.perf_counter()
            det, val_scores, val_aurocs, tuned = None, None, [], {}
            for k in range(tries):  # restart seeds seed, seed + 1000, …: a GAN's run-to-run spread
                run_kw = {**kw, "random_state": kw.get("random_state", seed) + 1000 * k} if seeded else kw
                cand = make_detector(name, **run_kw).fit(X_train)
                cand_tuned, cand_scores, cand_auroc = _tune_on_validation(cand, TUNED.get(name, {}), X_val,
                                                                          split.validation.y)
                val_aurocs.append(cand_auroc)
                if det is None or val_aurocs[-1] > max(val_aurocs[:-1]):
                    det, val_scores, tuned = cand, cand_scores, cand_tuned
            fit_s = time.perf_counter() - t
            fitted = {m: cls().fit(val_scores, split.validation.y) for m, cls in THRESHOLDS.items()}
            pipe = Pipeline(det, pre)
            pipe.threshold = fitted["best-f1"]
            pipe.info = {"training_rows": len(split.train), "training_hash": hash_frame(split.train.X),
                         "training_data": split.train.name}
            report = evaluate_pipeline(pipe, split, out, name, fit_s, 0, X_test)
            scores = report.pop("_scores")
            report["threshold_set_on"] = f"{split.validation.name} ({len(split.validation)} labelled rows)"
            if tries > 1:
                report["restarts_validation_auroc"] = val_aurocs
            if tuned:
                report["tuned_on_validation"] = tuned
            report["thresholds"] = {}
            for method, thr in fitted.items():
                m = threshold_metrics(split.test.y, thr.predict(scores))
                m["threshold"] = thr.value_
                m["validation_value"] = thr.score_
                report["thresholds"][method] = m
                rows.append({"model": name, "threshold": method, "auroc": report["auroc"],
                             "auprc": report["auprc"], "fit_s": fit_s,
                             **{k: m[k] for k in ("accuracy", "precision", "recall", "f1", "f2")},
                             "threshold_value": thr.value_})
            report["reported_by_cloudera"] = REPORTED.get(name)
            write_json(out / name / "metrics.json", report)
            curves[name] = (split.test.y, scores)
            if save_models or tracking.is_active():
                artifact.save(pipe, out / name / "model")
            tracking.log_pipeline(pipe, out / name / "model")
            tracking.log_evaluation(report, out / name)
            best = report["thresholds"]["best-f1"]
            say(f"{name}: AUROC {report['auroc']:.4f}  F1 {best['f1']:.4f}  acc {best['accuracy']:.4f}  "
                f"(best-F1 threshold from validation)  fit {fit_s:.1f}s")
    write_json(out / "leaderboard.json", {"protocol": split.description, "seed": seed,
                                          "partition": partition, "legacy_labels": legacy_labels,
                                          "rows": rows, "reported_by_cloudera": REPORTED})
    with atomic_path(out / "leaderboard.md") as tmp:
        tmp.write_text(comparison_markdown(rows, split.description))
    plots.save(plots.roc_pr(curves, title="KDD Cup 99, Cloudera protocol: test split"),
               out / "roc_pr.png")
    return rows


def comparison_markdown(rows: Sequence[dict[str, Any]], description: str = "") -> str:
    """Our rows per threshold rule next to the Cloudera table (same columns)."""
    def table(title: str, items: list[dict[str, Any]]) -> str:
        head = "| " + " | ".join(TABLE_COLUMNS) + " |\n|" + "---|" * len(TABLE_COLUMNS) + "\n"
        body = "".join("| " + " | ".join(
            r["model"] if c == "model" else (f"{r[c]:.3f}" if isinstance(r.get(c), float) else "—")
            for c in TABLE_COLUMNS) + " |\n" for r in items)
        return f"**{title}**\n\n{head}{body}\n"

    text = f"{description}\n\n" if description else ""
    for method in THRESHOLDS:
        text += table(f"nadkit, threshold: {method} on the validation split",
                      [r for r in rows if r["threshold"] == method])
    ref = [{"model": m, **v} for m, v in REPORTED.items() if any(r["model"] == m for r in rows)]
    text += table("Cloudera (threshold: best accuracy on the TEST split, optimistic; test-only "
                  "attack types labelled normal)", ref)
    return text
