"""Progress in a log (issue 16): a 1M-row ``nadkit detect`` and a DC-VAE ``nadkit train`` run
as subprocesses with stderr redirected to a file (not a terminal), then what each log holds:
how many progress lines, the first and the last, and the wall time.

* detect: a PCA model trained on NSL-KDD's normal training rows scores ``--rows`` rows (the
  NSL-KDD test set tiled, categorical columns included) from one CSV file.
* train: DC-VAE on SMD machine-1-2 (default architecture, ``step_budget`` optimiser steps),
  then ``detect`` of its test file (the series path).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/progress_check.py [--rows 1000000] [--budget 400] [--docs]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

#: a progress line: rows n/N, epoch k/N or step k/N
PROGRESS = re.compile(r"(rows [\d,]+/~?[\d,]+|epoch \d+/\d+|step \d+/\d+)")


def nadkit(args: list[str], log: Path, out: Path | None = None) -> tuple[int, float]:
    """``python -m nadkit ARGS`` with stderr to ``log`` (stdout to ``out`` or discarded)."""
    t0 = time.monotonic()
    with open(log, "w") as err, open(out or os.devnull, "w") as so:
        rc = subprocess.run([sys.executable, "-m", "nadkit", *map(str, args)], stdout=so, stderr=err,
                            stdin=subprocess.DEVNULL).returncode
    return rc, time.monotonic() - t0


def summary(what: str, log: Path, rc: int, seconds: float) -> dict:
    text = log.read_text()
    lines = text.splitlines()
    prog = [ln for ln in lines if PROGRESS.search(ln)]
    return {"what": what, "rc": rc, "seconds": round(seconds, 1), "log_bytes": len(text.encode()),
            "log_lines": len(lines), "progress_lines": len(prog), "carriage_returns": text.count("\r"),
            "first": prog[0] if prog else "", "last": prog[-1] if prog else "",
            "end": lines[-1] if lines else ""}


def table_data(work: Path, rows: int) -> tuple[Path, Path]:
    import numpy as np

    from nadkit.data import load_dataset

    train, test = load_dataset("nsl-kdd", "train"), load_dataset("nsl-kdd", "test")
    normal = train.normal()
    normal.X.to_csv(work / "train.csv", index=False)
    big = work / f"flows-{rows}.csv"
    if not big.exists():
        reps = -(-rows // len(test))
        frame = test.X.iloc[np.resize(np.arange(len(test)), rows)].reset_index(drop=True)
        assert reps >= 1 and len(frame) == rows
        frame.to_csv(big.with_suffix(".tmp"), index=False)
        big.with_suffix(".tmp").replace(big)
    return work / "train.csv", big


def run(args) -> list[dict]:
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    train, big = table_data(work, args.rows)
    rc, _ = nadkit(["train", train, "--model", "pca", "-o", work / "pca", "--force"], work / "pca-train.log")
    assert rc == 0, (work / "pca-train.log").read_text()
    rc, s = nadkit(["detect", work / "pca", big, "-o", work / "scores.csv"], work / "detect.log", work / "detect.out")
    results.append(summary(f"detect, PCA, {args.rows:,} rows (CSV)", work / "detect.log", rc, s))
    rc, s = nadkit(["train", "smd:machine-1-2", "--model", "dcvae", "-p", f"step_budget={args.budget}",
                    "-o", work / "dcvae", "--force"], work / "dcvae-train.log")
    results.append(summary(f"train, DC-VAE, SMD machine-1-2, step_budget={args.budget}",
                           work / "dcvae-train.log", rc, s))
    if rc == 0:
        rc, s = nadkit(["detect", work / "dcvae", "smd:machine-1-2:test", "-o", work / "series.csv"],
                       work / "dcvae-detect.log", work / "dcvae-detect.out")
        results.append(summary("detect, DC-VAE, SMD machine-1-2 test", work / "dcvae-detect.log", rc, s))
    return results


def report(results: list[dict], args) -> str:
    from _common import machine

    lines = ["<!-- written by benchmarks/progress_check.py -->",
             "## Progress in a non-TTY log (issue 16)", "",
             "`nadkit` run as a subprocess with stderr redirected to a file (so not a terminal); counted: the "
             "lines matching `rows n/N`, `epoch k/N` or `step k/N`. Command: `OMP_NUM_THREADS=1 nice -n 10 "
             f"python benchmarks/progress_check.py --rows {args.rows} --budget {args.budget} --docs` on "
             f"{machine()}, shared with other jobs.", "",
             "| run | exit | wall (s) | log lines | progress lines | `\\r` in log | log bytes |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['what']} | {r['rc']} | {r['seconds']} | {r['log_lines']} | {r['progress_lines']} | "
                     f"{r['carriage_returns']} | {r['log_bytes']:,} |")
    lines += ["", "First and last progress line, and the log's last line:", ""]
    for r in results:
        lines += [f"* {r['what']}:", "", "  ```", f"  {r['first']}", f"  {r['last']}", f"  {r['end']}", "  ```", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--budget", type=int, default=400, help="DC-VAE step_budget (optimiser steps)")
    ap.add_argument("--out", default="results/progress")
    ap.add_argument("--docs", action="store_true", help="write the section in docs/benchmarks.md")
    args = ap.parse_args()
    results = run(args)
    text = report(results, args)
    print(text)
    if args.docs:
        from _common import update_section

        update_section("progress", text)


if __name__ == "__main__":
    main()
