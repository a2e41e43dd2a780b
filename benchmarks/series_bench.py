"""nadkit's series models next to PyOD and TSB-AD 1.5 on SMD, SKAB and NAB: the same command
as ``nadkit bench -d smd|skab|nab``, every model in one run, per series and as means.

Protocol: :mod:`nadkit.experiments.series_bench` (train part → test part per series, channels
standardised with train statistics, thresholds from training data only, VUS-PR/VUS-ROC from
TSB-AD's code). Models: DC-VAE, Seq2Seq and Net-GAN with their library defaults over 3 seeds
(mean ± sd); PyOD PCA/IForest/AutoEncoder and TSB-AD CNN/USAD/OmniAnomaly/LSTMAD/PCA with
TSB-AD's tuned multivariate settings, once each. Writes ``results/series-bench/<dataset>/`` and,
for a full run (every series, all datasets, default models and seeds), the ``series-bench``
section of docs/benchmarks.md.

    python benchmarks/series_bench.py [--datasets smd,skab,nab] [--seeds 0,1,2] [--threads 1]
    python benchmarks/series_bench.py --datasets skab --series valve1/0 --seeds 0 \\
        -p dcvae.step_budget=5 -p seq2seq.step_budget=5 -p netgan.step_budget=5   # smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from _common import machine, update_section

from nadkit.experiments.bench import split_model_params
from nadkit.experiments.leaderboard import leaderboard_markdown
from nadkit.experiments.peers import PEERS
from nadkit.experiments.series_bench import COLUMNS, run_series_bench

DATASETS = ("smd", "skab", "nab")
NADKIT = ("dcvae", "seq2seq", "netgan")
MODELS = (*NADKIT, *PEERS)
OUT = Path(__file__).resolve().parent.parent / "results" / "series-bench"


def _best_peer(rows: list[dict], metric: str) -> dict | None:
    peers = [r for r in rows if r["model"] in PEERS and r.get(metric) is not None]
    return max(peers, key=lambda r: r[metric]) if peers else None


def section(results: dict[str, dict], meta: dict) -> str:
    lines = ["## Series: nadkit vs PyOD and TSB-AD (`nadkit bench`)", "",
             f"`python benchmarks/series_bench.py --threads {meta['threads']}` on {meta['machine']} "
             f"({meta['wall_s'] / 60:.0f} min). Same train → test split for every model "
             "(`nadkit.experiments.series_bench`); nadkit rows are mean ± sd over seeds "
             f"{meta['seeds']} of the mean over series, peers run once. Defaults were fixed before "
             "this run; no choice uses test labels.", ""]
    for name, s in results.items():
        lines += [f"### {name}: {s['protocol']}", "", leaderboard_markdown(s["mean"], COLUMNS), ""]
        for metric in ("vus_pr", "auprc"):
            best = _best_peer(s["mean"], metric)
            if best:
                lines.append(f"- best single peer by mean {metric}: {best['model']} ({best[metric]:.3f})")
        groups = s["groups"]
        if 1 < len(groups) <= 12:
            lines += ["", f"VUS-PR per group ({name}):", "",
                      "| model | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
            for r in s["mean"]:
                cells = [groups[g].get(r["model"], {}).get("vus_pr") for g in groups]
                lines.append(f"| {r['model']} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells) + " |")
        if s["skipped"]:
            lines.append(f"\nSkipped (no labelled anomaly in the test part): {', '.join(s['skipped'])}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--series", default=None, help="only these series/groups (smoke runs)")
    ap.add_argument("-p", "--param", action="append", default=[], help="model.key=value")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: reproducible scores)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    flat = {}
    for item in args.param:
        k, _, v = item.partition("=")
        try:
            flat[k] = json.loads(v)
        except json.JSONDecodeError:
            flat[k] = v
    params = split_model_params(flat)
    seeds = [int(s) for s in args.seeds.split(",")]
    series = args.series.split(",") if args.series else None
    models = args.models.split(",")
    start, results = time.perf_counter(), {}
    for name in args.datasets.split(","):
        results[name] = run_series_bench(name, models, args.out / name, params=params, seeds=seeds,
                                         series=series, on_progress=lambda m: print(m, flush=True))
    meta = {"threads": args.threads, "machine": machine(), "seeds": seeds,
            "wall_s": time.perf_counter() - start}
    text = section(results, meta)
    print(text)
    full = (series is None and not params and set(args.datasets.split(",")) == set(DATASETS)
            and models == list(MODELS) and len(seeds) >= 3)
    if full:
        update_section("series-bench", text)
    else:
        print("(partial run: docs/benchmarks.md not updated)")


if __name__ == "__main__":
    main()
