"""Large-data performance: memory and throughput of streamed scoring as the input grows, and
Spark scoring throughput against the number of partitions.

Data: synthetic-from-real tables made by resampling NSL-KDD rows (KDDTrain+ and KDDTest+, with
replacement, seeded) into Parquet files of 1M … 10M rows in a work directory. Model: an AE
trained on the KDDTrain+ normals. Each size is scored by ``nadkit detect`` in its own process;
its peak RSS comes from the kernel (``wait4`` rusage of that child) and its wall time includes
start-up. Spark: ``nadkit.spark.score_table`` on ``local[N]`` over the same rows split into
1, 2, 4, 8 partitions (files), after a warm-up job.

Writes the ``scale`` section of docs/benchmarks.md and docs/scale_rows.png, docs/scale_spark.png.

    python benchmarks/scale.py [--sizes 1e6,2e6,5e6,1e7] [--spark-rows 1e6] [--partitions 1,2,4,8]
                               [--workdir /tmp/nadkit-scale] [--contributions/--no-contributions]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, update_section

warnings.filterwarnings("ignore")
DOCS = Path(__file__).resolve().parent.parent / "docs"
CHUNK = 500_000


def make_table(rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` rows resampled from NSL-KDD (train + test), written in 500k-row chunks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nadkit.data import load_dataset

    train, test = load_dataset("nsl-kdd", "train"), load_dataset("nsl-kdd", "test")
    pool = pd.concat([train.X, test.X], ignore_index=True)
    pool["label"] = np.concatenate([train.attack, test.attack]).astype(str)
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    writer = None
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        chunk = pool.iloc[rng.integers(0, len(pool), n)].reset_index(drop=True)
        chunk.insert(0, "id", np.arange(start, start + n, dtype=np.int64))
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        writer = writer or pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=128_000)
        print(f"  {path.name}: {start + n:,}/{rows:,} rows", flush=True)
    writer.close()
    tmp.replace(path)


def train_model(workdir: Path) -> Path:
    model = workdir / "ae-model"
    if not model.exists():
        print("training the AE on KDDTrain+ normals …", flush=True)
        run_cli(["train", "nsl-kdd:train", "--model", "ae", "-p", "epochs=10", "-o", str(model), "--no-progress"])
    return model


def run_cli(args: list[str]) -> tuple[float, float]:
    """Run ``nadkit ARGS`` in a child process: (wall seconds, peak RSS in MiB of that child)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a chatty child cannot block
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "nadkit", *args], stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise RuntimeError(f"nadkit {' '.join(args)} failed:\n{log.read()[-3000:]}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KiB


def single_machine(sizes: list[int], workdir: Path, model: Path, contributions: bool) -> list[dict]:
    rows = []
    for n in sizes:
        data = workdir / f"nsl-{n}.parquet"
        if not data.exists():
            make_table(n, data)
        out = workdir / "scores.parquet"
        flag = "--contributions" if contributions else "--no-contributions"
        wall, rss = run_cli(["detect", str(model), str(data), "-o", str(out), flag, "--keep-cols", "id"])
        rows.append({"rows": n, "seconds": wall, "rows_per_s": n / wall, "peak_rss_mib": rss,
                     "input_mib": data.stat().st_size / 2**20, "output_mib": out.stat().st_size / 2**20})
        print(f"detect {n:>11,} rows: {wall:7.1f} s, {n / wall:10,.0f} rows/s, peak RSS {rss:7.0f} MiB",
              flush=True)
        out.unlink()
    return rows


def spark_partitions(rows: int, partitions: list[int], workdir: Path, model: Path, master: str) -> list[dict]:
    from nadkit.spark import score_table, session

    source = workdir / f"nsl-{rows}.parquet"
    if not source.exists():
        make_table(rows, source)
    results = []
    # files are neither split nor packed together: partitions = files
    conf = {"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "8",
            "spark.sql.files.maxPartitionBytes": "1g", "spark.sql.files.openCostInBytes": "1g"}
    with session(master, "nadkit-scale-bench", conf) as spark:
        spark.sparkContext.setLogLevel("ERROR")
        import pyarrow.parquet as pq

        table = pq.read_table(source)
        for p in partitions:  # p files of equal row counts, written directly (no Spark shuffle)
            split = workdir / f"spark-in-{p}"
            shutil.rmtree(split, ignore_errors=True)
            split.mkdir(parents=True)
            bounds = np.linspace(0, table.num_rows, p + 1).astype(int)
            for i in range(p):
                pq.write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]), split / f"part-{i:03d}.parquet")
        warm = workdir / "spark-warm"
        shutil.rmtree(warm, ignore_errors=True)
        score_table(spark, model, workdir / "spark-in-1", warm, key_cols=["id"])  # starts the workers
        for p in partitions:
            out = workdir / f"spark-out-{p}"
            shutil.rmtree(out, ignore_errors=True)
            actual = spark.read.parquet(str(workdir / f"spark-in-{p}")).rdd.getNumPartitions()
            t = time.perf_counter()
            score_table(spark, model, workdir / f"spark-in-{p}", out, key_cols=["id"])
            wall = time.perf_counter() - t
            results.append({"partitions": actual, "rows": rows, "seconds": wall, "rows_per_s": rows / wall})
            print(f"spark {master} {actual} partitions: {wall:6.1f} s, {rows / wall:9,.0f} rows/s", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    return results


def plot(single: list[dict], spark: list[dict], master: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    n = [r["rows"] / 1e6 for r in single]
    ax[0].plot(n, [r["rows_per_s"] / 1e3 for r in single], "o-")
    ax[0].set(xlabel="rows scored (millions)", ylabel="thousand rows/s", title="nadkit detect (AE), streamed")
    ax[0].set_ylim(bottom=0)
    ax[1].plot(n, [r["peak_rss_mib"] for r in single], "o-", color="tab:red")
    ax[1].axhline(2048, ls="--", color="grey", lw=1)
    ax[1].text(n[0], 2048, " 2 GiB", va="bottom", color="grey")
    ax[1].set(xlabel="rows scored (millions)", ylabel="peak RSS (MiB)", title="memory of the scoring process")
    ax[1].set_ylim(0, max(2300, max(r["peak_rss_mib"] for r in single) * 1.1))
    fig.tight_layout()
    fig.savefig(DOCS / "scale_rows.png", dpi=80)
    if spark:
        fig, ax = plt.subplots(figsize=(4.5, 3.4))
        ax.plot([r["partitions"] for r in spark], [r["rows_per_s"] / 1e3 for r in spark], "o-")
        ax.set(xlabel="Spark partitions", ylabel="thousand rows/s", xscale="log",
               title=f"spark-score, {master}, {spark[0]['rows'] / 1e6:g}M rows")
        ax.set_xticks([r["partitions"] for r in spark], [str(r["partitions"]) for r in spark])
        ax.set_ylim(bottom=0)
        fig.tight_layout()
        fig.savefig(DOCS / "scale_spark.png", dpi=80)


def report(single: list[dict], spark: list[dict], args: argparse.Namespace, load: str,
           baseline: dict | None = None) -> str:
    cmd = " ".join(["python benchmarks/scale.py", *sys.argv[1:]])
    lines = [
        "## Large data: streamed scoring and Spark",
        "",
        f"Measured on {time.strftime('%Y-%m-%d')} with `{cmd}` on {machine()}; load average when it "
        f"started: {load} "
        + ("(a quiet machine)." if float(load.split(",")[0]) < 2 else
           "(**a shared machine**: other jobs were running, so these times are noisy and "
           "pessimistic; rerun on a quiet machine)."),
        "",
        "Input: NSL-KDD rows (KDDTrain+ ∪ KDDTest+) resampled with replacement into Parquet "
        "(128k-row groups). Model: AE trained on the KDDTrain+ normals (`nadkit train nsl-kdd:train "
        "--model ae -p epochs=10`). Each size is scored by `nadkit detect MODEL IN.parquet -o OUT.parquet "
        f"--keep-cols id {'--contributions' if args.contributions else '--no-contributions'}` in its own "
        "process (streamed in 65,536-row batches, written batch by batch); peak RSS is that process's "
        "`ru_maxrss` from `wait4`, wall time includes interpreter start-up.",
        "",
        "| rows | seconds | rows/s | peak RSS (MiB) | input (MiB) | output (MiB) |",
        "|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['rows']:,} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['peak_rss_mib']:.0f} | "
          f"{r['input_mib']:.0f} | {r['output_mib']:.0f} |" for r in single],
        "",
        "![rows/s and peak memory against rows](scale_rows.png)",
    ]
    if spark:
        lines += [
            "",
            f"Spark: `nadkit.spark.score_table` (what `nadkit spark-score` runs) on `{args.master}` over "
            f"{spark[0]['rows']:,} rows stored as 1, 2, 4, 8 Parquet files, one partition each "
            "(`spark.sql.files.maxPartitionBytes` = `openCostInBytes` = 1g; the count is read back), "
            "key column `id`, no contributions, after one warm-up job that starts the Python workers.",
            "",
            "| partitions | seconds | rows/s |",
            "|---:|---:|---:|",
            *[f"| {r['partitions']} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} |" for r in spark],
            "",
            *([f"The same {baseline['rows']:,} rows through `nadkit detect … --no-contributions` on one "
               f"process (start-up included): {baseline['seconds']:.1f} s, {baseline['rows_per_s']:,.0f} rows/s, "
               f"peak RSS {baseline['peak_rss_mib']:.0f} MiB.", ""] if baseline else []),
            "![Spark rows/s against partitions](scale_spark.png)",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e6,2e6,5e6,1e7")
    ap.add_argument("--spark-rows", default="1e6")
    ap.add_argument("--partitions", default="1,2,4,8")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--workdir", default="/tmp/nadkit-scale")
    ap.add_argument("--contributions", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--no-doc", action="store_true", help="print, do not write docs/")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    model = train_model(workdir)
    single = single_machine([int(float(s)) for s in args.sizes.split(",")], workdir, model, args.contributions)
    spark, baseline = [], None
    if int(float(args.spark_rows)) > 0:
        rows = int(float(args.spark_rows))
        spark = spark_partitions(rows, [int(p) for p in args.partitions.split(",")], workdir, model, args.master)
        baseline = single_machine([rows], workdir, model, contributions=False)[0]
    md = report(single, spark, args, load, baseline)
    print(md)
    if not args.no_doc:
        plot(single, spark, args.master)
        update_section("scale", md)


if __name__ == "__main__":
    main()
