"""Load test of the scoring service over loopback HTTP: throughput and p50/p99 latency.

Starts the real server (``nadkit serve MODEL --no-access-log``) in a subprocess, checks that its
scores equal the library's on the same batch, then drives it with an async httpx loop, each
phase bounded in time:

* ``single``: one NSL-KDD record per request (JSON records with contributions, the API default),
  ``--concurrency`` requests in flight (default 1: the latency a caller sees);
* ``batch-<format>``: ``--batch-rows`` rows per request (scores + labels, no contributions)
  as an Arrow IPC stream, Parquet, CSV, JSON rows (``instances``) or JSON records (``data``),
  ``--batch-concurrency`` requests in flight.

Any non-200 answer or transport error counts as an error. The model is the AE with default
hyper-parameters trained on the KDDTrain+ normals (``nadkit train nsl-kdd:train --model ae``,
seed 0), trained once into ``results/service/ae`` unless ``--model`` names one. Writes the ``service`` section of
docs/benchmarks.md (``--no-write`` to skip).

    python benchmarks/load_service.py [--duration 60] [--batch-rows 20000] [--formats arrow,parquet,csv]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
from _common import machine, update_section

from nadkit import artifact
from nadkit.data import load_dataset

warnings.filterwarnings("ignore")
REPO = Path(__file__).resolve().parent.parent
FORMATS = {"arrow": "application/vnd.apache.arrow.stream", "parquet": "application/vnd.apache.parquet",
           "csv": "text/csv", "instances": "application/json", "records": "application/json"}


def trained_model(path: Path) -> Path:
    """The AE of ``nadkit train nsl-kdd:train --model ae`` (defaults, seed 0), trained once."""
    if not (path / "manifest.json").is_file():
        print(f"training the AE on the KDDTrain+ normals into {path} …", flush=True)
        subprocess.run([sys.executable, "-m", "nadkit", "train", "nsl-kdd:train", "--model", "ae", "-o", str(path),
                        "--no-progress"], check=True)
    return path


def encode(df: pd.DataFrame, fmt: str) -> bytes:
    import pyarrow as pa

    if fmt == "records":
        return orjson.dumps({"data": df.to_dict("records")})
    if fmt == "instances":
        return orjson.dumps({"instances": df.to_numpy(dtype=object).tolist()})
    if fmt == "csv":
        return df.to_csv(index=False).encode()
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return buf.getvalue()
    table = pa.Table.from_pandas(df, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "NADKIT_API_KEY": ""}
    proc = subprocess.Popen([sys.executable, "-m", "nadkit", "serve", str(model), "--port", str(port),
                             "--no-access-log", "--max-body-mb", "512", "--max-rows", "1000000"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start within 300 s")


def phase(pid: int, url: str, payloads: list[tuple[bytes, str, int]], duration: float, concurrency: int) -> dict:
    """One timed phase, with the server's CPU seconds per request."""
    cpu = cpu_seconds(pid)
    result = asyncio.run(drive(url, payloads, duration, concurrency))
    result["server_cpu_ms"] = (cpu_seconds(pid) - cpu) / max(result["requests"], 1) * 1e3
    return result


async def drive(url: str, payloads: list[tuple[bytes, str, int]], duration: float, concurrency: int) -> dict:
    """Send payloads round-robin from ``concurrency`` workers for ``duration`` seconds."""
    latencies: list[float] = []
    rows = errors = 0
    stop = time.perf_counter() + duration
    counter = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal rows, errors, counter
        while time.perf_counter() < stop:
            body, ctype, n = payloads[counter % len(payloads)]
            counter += 1
            t = time.perf_counter()
            try:
                r = await client.post(url, content=body, headers={"content-type": ctype})
                ok = r.status_code == 200 and len(orjson.loads(r.content)["scores"]) == n
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - t)
            if ok:
                rows += n
            else:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    lat = np.array(latencies) * 1e3
    return {"requests": len(lat), "errors": errors, "rows": rows, "seconds": elapsed,
            "rows_per_s": rows / elapsed, "req_per_s": len(lat) / elapsed,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="model directory (default: train the AE)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per phase")
    ap.add_argument("--concurrency", type=int, default=1, help="single-record requests in flight")
    ap.add_argument("--batch-rows", type=int, default=20_000)
    ap.add_argument("--batch-concurrency", type=int, default=2)
    ap.add_argument("--formats", default="arrow,parquet,csv,instances,records")
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = ap.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        ap.error(f"unknown formats {unknown}; choose from {list(FORMATS)}")

    model = trained_model(args.model or REPO / "results" / "service" / "ae")
    test = load_dataset("nsl-kdd", "test").X
    rng = np.random.default_rng(0)
    singles = [(orjson.dumps({"data": [rec]}), "application/json", 1)
               for rec in test.iloc[rng.choice(len(test), 2000, replace=False)].to_dict("records")]
    batch = test.iloc[rng.choice(len(test), args.batch_rows, replace=len(test) < args.batch_rows)].reset_index(drop=True)

    load_before = os.getloadavg()[0]
    port = free_port()
    server = start_server(model, port)
    base = f"http://127.0.0.1:{port}/v1/models/{model.name}/score"
    try:
        # the service must give the library's scores on the same batch, exactly
        check = batch.head(5000)
        r = httpx.post(base + "?contributions=false", content=encode(check, "arrow"),
                       headers={"content-type": FORMATS["arrow"]}, timeout=120)
        r.raise_for_status()
        lib = artifact.load(model).score(check)
        same = bool(np.array_equal(np.array(r.json()["scores"]), lib))
        print(f"scores equal to the library's on {len(check):,} rows: {same}", flush=True)
        if not same:
            raise SystemExit("service scores differ from the library's")

        results = {}
        print(f"phase single: {args.duration:.0f} s, concurrency {args.concurrency}", flush=True)
        results["single (JSON record, contributions)"] = phase(server.pid, base, singles, args.duration,
                                                               args.concurrency)
        for fmt in formats:
            payload = [(encode(batch, fmt), FORMATS[fmt], len(batch))]
            print(f"phase batch-{fmt}: {args.duration:.0f} s, {len(batch):,} rows/request "
                  f"({len(payload[0][0]) / 1e6:.1f} MB), concurrency {args.batch_concurrency}", flush=True)
            results[f"batch {fmt} ({len(batch):,} rows)"] = phase(server.pid, base + "?contributions=false", payload,
                                                                   args.duration, args.batch_concurrency)
    finally:
        server.terminate()
        server.wait(timeout=30)

    lines = ["| phase | requests | errors | rows/s | requests/s | p50 ms | p99 ms | max ms | server CPU ms/request |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['requests']:,} | {r['errors']} | {r['rows_per_s']:,.0f} | {r['req_per_s']:,.1f} "
                     f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['server_cpu_ms']:.2f} |")
    table = "\n".join(lines)
    print(table)
    single = results["single (JSON record, contributions)"]
    best_batch = max((r["rows_per_s"] for k, r in results.items() if k.startswith("batch")), default=float("nan"))
    errors = sum(r["errors"] for r in results.values())
    verdict = (f"single-record p99 {single['p99_ms']:.1f} ms (target < 20 ms: "
               f"{'met' if single['p99_ms'] < 20 else 'NOT met'}); best batch {best_batch:,.0f} rows/s "
               f"(target ≥ 100,000: {'met' if best_batch >= 100_000 else 'NOT met'}); errors {errors}")
    load = f"1-minute load average {load_before:.1f} before the run and {os.getloadavg()[0]:.1f} after it"
    print(verdict)
    print(load)
    if not args.no_write:
        cmd = "python benchmarks/load_service.py " + " ".join(sys.argv[1:])
        update_section("service", f"""## Scoring service over HTTP (AE on NSL-KDD)

`{cmd.strip()}` — {machine()}. The server (`nadkit serve`, uvicorn, one process, no access log)
and the async httpx client run on the same machine and share its cores; each phase runs
{args.duration:.0f} s. Latency is measured by the client (request sent → response parsed).
Single records: {args.concurrency} request(s) in flight; batches: {args.batch_concurrency} in
flight, scores + labels without contributions. "server CPU" is the server process's user+system
CPU time per request (from /proc), which does not depend on what else runs on the machine.
The service's scores were checked equal to
`nadkit.artifact.load(MODEL).score(...)` on the same rows before the load.

{table}

{verdict}. Machine: {load} ({os.cpu_count()} cores; a load above the core count means other
jobs were competing for the CPU, which inflates the client-measured latencies but not the
server CPU per request).
""")


if __name__ == "__main__":
    main()
