"""Same seed, same scores, whatever the thread count: a tiny DC-VAE fitted and scored in two
processes that start with different OMP_NUM_THREADS and torch thread counts gives identical
scores (the trainer and the series scoring run under a fixed intra-op thread count)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from nadkit.models.train import DEFAULT_THREADS, fixed_threads, intra_op_threads, trainer_options

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    torch.set_num_threads(int(sys.argv[1]))
    from nadkit.models import DCVAE
    t = np.arange(2500, dtype="float32")
    rng = np.random.default_rng(0)
    X = np.stack([np.sin(t / 10), np.cos(t / 15), np.sin(t / 7) * np.cos(t / 40)], axis=1)
    X = (X + 0.1 * rng.normal(size=X.shape)).astype("float32")
    det = DCVAE(window=32, cnn_units=(32,) * 4, dilations=(1, 2, 4, 8, 16), step_budget=40,
                random_state=3).fit(X[:1800])
    s = det.score(X[1800:])
    print(json.dumps({"scores": np.nan_to_num(s, nan=-1.0).tolist(), "threads_after": torch.get_num_threads()}))
""")


def _run(omp: str, torch_threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": omp, "MKL_NUM_THREADS": omp}
    env.pop("NADKIT_THREADS", None)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(torch_threads)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_scores_do_not_depend_on_the_thread_count():
    procs = [_run("1", 1), _run("3", 3)]            # both at once: a few seconds in all
    results = []
    for p in procs:
        out, errs = p.communicate(timeout=300)
        assert p.returncode == 0, errs[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    a, b = (np.asarray(r["scores"]) for r in results)
    assert len(a) == 700 and (a[31:] > 0).all()
    np.testing.assert_array_equal(a, b)
    # the caller's own thread count is left as it was
    assert [r["threads_after"] for r in results] == [1, 3]


def test_thread_count_setting():
    before = torch.get_num_threads()
    assert fixed_threads() == DEFAULT_THREADS or "NADKIT_THREADS" in os.environ
    with trainer_options(threads=2):
        assert fixed_threads() == 2
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
