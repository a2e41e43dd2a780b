"""The ``nadkit`` command line: thin wrappers around the library, printing with rich.

User mistakes (bad files, columns, NaN, corrupt models…) end with one ``error:`` line and exit
code 2, never a traceback; ``--debug`` (or NADKIT_DEBUG=1) shows the traceback of anything else.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from nadkit.errors import DataError, NadkitError

app = typer.Typer(
    name="nadkit", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Deep-learning anomaly detection for network flows and monitoring time series.",
)
out = Console()
err = Console(stderr=True)

DataArg = Annotated[str, typer.Argument(help="CSV/Parquet file, or dataset:split (e.g. nsl-kdd:test)")]
ModelDir = Annotated[Path, typer.Argument(help="model directory written by `nadkit train`")]
TrackOpt = Annotated[bool, typer.Option("--track/--no-track",
                                        help="log to MLflow (MLFLOW_TRACKING_URI, default ./mlflow.db)")]
ExperimentOpt = Annotated[str | None, typer.Option(help="MLflow experiment name (with --track)")]
#: the names of nadkit.models.REGISTRY, spelled out so that `nadkit --help` does not import torch
#: (tests/test_architecture.py checks that the two agree)
MODEL_NAMES = ("pca", "ocsvm", "iforest", "knn", "ensemble", "ae", "vae", "bigan", "sae", "cae", "ksae", "bae",
               "seq2seq-rows", "dcvae", "seq2seq", "netgan")


KEY_COLS_HELP = ("columns to copy into the output: auto (ids, times, src/dst addresses and ports, "
                 "by name), none, or a comma-separated list")
PROGRESS_HELP = "progress lines on stderr (redrawn on a terminal, one plain line every few seconds in a log)"


def _progress_default() -> bool:
    return sys.stderr.isatty()


def _split_list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _parse_params(items: list[str] | None) -> dict[str, Any]:
    """``k=v`` pairs; values parsed as JSON when possible (numbers, lists, booleans)."""
    params: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise DataError(f"--param expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            params[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            params[k.strip()] = v
    return params


def _guard(output: Path, kind: str, *inputs: Any, force: bool = False) -> Path:
    """The output guard (:func:`nadkit.io.check_output`) on ``-o``, before any work."""
    from nadkit.io import check_output

    return check_output(output, kind, inputs=[str(i) for i in inputs if i is not None], force=force)


def _load_data(spec: str, label_col: str | None = None, require_label: bool = False,
               drop_cols: str | None = None, use_cols: str | None = None, select_features: bool = True):
    from nadkit.data.resolve import resolve_data

    data = resolve_data(spec, label_col=label_col, require_label=require_label,
                        drop_cols=_split_list(drop_cols), use_cols=_split_list(use_cols),
                        select_features=select_features)
    _notice(data.meta.get("notice"))
    return data


def _notice(text: str | None) -> None:
    """One line on stderr: how a flow export was read and which columns are not features."""
    if text:
        err.print(f"notice: {text}", markup=False, highlight=False, soft_wrap=True)


TimeCol = Annotated[str, typer.Option(help="series: time column of a CSV/Parquet ('auto': timestamp/time/datetime/date; '' for none)")]
FillGaps = Annotated[int, typer.Option(help="series: forward-fill gaps of up to N missing steps (0: a gap is an error)")]
EntityCol = Annotated[str | None, typer.Option(
    help="series: column naming the entity (host, site, interface): one series per entity, one model for all")]


def _read_input(pipe, spec: str, **kw: Any):
    """``pipe.read_input`` with its notice (how a flow export was read) on stderr."""
    data = pipe.read_input(spec, **kw)
    _notice(data.meta.get("notice"))
    return data


# ---------------------------------------------------------------------------------- datasets
@app.command()
def datasets(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """List dataset loaders, what each expects, and whether its files are in the data directory."""
    from nadkit.data.download import data_dir
    from nadkit.data.loaders import DATASETS

    root = data_dir()
    rows = []
    for info in DATASETS.values():
        if info.files:
            found = all(f.locate(root) is not None for f in info.files.values())
        else:
            folder = root / info.name.replace("-", "_")
            found = folder.is_dir() and any(folder.iterdir())
        rows.append({"name": info.name, "kind": info.kind, "splits": list(info.splits), "found": found,
                     "description": info.description, "protocol": info.protocol})
    from nadkit.data.exports import FORMATS

    formats = [f.title for f in FORMATS.values()]
    if as_json:
        out.print_json(json.dumps({"data_dir": str(root), "datasets": rows, "flow_export_formats": formats}))
        return
    t = Table(title=f"datasets (NADKIT_DATA = {root})")
    for c in ("name", "splits", "found", "description"):
        t.add_column(c, overflow="fold")
    for r in rows:
        splits = ", ".join(r["splits"]) if len(r["splits"]) < 6 else f"{r['splits'][0]} … {r['splits'][-1]}"
        t.add_row(r["name"], splits, "yes" if r["found"] else "no", r["description"])
    out.print(t)
    out.print(f"flow export files read as they come (any path): {', '.join(formats)}; pcaps via `nadkit flows`")


# ------------------------------------------------------------------------------------- train
@app.command()
def train(
    data: DataArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="model directory to write")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="auto (the default: dcvae for series, "
                                              "ensemble for flows), " + ", ".join(MODEL_NAMES))] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML run configuration")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="hyper-parameter key=value")] = None,
    label_col: Annotated[str | None, typer.Option(help="label column: only its normal rows are used")] = None,
    drop_cols: Annotated[str | None, typer.Option(help="comma-separated columns to ignore")] = None,
    use_cols: Annotated[str | None, typer.Option(
        help="comma-separated columns to use as features although they look like identifiers")] = None,
    categorical: Annotated[str | None, typer.Option(help="comma-separated categorical columns")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help=PROGRESS_HELP)] = True,
    track: TrackOpt = False,
    experiment: ExperimentOpt = None,
    time_col: TimeCol = "auto",
    fill_gaps: FillGaps = 0,
    mask_outliers: Annotated[bool, typer.Option(help="series: mask training values beyond 7 std (DC-VAE)")] = False,
    stream: Annotated[bool, typer.Option("--stream/--no-stream",
                                         help="stream a CSV/Parquet file in batches (larger than memory)")] = False,
    devices: Annotated[int | None, typer.Option(help="torch models: processes (CPU) or GPUs per node")] = None,
    num_nodes: Annotated[int | None, typer.Option(help="torch models: nodes (launch with torchrun/srun)")] = None,
    strategy: Annotated[str | None, typer.Option(help="torch models: ddp, ddp_spawn or ddp_fork")] = None,
    checkpoint_dir: Annotated[Path | None, typer.Option(help="torch models: keep the best checkpoint here")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing model directory at -o")] = False,
    entity_col: EntityCol = None,
) -> None:
    """Fit preprocessing + a detector on normal data and save the model directory.

    Series models (dcvae, seq2seq) take a time table (CSV/Parquet with a time column and one
    numeric column per channel) or a series dataset such as smd:machine-1-2."""
    from nadkit import artifact
    from nadkit.config import load_config
    from nadkit.experiments import tracking
    from nadkit.models import make_detector
    from nadkit.models.torch_base import TorchDetector
    from nadkit.models.train import is_main_process, trainer_options
    from nadkit.pipeline import default_model, make_pipeline

    _guard(output, "model", data, config, checkpoint_dir, force=force)
    cfg = load_config(config)
    name = model or cfg.model
    if name is None or name.lower() == "auto":
        series = time_col != "auto" or bool(fill_gaps or entity_col or mask_outliers)
        picked, why = default_model(data, series=series)
        err.print(f"{'--model auto' if name else 'no --model given'}: {picked}, {why}")
        name = picked
    params = {**cfg.params, **_parse_params(param)}
    det = make_detector(name)
    if "random_state" in det.get_params():
        params.setdefault("random_state", cfg.seed if seed is None else seed)
    if "verbose" in det.get_params():
        params.setdefault("verbose", progress)
    det = make_detector(name, **params)
    options = {k: v for k, v in {"devices": devices, "num_nodes": num_nodes, "strategy": strategy,
                                 "checkpoint_dir": checkpoint_dir and str(checkpoint_dir)}.items() if v}
    if options and not isinstance(det, TorchDetector):
        raise DataError(f"--devices/--num-nodes/--strategy/--checkpoint-dir apply to torch models, not {name}")
    pipe = make_pipeline(det)
    source = pipe.prepare_fit(data, label_col=label_col, drop_cols=drop_cols, preprocess=cfg.preprocess.model_dump(),
                              use_cols=use_cols, categorical=categorical, stream=stream, time_col=time_col,
                              fill_gaps=fill_gaps, entity_col=entity_col, mask_outliers=mask_outliers)
    _notice(source.notice)
    with trainer_options(**options):
        err.print(f"training {name} on {source.description} …")
        with tracking.run(f"train {name}", {"command": "train", "model": name, "data": data, **source.params},
                          experiment, enabled=track):
            pipe.fit_input(source)
            if not is_main_process():
                return  # another rank of a torchrun/SLURM launch: rank 0 writes the model
            artifact.save(pipe, output)
            tracking.log_pipeline(pipe, output)
    out.print(f"saved {name} to {output} ({pipe.fit_summary()})")


# --------------------------------------------------------------------------------- calibrate
@app.command()
def calibrate(
    model_dir: ModelDir,
    data: DataArg,
    method: Annotated[str, typer.Option(help="fpr (default: target FPR, --fpr 0.01) | rolling (series: target FPR over the stream's last --window scores) | quantile | pot | best-f1 | best-accuracy | alpha (series: per-channel bands)")] = "fpr",
    labels: Annotated[str | None, typer.Option(help="label column or labels file")] = None,
    q: Annotated[float | None, typer.Option(help="quantile of normal scores (quantile)")] = None,
    fpr: Annotated[float | None, typer.Option(help="target false-positive rate (fpr, rolling; alpha: of the step flag, any channel)")] = None,
    window: Annotated[int | None, typer.Option(help="rolling: steps in the threshold's window (default 250)")] = None,
    risk: Annotated[float | None, typer.Option(help="tail probability (pot)")] = None,
    level: Annotated[float | None, typer.Option(help="initial quantile (pot)")] = None,
    beta: Annotated[float | None, typer.Option(help="F-beta to maximise (best-f1)")] = None,
    metric: Annotated[str, typer.Option(help="alpha: F1 to maximise per channel, point | range")] = "point",
    time_col: TimeCol = "auto",
    fill_gaps: FillGaps = 0,
) -> None:
    """Fit the model's threshold on normal (or labelled validation) data; never on test labels.

    The default, --method fpr at --fpr 0.01, holds a 1 % false-positive rate on fresh normal
    rows and prints the 95 % interval of the FPR it achieves there (from order statistics); with
    too few normal rows for the target it warns.

    Series models: --method alpha sets asymmetric per-channel bands μ − α_down·σ … μ + α_up·σ,
    maximising F1 on --labels (a file with one 0/1 column per channel, or one column), or with
    --fpr holding a target false-positive rate for the step flag on normal data: a step is
    flagged when any channel leaves its band, so --fpr 0.01 flags about 1 % of normal steps (not
    1 % per channel); steps labelled anomalous by --labels, if given, are left out. A series
    model's default from train is --method rolling: the 1 % target over the last --window
    scores of the stream (the calibration scores' last ones first), so it follows a series
    whose normal level moves; --method fpr keeps one fixed value."""
    from nadkit import artifact
    from nadkit.pipeline import LABELLED_METHODS

    pipe = artifact.load(model_dir)
    source = _read_input(pipe, data, labels=labels, require_labels=method in LABELLED_METHODS,
                         time_col=time_col, fill_gaps=fill_gaps)
    params = pipe.threshold_params(method, q=q, fpr=fpr, window=window, risk=risk, level=level, beta=beta,
                                   metric=metric)
    pipe.calibrate(source, method=method, **params)
    artifact.update_threshold(model_dir, pipe)
    out.print(f"threshold: {pipe.threshold.describe()} ({pipe.describe_input(source)})")


# ------------------------------------------------------------------------------------ detect
@app.command()
def detect(
    model_dir: ModelDir,
    data: DataArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="OUT.csv or OUT.parquet")],
    key_cols: Annotated[str, typer.Option(help=KEY_COLS_HELP)] = "auto",
    keep_cols: Annotated[str | None, typer.Option(hidden=True, help="deprecated: use --key-cols")] = None,
    contributions: Annotated[bool, typer.Option(
        "--contributions/--no-contributions",
        help="also write contrib_<col> per feature (one column per feature: large outputs)")] = False,
    layout: Annotated[str, typer.Option(help="series: long (one row per step and channel) | wide")] = "long",
    time_col: TimeCol = "auto",
    fill_gaps: FillGaps = 0,
    entity_col: EntityCol = None,
    alerts: Annotated[str | None, typer.Option(
        help="also write an Elastic ECS alert per flagged row/step as JSON lines to FILE ('-': stdout)")] = None,
    webhook: Annotated[str | None, typer.Option(help="also POST each alert as JSON to this URL (retried)")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help=PROGRESS_HELP)] = True,
    incidents: Annotated[Path | None, typer.Option(help="also write incidents (merged flagged steps/flows, severity 0-100) to FILE.csv or FILE.json")] = None,
) -> None:
    """Score DATA: writes the key columns, score and anomaly (0/1) per row.

    Key columns (ids, times, source/destination addresses and ports, found by name as the
    flow readers find identifiers) are copied first so the output joins back to the input;
    --key-cols a,b picks them, --key-cols none copies none. --contributions adds each feature's
    share of the score. Files are streamed in batches and the output is written batch by batch
    (atomically), so a file larger than memory works; progress (rows done/total) goes to stderr.
    Series models write, per time step and channel: value, flag, score, μ, σ and the band
    limits (lower/upper), plus the step's score and flag."""
    from nadkit import artifact
    from nadkit.progress import step_progress

    _guard(output, "scores", model_dir, data)
    if keep_cols is not None:
        err.print("[yellow]warning:[/yellow] --keep-cols is deprecated: use --key-cols")
        key_cols = keep_cols
    from nadkit.alerts import check_alert_options, detect_alerts

    check_alert_options(alerts, webhook, model_dir, data, output)
    say = (err if alerts == "-" else out).print  # alerts on stdout: nothing else goes there
    if incidents is not None:
        from nadkit import incidents as inc
        inc.check_path(incidents, [model_dir, data, output])
    pipe = artifact.load(model_dir)
    # rows done/total of a table; steps done/total of each inference pass of a series model
    with _row_progress("scoring", data, progress) as tick, step_progress("scoring", progress):
        done = pipe.detect_input(data, output, key_cols=key_cols, contributions=contributions, on_progress=tick,
                                 layout=layout, time_col=time_col, fill_gaps=fill_gaps, entity_col=entity_col)
    _notice(done.notice)
    say(done.message)
    if incidents is not None:
        say(f"{len(inc.detect_output(pipe, incidents, data=data, **done.incidents)):,} incidents → {incidents}")
    detect_alerts(done.alerts, pipe, alerts=alerts, webhook=webhook, model=model_dir.name, source=str(data),
                  entity_col=entity_col, say=_notice)


def _row_progress(what: str, data: str | None, enabled: bool = True):
    """Yields ``tick(rows_done, rows_total_or_None)`` (:func:`nadkit.progress.file_row_progress`)."""
    from nadkit.progress import file_row_progress

    return file_row_progress(what, data, enabled)


# ---------------------------------------------------------------------------------- evaluate
@app.command()
def evaluate(
    model_dir: ModelDir,
    data: DataArg,
    labels: Annotated[str, typer.Option(
        help="label column of DATA, or a labels file (series: one 0/1 column, or one per channel); "
             "a series dataset's own labels when the default column is absent")] = "label",
    output: Annotated[Path, typer.Option("-o", "--output", help="report directory (metrics.json + PNG plots)")
                      ] = Path("report"),
    track: TrackOpt = False,
    experiment: ExperimentOpt = None,
    time_col: TimeCol = "auto",
    fill_gaps: FillGaps = 0,
) -> None:
    """Evaluate on labelled data at the model's threshold: metrics.json + plots.

    Tables: AUROC, AUPRC, TPR at FPR 0.1 % and 1 %, partial AUROC for
    FPR ≤ 1 %, precision, recall, F1, F2, the FPR the threshold promised
    for this many normals, the detection rate per class at the model's
    threshold and at FPR 1 % on these normals (an oracle cut); plots of
    the scores, ROC/PR, the low-FPR end and the detection per class.

    Series models: point AUROC/AUPRC, point and range-based P/R/F1,
    point-adjusted F1 (labelled as such), event detection rate, time to
    detect, per-channel F1; plots of the score per step with the labelled
    ranges and of the channels with their bands and flagged points."""
    from nadkit import artifact, evaluation
    from nadkit.experiments import tracking

    _guard(output, "report", model_dir, data, labels if labels and Path(labels).is_file() else None)
    pipe = artifact.load(model_dir)
    report = evaluation.evaluate(pipe, _read_input(pipe, data, labels=labels, require_labels=True,
                                                      time_col=time_col, fill_gaps=fill_gaps))
    report.metrics["model"] = str(model_dir)
    evaluation.save(report, output)
    _print_report(report)
    out.print(f"report written to {output}")
    params = {"command": "evaluate", "model_dir": str(model_dir), "data": data,
              "threshold_method": report.metrics["threshold_method"]}
    with tracking.run(f"evaluate {report.name}", params, experiment, enabled=track):
        tracking.log_pipeline(pipe, model_dir)
        tracking.log_history(report.history)
        tracking.log_evaluation(report.to_dict(), output)


def _print_report(report) -> None:
    """An evaluation report in the terminal: the summary metrics, the threshold and its promise,
    detection per class (tables) or the mean per-channel F1 (series)."""
    from nadkit.experiments.leaderboard import leaderboard_table

    m = report.metrics
    out.print(leaderboard_table([m], report.summary_keys, title=f"{report.name} on {report.data}"))
    out.print(f"threshold: {m['threshold_method']}")
    if "threshold_fpr_interval" in m:
        lo, hi = m["threshold_fpr_interval"]
        inside = "inside" if lo <= m["fpr"] <= hi else "OUTSIDE"
        n_normal = m.get("threshold_fpr_n", m["n"] - m["n_anomalies"])   # series: the scored normal steps
        out.print(f"FPR at the model's threshold: {m['fpr']:.4f} on {n_normal:,} normals "
                  f"({inside} its 95 % interval for that many fresh normals, [{lo:.4f}, {hi:.4f}])")
    if "per_class_at_fpr_0.01" in m:
        out.print(_per_attack_table(m))
    if m.get("per_channel_f1_mean") is not None:
        out.print(f"mean per-channel F1: {m['per_channel_f1_mean']:.3f}")


def _per_attack_table(report: dict[str, Any]):
    """Detection rate per class at the model's threshold and at the oracle FPR-1 % cut."""
    from nadkit.experiments.leaderboard import leaderboard_table

    cal, oracle = report.get("per_class", {}), report["per_class_at_fpr_0.01"]
    rows = [{"class": c, "n": v["n"], "rate": cal.get(c, {}).get("rate"), "rate_at_fpr_0.01": v["rate"]}
            for c, v in oracle.items()]
    return leaderboard_table(rows, ("class", "n", "rate", "rate_at_fpr_0.01"),
                             title="detection rate per class: at the model's threshold | at FPR 1 % on "
                                   "these normals (oracle: set with these labels)",
                             headers={"n": "rows", "rate": "model threshold", "rate_at_fpr_0.01": "FPR 1 % (oracle)"})


# ------------------------------------------------------------------------------------- bench
@app.command()
def bench(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="table dataset (nsl-kdd …), series "
                                         "dataset (smd, skab, nab) or a series CSV/Parquet file")] = "nsl-kdd",
    models: Annotated[str | None, typer.Option(
        help=f"comma-separated models: nadkit's ({', '.join(MODEL_NAMES)}) and, for series, peers "
             "(pyod-pca, pyod-iforest, pyod-ae, tsb-cnn, tsb-usad, tsb-omnianomaly, tsb-lstmad, tsb-pca) "
             "[default: tables knn,pca,iforest,ocsvm,ae,vae; series dcvae,seq2seq,netgan,pyod-pca,pyod-iforest; "
             "cloudera: its table's; thesis-cv: sae,cae,ksae,bae]")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="results directory")] = Path("bench-results"),
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML run configuration: seed, threshold, a models.NAME table of parameters per model")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="hyper-parameter MODEL.KEY=VALUE, e.g. ae.epochs=5 (repeatable; over --config)")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed")] = None,
    seeds: Annotated[str | None, typer.Option(
        help="series and thesis-cv: comma-separated seeds of the nadkit models (mean ± sd) "
             "[default: --seed; thesis-cv: 0,1,2]")] = None,
    series: Annotated[str | None, typer.Option(
        help="series benches: only these series or groups (comma-separated), e.g. valve1 or machine-1-2")] = None,
    labels: Annotated[str | None, typer.Option(help="series file: labels file or label column")] = None,
    train_share: Annotated[float | None, typer.Option(
        help="SKAB, NAB, series file: share of each series that trains [default: SKAB 400 steps, "
             "NAB 0.15, file 0.3]")] = None,
    save_models: Annotated[bool, typer.Option(help="tables: also save each fitted model")] = False,
    protocol: Annotated[str, typer.Option(
        help="standard (the dataset's protocol split) | cloudera (KDD Cup 99, Cloudera 8020 set-up) | "
             "thesis-cv (kddcup99, unsw-nb15, ctu13:<scenario>)")] = "standard",
    legacy_labels: Annotated[bool, typer.Option(
        help="cloudera: label test-only attack types normal, as upstream did (parity only)")] = False,
    restarts: Annotated[int | None, typer.Option(
        help="cloudera: BiGAN training runs; the best by validation AUROC is kept (default 5)")] = None,
    folds: Annotated[int, typer.Option(help="thesis-cv: cross-validation folds")] = 3,
    disjoint_folds: Annotated[bool, typer.Option(help="thesis-cv: disjoint validation normals")] = False,
    track: TrackOpt = False,
    experiment: ExperimentOpt = None,
) -> None:
    """Train several models on one dataset; print a leaderboard, write metrics and plots.

    Table datasets: the dataset's protocol split, each model's threshold
    from its training normals. Series datasets (smd, skab, nab, a series
    file with --labels): every series' train part → its test part; nadkit
    models and peers (the peers extra) in one table with VUS-PR/VUS-ROC,
    AUPRC, AUROC, range-F1 and event rate. --protocol thesis-cv: the thesis
    protocol (kddcup99, unsw-nb15, ctu13:SCENARIO), configuration and
    threshold chosen on semi-supervised CV folds, test mean ± sd over seeds.
    """
    from nadkit.config import load_config
    from nadkit.experiments import tracking
    from nadkit.experiments.bench import run, split_model_params
    from nadkit.io import write_output_marker

    _guard(output, "bench", config)
    cfg = load_config(config)
    names = list(_split_list(models)) if models is not None else None
    if names is not None and not names:
        raise DataError("--models is empty")
    seed = cfg.seed if seed is None else seed
    params = {k: dict(v) for k, v in cfg.models.items()}
    for name, kw in split_model_params(_parse_params(param)).items():
        params.setdefault(name, {}).update(kw)
    say = lambda m: err.print(f"[dim]{m}[/dim]", highlight=False)  # noqa: E731
    if protocol not in ("standard", "cloudera", "thesis-cv"):
        raise DataError(f"unknown protocol {protocol!r}; choose standard, cloudera or thesis-cv")
    run_params = {"command": "bench", "protocol": protocol, "models": models or "default", "seed": seed}
    output.mkdir(exist_ok=True)
    write_output_marker(output, "bench")  # first: a run that fails half-way may be rerun into it
    if protocol == "thesis-cv":
        with tracking.run(f"bench thesis-cv {dataset}",
                          {**run_params, "dataset": dataset, "seeds": seeds, "folds": folds,
                           "disjoint_folds": disjoint_folds}, experiment, enabled=track):
            _bench_thesis(dataset, names or ["sae", "cae", "ksae", "bae"], output, params, seeds or "0,1,2",
                          folds, disjoint_folds)
            for f in ("leaderboard.md", "results.json"):
                tracking.log_artifacts(output / f)
        return
    if protocol == "cloudera":
        from rich.markdown import Markdown

        from nadkit.experiments.cloudera import comparison_markdown, run_cloudera

        with tracking.run("bench cloudera", {**run_params, "legacy_labels": legacy_labels}, experiment,
                          enabled=track):
            rows = run_cloudera(names, output, params=params, seed=seed, legacy_labels=legacy_labels,
                                save_models=save_models, on_progress=say,
                                restarts=None if restarts is None else {"bigan": restarts})
            tracking.log_artifacts(output / "leaderboard.md")
            tracking.log_artifacts(output / "roc_pr.png")
        out.print(Markdown(comparison_markdown(rows)))
        out.print(f"metrics and plots in {output}/")
        return
    with tracking.run(f"bench {dataset}", {**run_params, "dataset": dataset}, experiment, enabled=track):
        result = run(dataset, names, output, params=params, seed=seed,
                     seeds=_seed_list(seeds) if seeds is not None else None,
                     series=_split_list(series) or None, labels=labels, train_share=train_share,
                     calibration=cfg.threshold.method, calibration_params=cfg.threshold.params(),
                     save_models=save_models, on_progress=say)
        for f in ("leaderboard.md", "roc_pr.png", "leaderboard.png", "metrics.json"):
            if (output / f).is_file():
                tracking.log_artifacts(output / f)
    for table in result.tables():
        out.print(table)
    out.print(f"metrics and leaderboard in {output}/")


def _seed_list(seeds: str) -> list[int]:
    try:
        seed_list = [int(v) for v in _split_list(seeds)]
    except ValueError as exc:
        raise DataError(f"--seeds expects comma-separated integers, got {seeds!r}") from exc
    if not seed_list:
        raise DataError("--seeds is empty")
    return seed_list


def _bench_thesis(dataset: str, names: list[str], output: Path, params: dict, seeds: str, folds: int,
                  disjoint: bool) -> None:
    from nadkit.experiments.leaderboard import leaderboard_table
    from nadkit.experiments.thesis import run_thesis_cv

    seed_list = _seed_list(seeds)
    report = run_thesis_cv(dataset, names, output, seeds=seed_list, n_folds=folds, disjoint=disjoint,
                           params=params, on_progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    rows = [{"model": name, **{k: v[0] for k, v in m["test"].items()},
             **{f"{k}_sd": v[1] for k, v in m["test"].items()}} for name, m in report["models"].items()]
    out.print(leaderboard_table(rows, ("model", "auroc", "cluster_weighted_auroc", "auprc", "f1", "mcc", "fit_s"),
                                f"{dataset}: thesis protocol, test split (mean ± std over seeds {seed_list})",
                                headers={"auroc": "global AUROC", "cluster_weighted_auroc": "cluster-weighted AUROC"}))
    out.print(f"results.json, leaderboard.md and plots in {output}/")


# ------------------------------------------------------------------------------- spark-score
@app.command("spark-score")
def spark_score(
    model_dir: ModelDir,
    input: Annotated[Path, typer.Argument(help="Parquet file/directory or CSV to score")],
    output: Annotated[Path, typer.Argument(help="output directory (Parquet; CSV when it ends in .csv)")],
    master: Annotated[str | None, typer.Option(help="Spark master URL [default: local[*]]")] = None,
    key_cols: Annotated[str | None, typer.Option(help="comma-separated input columns to copy")] = None,
    keep_cols: Annotated[str | None, typer.Option(hidden=True, help="deprecated: use --key-cols")] = None,
    entity_col: Annotated[str | None, typer.Option(help="series models: one series per value")] = None,
    time_col: Annotated[str | None, typer.Option(help="series models: the time order")] = None,
    contributions: Annotated[bool, typer.Option("--contributions/--no-contributions")] = False,
    batch_rows: Annotated[int, typer.Option(help="rows per Arrow batch")] = 65_536,
    overwrite: Annotated[bool, typer.Option(help="replace an existing output")] = False,
) -> None:
    """Score a large table on Spark (mapInPandas; series models per entity): writes the key
    columns, score and anomaly (0/1) per row."""
    _guard(output, "spark", model_dir, input)
    if keep_cols is not None:
        err.print("[yellow]warning:[/yellow] --keep-cols is deprecated: use --key-cols")
        key_cols = keep_cols
    from nadkit.spark import score_table, session

    with session(master, app_name="nadkit spark-score") as spark:
        score_table(spark, model_dir, input, output, key_cols=_split_list(key_cols),
                    contributions=contributions, entity_col=entity_col, time_col=time_col,
                    batch_rows=batch_rows, overwrite=overwrite)
        from pyspark.sql import functions as F

        written = spark.read.csv(str(output), header=True, inferSchema=True) \
            if str(output).lower().endswith(".csv") else spark.read.parquet(str(output))
        row = written.agg(F.count("*").alias("n"), F.sum("anomaly").alias("k")).collect()[0]
    n, flagged = int(row["n"]), int(row["k"] or 0)
    out.print(f"{n:,} rows scored on Spark, {flagged:,} flagged ({flagged / max(n, 1):.2%}) → {output}")


# --------------------------------------------------------------------------------- bin-flows
@app.command("bin-flows")
def bin_flows(
    data: Annotated[str, typer.Argument(help="flow records: CSV/Parquet with a time per flow, or "
                                             "dataset:split (CTU-13, CIC-IDS2017)")],
    output: Annotated[Path, typer.Argument(help="the series to write (.csv or .parquet): timestamp + channels")],
    freq: Annotated[str, typer.Option(help="bin size (pandas offset: 10s, 1min, 5min, …)")] = "1min",
    time_col: Annotated[str, typer.Option(help="files: time column ('auto': timestamp/time/datetime/date/ts)")] = "auto",
    label_col: Annotated[str | None, typer.Option(help="files: label column (0/1 or class names)")] = None,
    sum_cols: Annotated[str | None, typer.Option(help="comma-separated columns summed per bin")] = None,
    mean_cols: Annotated[str | None, typer.Option(
        help="comma-separated columns averaged per bin [default: every numeric column; '' for none]")] = None,
    protocol_col: Annotated[str, typer.Option(help="flows per value of this column ('' for none)")] = "Protocol",
    label_rule: Annotated[str, typer.Option(help="bin label: 'majority' of its flows or 'any' attack flow")] = "majority",
    labels_out: Annotated[Path | None, typer.Option(
        help="per-bin labels file (timestamp, label) [default: OUTPUT's name + .labels.csv when "
             "the flows are labelled]; pass it to train/evaluate as --labels")] = None,
) -> None:
    """Bin flow records into a regular multivariate series (Net-GAN on flow captures): per bin the
    flow count, sums, means and flows per protocol; every bin from the first flow to the last."""
    import pandas as pd

    from nadkit.data.loaders import check_numeric_cells, frame_to_table
    from nadkit.data.series.flows import flows_to_series
    from nadkit.data.series.loaders import find_time_col
    from nadkit.io import read_table, write_table

    _guard(output, "series", data)
    if labels_out is not None:
        _guard(labels_out, "labels", data, output)
    if Path(data).exists():
        df = read_table(data)
        tcol = find_time_col(df, time_col)
        if tcol is None:
            raise DataError(f"{data}: no time column found (columns {list(df.columns)[:12]}); pass --time-col")
        flows = frame_to_table(df, label_col=label_col, time_col=tcol, name=Path(data).name)
        check_numeric_cells(flows.X, flows.name, skip=[protocol_col])
    else:
        flows = _load_data(data, label_col=label_col)
    series = flows_to_series(flows, freq, sum_cols=_split_list(sum_cols),
                             mean_cols=None if mean_cols is None else _split_list(mean_cols),
                             protocol_col=protocol_col or None, label_rule=label_rule)
    times = pd.Series(series.time).dt.strftime("%Y-%m-%d %H:%M:%S")
    write_table(series.X.assign(timestamp=times.to_numpy())[["timestamp", *series.X.columns]], output)
    msg = f"{len(flows):,} flows → {len(series):,} bins of {freq}, {series.X.shape[1]} channels → {output}"
    if series.y is not None:
        lab_path = labels_out or output.with_name(output.name.split(".")[0] + ".labels.csv")
        if labels_out is None:
            _guard(lab_path, "labels", data, output)
        write_table(pd.DataFrame({"timestamp": times, "label": series.y}), lab_path)
        msg += f"; labels ({int(series.y.sum()):,} attack bins by the {label_rule} rule) → {lab_path}"
    out.print(msg)


# ------------------------------------------------------------------------------------- flows
@app.command()
def flows(
    capture: Annotated[Path, typer.Argument(help="pcap or pcapng file")],
    output: Annotated[Path, typer.Option("-o", "--output", help="flows table to write (.parquet or .csv)")],
    idle_timeout: Annotated[int, typer.Option(help="seconds without packets that end a flow")] = 120,
    active_timeout: Annotated[int, typer.Option(help="seconds after which a long flow is split")] = 1800,
    statistics: Annotated[bool, typer.Option("--statistics/--no-statistics",
                                             help="packet size/inter-arrival statistics, TCP flag counts")] = True,
    dissect: Annotated[int, typer.Option(help="packets per flow for nDPI application names (0: off)")] = 20,
    meters: Annotated[int | None, typer.Option(
        help="metering processes (0: nfstream's choice) [default: 1 under 100 MB, else 0]")] = None,
) -> None:
    """Turn a packet capture into flow records with nfstream (the 'flows' extra); the table is
    then read by train/detect/evaluate, addresses and ports recognised as identifiers."""
    from nadkit.data.exports import pcap_to_flows
    from nadkit.io import write_table

    df = pcap_to_flows(capture, idle_timeout=idle_timeout, active_timeout=active_timeout,
                       statistics=statistics, dissections=dissect, meters=meters)
    write_table(df, output)
    out.print(f"{len(df):,} flows × {df.shape[1]} columns from {capture} → {output}")


# -------------------------------------------------------------------------------------- info
@app.command()
def info(model_dir: ModelDir) -> None:
    """Show a model directory's manifest: detector, versions, schema, threshold."""
    from nadkit import artifact

    pipe = artifact.load(model_dir)
    m = pipe.manifest
    out.print(f"[bold]{m['detector']}[/bold] ({m['detector_class']}), created {m['created']}, "
              f"nadkit {m['versions']['nadkit']}")
    out.print(f"trained on {m['training'].get('training_rows')} rows of {m['training'].get('training_data')} "
              f"(hash {m['training'].get('training_hash')})")
    out.print(f"input columns: {len(m['schema']['columns'])}; threshold: {pipe.threshold.describe()}")
    for line in pipe.notes():
        out.print(line)


# ------------------------------------------------------------------------------------- serve
@app.command()
def serve(
    model_dirs: Annotated[list[str], typer.Argument(help="model directories (or NAME=DIR)")],
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    api_key: Annotated[str | None, typer.Option(envvar="NADKIT_API_KEY", show_envvar=True,
                                                help="require this key on every route but /health")] = None,
    eval_data: Annotated[str | None, typer.Option(help="labelled data for the dashboard, e.g. nsl-kdd:test")] = None,
    eval_labels: Annotated[str, typer.Option(help="label column (or file) of --eval-data")] = "label",
    eval_rows: Annotated[int, typer.Option(help="score at most this many evaluation rows (seeded sample)")] = 20_000,
    series_data: Annotated[str | None, typer.Option(help="a series for the series page, e.g. skab:valve1/0")] = None,
    series_labels: Annotated[str | None, typer.Option(help="label column or labels file of --series-data")] = None,
    series_steps: Annotated[int, typer.Option(help="score the first N steps of --series-data")] = 5_000,
    time_col: TimeCol = "auto",
    fill_gaps: FillGaps = 0,
    entity_col: EntityCol = None,
    max_body_mb: Annotated[float, typer.Option(help="largest request body in MiB (413 above)")] = 64.0,
    max_rows: Annotated[int, typer.Option(help="most rows per scoring request (413 above)")] = 200_000,
    read_timeout: Annotated[float, typer.Option(help="seconds a request body may stall (408 after)")] = 30.0,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
    alerts: Annotated[Path | None, typer.Option(help="append an ECS alert per flagged stream step to this JSON-lines file")] = None,
    webhook: Annotated[str | None, typer.Option(help="POST each stream alert as JSON to this URL (retried)")] = None,
) -> None:
    """Serve the models: REST scoring API, Prometheus /metrics and the dashboard on one port."""
    import errno
    import gc
    import logging
    import math
    import socket

    if not 1 <= port <= 65535:
        raise NadkitError(f"--port must be 1-65535, got {port}")
    for option, value in (("--max-body-mb", max_body_mb), ("--read-timeout", read_timeout)):
        if not (math.isfinite(value) and value > 0):
            raise NadkitError(f"{option} must be a positive number, got {value:g}")
    for option, count in (("--max-rows", max_rows), ("--eval-rows", eval_rows), ("--series-steps", series_steps)):
        if count < 1:
            raise NadkitError(f"{option} must be at least 1, got {count}")
    from nadkit.alerts import check_alert_options

    check_alert_options(None if alerts is None else str(alerts), webhook)
    # take the port before loading anything: a port in use fails here, not after "serving … on"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise NadkitError(f"cannot listen on host {host!r}: {exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does (restarts in TIME_WAIT)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = {errno.EADDRINUSE: "is in use", errno.EACCES: "needs more privileges (ports below 1024 need root)",
                  errno.EADDRNOTAVAIL: "is not available (is the host an address of this machine?)"}
        raise NadkitError(f"port {port} on {host} {reason.get(exc.errno, f'cannot be bound: {exc.strerror}')}") from None
    import uvicorn  # (the service's imports take seconds: only once the options and port are good)

    from nadkit.data.preprocess import UnknownCategoryWarning
    from nadkit.data.resolve import read_series_input, read_table_input
    from nadkit.service import create_app

    warnings.filterwarnings("ignore", category=UnknownCategoryWarning)  # reported in each response
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    with sock:
        table = series = None
        if eval_data:
            table = read_table_input(eval_data, labels=eval_labels, require_labels=True)
            _notice(table.meta.get("notice"))
        if series_data and entity_col:  # one series per entity, as `detect --entity-col`
            from nadkit.entities import read_entities

            if series_labels and Path(series_labels).is_file():
                raise NadkitError("with --entity-col, --series-labels names a label column of --series-data "
                                  "(a separate labels file cannot be split by entity)")
            series = read_entities(series_data, entity_col, time_col=time_col, max_gap=fill_gaps,
                                   label_col=series_labels)
        elif series_data:
            series = read_series_input(series_data, labels=series_labels, time_col=time_col, fill_gaps=fill_gaps)
        application = create_app(model_dirs, api_key=api_key or None, max_body_bytes=int(max_body_mb * 2**20),
                                 max_rows=max_rows, eval_data=table, eval_rows=eval_rows, series_data=series,
                                 series_steps=series_steps, read_timeout=read_timeout, alerts=alerts, webhook=webhook,
                                 entity_col=entity_col)
        gc.collect()
        gc.freeze()  # the loaded models and libraries are never garbage: keep them out of GC scans
        err.print(f"serving {', '.join(application.state.models)} on http://{host}:{port} "
                  f"(dashboard /, API docs /docs{', API key required' if api_key else ''})")
        config = uvicorn.Config(application, host=host, port=port, access_log=access_log, log_level="info")
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
    if not server.started:  # uvicorn logged why
        sys.exit(3)


# --------------------------------------------------------------------------------- entry point
def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def main() -> None:
    """Console entry point: one-line errors for user mistakes, exit code 2."""
    debug = os.environ.get("NADKIT_DEBUG") == "1" or "--debug" in sys.argv
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
    warnings.showwarning = _show_warning
    np.seterr(all="ignore")
    try:
        app()
    except NadkitError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line; --debug shows the traceback
        if debug:
            raise
        err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc} (rerun with --debug for details)",
                  highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
