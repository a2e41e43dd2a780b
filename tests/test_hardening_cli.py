"""Hardening of the CLI's outputs and input reading (issue 14): `-o` never destroys a user's file
or an input, bad cells and labels are reported instead of silently re-typed, and every failure is
one `error:` line. Most cases run the real CLI in-process (typer's CliRunner on `nadkit.cli.app`:
a user mistake surfaces as a NadkitError, which `main` prints as `error: …`); the ones about the
process itself (disk full, a FIFO, permissions, the printed line) run `python -m nadkit`."""

import gzip
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nadkit.cli import app
from nadkit.errors import DataError, NadkitError

from .user_csv import write_labelled_csvs

SRC = str(Path(__file__).resolve().parent.parent / "src")


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(res):
    assert res.exit_code == 0, (res.output, repr(res.exception))
    return res


def refused(res, message):
    """A user error: a NadkitError (printed by `main` as one `error:` line, exit 2)."""
    assert isinstance(res.exception, NadkitError), (res.output, repr(res.exception))
    assert message in str(res.exception), str(res.exception)
    assert "\n" not in str(res.exception)
    return res


def nadkit(*args, timeout=300, **kw):
    env = {**os.environ, "COLUMNS": "300", "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nadkit", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, **kw)


def assert_error_line(res, message):
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error:") and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def snapshot(root: Path) -> dict:
    """Every path under ``root``: (is_dir, mtime_ns, sha256 of a file)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_mtime_ns, digest)
    return out


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def only_under(paths: set[str], *targets: str) -> bool:
    return all(any(p == t or p.startswith(t + os.sep) for t in targets) for p in paths)


@pytest.fixture(scope="module")
def work(tmp_path_factory, nsl):
    """Real NSL-KDD rows as a user's CSV (attack names in 'label'), a PCA trained by the CLI."""
    tmp = tmp_path_factory.mktemp("harden")
    write_labelled_csvs(tmp, nsl, 1500, 600, seed=3)
    ok(cli("train", tmp / "flows.csv", "--label-col", "label", "-m", "pca", "-o", tmp / "model", "--no-progress"))
    return tmp


def _csv(work, name, mutate):
    df = pd.read_csv(work / "flows.csv").head(400)
    df = mutate(df)
    path = work / name
    df.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------ 1. outputs
def test_train_never_replaces_a_users_directory_or_file(work, tmp_path):
    user = tmp_path / "somedir"
    user.mkdir()
    (user / "thesis.tex").write_text("years of work")
    (tmp_path / "notes.txt").write_text("keep me")
    before = snapshot(tmp_path)
    for target in (user, tmp_path / "notes.txt"):
        for force in ([], ["--force"]):  # --force replaces models only, never a user's files
            res = cli("train", work / "flows.csv", "--label-col", "label", "-m", "pca", "-o", target, *force)
            refused(res, str(target))
    assert snapshot(tmp_path) == before


def test_replacing_a_model_needs_force(work, tmp_path):
    m = tmp_path / "m"
    ok(cli("train", work / "flows.csv", "--label-col", "label", "-m", "pca", "-o", m))
    before = snapshot(tmp_path)
    refused(cli("train", work / "flows.csv", "--label-col", "label", "-m", "pca", "-o", m), "--force")
    assert snapshot(tmp_path) == before
    ok(cli("train", work / "flows.csv", "--label-col", "label", "-m", "iforest", "-o", m, "--force"))
    assert json.loads((m / "manifest.json").read_text())["detector"] == "iforest"
    # an empty directory is no loss: it takes the model
    (tmp_path / "empty").mkdir()
    ok(cli("train", work / "flows.csv", "--label-col", "label", "-m", "pca", "-o", tmp_path / "empty"))
    assert (tmp_path / "empty" / "manifest.json").is_file()


def test_output_equal_to_inside_or_containing_an_input(work, tmp_path):
    data = tmp_path / "in.csv"
    shutil.copy(work / "test.csv", data)
    before = snapshot(tmp_path)
    refused(cli("detect", work / "model", data, "-o", data), "is the input")
    os.link(data, tmp_path / "hardlink.csv")
    before = snapshot(tmp_path)
    refused(cli("detect", work / "model", data, "-o", tmp_path / "hardlink.csv"), "is the input")
    assert snapshot(tmp_path) == before
    refused(cli("detect", work / "model", data, "-o", work / "model" / "scores.csv"), "is inside the input")
    refused(cli("evaluate", work / "model", data, "-o", tmp_path), "contains the input")
    refused(cli("train", data, "--label-col", "label", "-m", "pca", "-o", data, "--force"), "is the input")
    assert snapshot(tmp_path) == before


def test_output_kinds_are_not_interchangeable(work, tmp_path):
    report = tmp_path / "report"
    ok(cli("evaluate", work / "model", work / "test.csv", "-o", report))
    scores = tmp_path / "s.csv"
    ok(cli("detect", work / "model", work / "test.csv", "-o", scores))
    before = snapshot(tmp_path)
    refused(cli("train", work / "flows.csv", "--label-col", "label", "-m", "pca", "-o", report, "--force"),
            "is a nadkit report directory")
    ok(cli("train", work / "flows.csv", "--label-col", "label", "-m", "pca", "-o", tmp_path / "m"))
    before = snapshot(tmp_path)
    refused(cli("evaluate", work / "model", work / "test.csv", "-o", tmp_path / "m"), "is a nadkit model directory")
    refused(cli("bin-flows", work / "test.csv", scores), "is a nadkit scores table")
    assert snapshot(tmp_path) == before
    # the same kind is replaced: rerunning evaluate/detect onto their own outputs works
    ok(cli("evaluate", work / "model", work / "test.csv", "-o", report))
    ok(cli("detect", work / "model", work / "test.csv", "-o", scores, "--no-contributions"))
    assert "contrib_src_bytes" not in pd.read_csv(scores, nrows=1).columns


def test_unusable_output_paths(work, tmp_path):
    (tmp_path / "x.csv").mkdir()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("user data")
    cases = [
        (("detect", work / "model", work / "test.csv", "-o", tmp_path / "x.csv"), "is an existing directory"),
        (("detect", work / "model", work / "test.csv", "-o", tmp_path / "no" / "s.csv"), "does not exist"),
        (("detect", work / "model", work / "test.csv", "-o", "/proc/s.csv"), "system directory"),
        (("detect", work / "model", work / "test.csv", "-o", tmp_path / "s.xlsx"), "unknown output format"),
        (("train", work / "flows.csv", "-m", "pca", "-o", "/proc/self/m"), "system directory"),
        (("evaluate", work / "model", work / "test.csv", "-o", tmp_path / "a" / "b"), "does not exist"),
        (("bench", "-d", "nsl-kdd", "--models", "pca", "-o", tmp_path / "mine"), "not a nadkit output"),
        (("spark-score", work / "model", work / "test.csv", tmp_path / "mine"), "not a nadkit output"),
    ]
    before = snapshot(tmp_path)
    for args, message in cases:
        refused(cli(*args), message)
    assert snapshot(tmp_path) == before


def test_no_file_outside_the_output_changes(work, tmp_path):
    """Run every writing command on a tree; only its -o target (or, for calibrate, the model it
    updates in place) may be created, changed or deleted."""
    root = tmp_path / "tree"
    root.mkdir()
    for f in ("flows.csv", "test.csv"):
        shutil.copy(work / f, root / f)
    times = pd.date_range("2024-01-01", periods=600, freq="7s").strftime("%Y-%m-%d %H:%M:%S")
    pd.read_csv(root / "test.csv").assign(timestamp=times).to_csv(root / "capture.csv", index=False)
    (root / "mine").mkdir()
    (root / "mine" / "a.txt").write_text("user data")
    runs = [
        (("train", root / "flows.csv", "--label-col", "label", "-m", "pca", "-o", root / "model"), ["model"]),
        (("train", root / "flows.csv", "--label-col", "label", "-m", "pca", "-o", root / "model", "--force"),
         ["model"]),
        (("calibrate", root / "model", root / "flows.csv", "--labels", "label", "--method", "fpr", "--fpr", "0.05"),
         ["model"]),
        (("detect", root / "model", root / "test.csv", "-o", root / "s.csv"), ["s.csv"]),
        (("detect", root / "model", root / "test.csv", "-o", root / "s.csv"), ["s.csv"]),
        (("detect", root / "model", root / "test.csv", "-o", root / "s.parquet"), ["s.parquet"]),
        (("evaluate", root / "model", root / "test.csv", "-o", root / "report"), ["report"]),
        (("evaluate", root / "model", root / "test.csv", "-o", root / "report"), ["report"]),
        (("bin-flows", root / "capture.csv", root / "series.csv", "--label-col", "label", "--freq", "1min",
          "--protocol-col", "protocol_type"), ["series.csv", "series.labels.csv"]),
        (("bin-flows", root / "capture.csv", root / "series.csv", "--label-col", "label", "--freq", "1min",
          "--protocol-col", "protocol_type"), ["series.csv", "series.labels.csv"]),
        # refused: nothing at all may change
        (("train", root / "flows.csv", "--label-col", "label", "-m", "pca", "-o", root / "mine"), []),
        (("detect", root / "model", root / "test.csv", "-o", root / "test.csv"), []),
        (("evaluate", root / "model", root / "test.csv", "-o", root / "mine"), []),
        (("bin-flows", root / "capture.csv", root / "flows.csv"), []),
    ]
    for args, targets in runs:
        before = snapshot(root)
        res = cli(*args)
        if targets:
            ok(res)
        else:
            refused(res, "")
        diff = changed(before, snapshot(root))
        assert only_under(diff, *targets), (args[0], sorted(diff))
        if targets:
            assert diff, f"{args[0]} wrote nothing"
    assert (root / "mine" / "a.txt").read_text() == "user data"


def test_disk_full_is_a_clean_error_and_leaves_nothing(work, tmp_path):
    """A file-size limit makes every write past 8 KiB fail with EFBIG, as a full disk does."""
    out = tmp_path / "out"
    out.mkdir()

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 10, 8 << 10))

    res = nadkit("detect", work / "model", work / "test.csv", "-o", out / "s.csv", preexec_fn=limit)
    assert_error_line(res, "File too large")
    assert_error_line(res, "cannot write")
    res = nadkit("evaluate", work / "model", work / "test.csv", "-o", out / "report", preexec_fn=limit)
    assert_error_line(res, "cannot write")
    assert list(out.iterdir()) == []  # no partial file, no temporary left, no empty report dir


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory(work, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        res = nadkit("detect", work / "model", work / "test.csv", "-o", ro / "s.csv")
        assert_error_line(res, "is not writable")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# ------------------------------------------------------------------------ 2. silent wrong results
@pytest.mark.parametrize("cell", ["abc", "1,000", "0x10", "12\x0034"])
def test_a_bad_cell_in_a_numeric_column_is_reported(work, cell):
    def mutate(df):
        df["src_bytes"] = df["src_bytes"].astype(object)
        df.loc[[17, 230], "src_bytes"] = cell
        return df

    path = _csv(work, "bad_cell.csv", mutate)
    res = refused(cli("train", path, "--label-col", "label", "-m", "pca", "-o", work / "bad_model"),
                  "column 'src_bytes' is numeric but 2 of its 400 cells are not numbers")
    assert f"row 18: {cell!r}" in str(res.exception) and "row 231" in str(res.exception)
    assert not (work / "bad_model").exists()
    # declared categorical, the column is taken as the user says
    ok(cli("train", path, "--label-col", "label", "-m", "pca", "-o", work / "cat_model", "--force",
           "--categorical", "protocol_type,service,flag,src_bytes"))
    schema = json.loads((work / "cat_model" / "manifest.json").read_text())["schema"]
    assert "src_bytes" in schema["categories"]


def test_a_repeated_header_row_is_named(work):
    path = work / "concat.csv"
    text = (work / "flows.csv").read_text().splitlines()
    path.write_text("\n".join([*text[:101], text[0], *text[101:300]]) + "\n")
    refused(cli("train", path, "--label-col", "label", "-m", "pca", "-o", work / "hdr_model"),
            "1 row repeats the header (row 101")
    assert not (work / "hdr_model").exists()


@pytest.mark.parametrize(("values", "bad"), [(["yes", "no"], "'yes', 'no'"), (["normal", "2"], "'2'"),
                                             (["normal", "?"], "'?'")])
def test_unrecognised_label_values_are_an_error(work, values, bad):
    path = _csv(work, "labels.csv", lambda df: df.assign(label=np.resize(values, len(df))))
    refused(cli("train", path, "--label-col", "label", "-m", "pca", "-o", work / "lab_model"),
            f"unrecognised label values [{bad}]")
    refused(cli("evaluate", work / "model", path, "--labels", "label", "-o", work / "lab_report"),
            "unrecognised label values")
    assert not (work / "lab_model").exists() and not (work / "lab_report").exists()


def test_documented_label_values_still_work():
    from nadkit.data.loaders import parse_labels

    y, attack = parse_labels(pd.Series(["normal", "Normal.", "BENIGN", "background-normal", "0", "false",
                                        "neptune", "DoS Hulk", "1", "1.0", "true", "attack"]))
    assert y.tolist() == [0] * 6 + [1] * 6
    assert attack.tolist()[:7] == ["normal"] * 6 + ["neptune"]
    assert parse_labels(np.array([0, 1, 1]))[0].tolist() == [0, 1, 1]
    assert parse_labels(pd.Series([True, False]))[0].tolist() == [1, 0]


# ---------------------------------------------------------------------------- 3. unclean failures
def test_truncated_gzip(work, tmp_path):
    raw = gzip.compress((work / "test.csv").read_bytes())
    (tmp_path / "t.csv.gz").write_bytes(raw[: len(raw) // 2])
    refused(cli("train", tmp_path / "t.csv.gz", "--label-col", "label", "-m", "pca", "-o", tmp_path / "m"),
            "truncated or corrupt")
    refused(cli("detect", work / "model", tmp_path / "t.csv.gz", "-o", tmp_path / "s.csv"), "runcated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv.gz"]
    res = nadkit("detect", work / "model", tmp_path / "t.csv.gz", "-o", tmp_path / "s.csv")
    assert_error_line(res, "runcated")
    assert "Aborted" not in res.stderr


def test_duplicate_column_names(work, tmp_path):
    df = pd.read_csv(work / "test.csv").head(50)
    header = ",".join("src_bytes" if c == "dst_bytes" else c for c in df.columns)
    path = tmp_path / "dup.csv"
    path.write_text(header + "\n" + df.to_csv(index=False, header=False))
    message = "duplicate column names ['src_bytes']"
    refused(cli("detect", work / "model", path, "-o", tmp_path / "s.csv"), message)  # streamed (pyarrow)
    refused(cli("train", path, "--label-col", "label", "-m", "pca", "-o", tmp_path / "m"), message)  # pandas
    refused(cli("evaluate", work / "model", path, "-o", tmp_path / "r"), message)


@pytest.mark.parametrize("rows", ["one", "single-class"])
def test_evaluate_on_one_row_or_one_class(work, tmp_path, rows):
    df = pd.read_csv(work / "test.csv")
    df = df.head(1) if rows == "one" else df[df["label"] == "normal"]
    df.to_csv(tmp_path / "e.csv", index=False)
    with pytest.warns(UserWarning, match="one class only"):
        res = ok(cli("evaluate", work / "model", tmp_path / "e.csv", "-o", tmp_path / "report"))
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["auroc"] is None and metrics["auprc"] is None
    assert "–" in res.output


def test_failed_evaluate_leaves_no_report_dir(work, tmp_path):
    df = pd.read_csv(work / "test.csv").head(50).assign(label="yes")
    df.to_csv(tmp_path / "e.csv", index=False)
    refused(cli("evaluate", work / "model", tmp_path / "e.csv", "-o", tmp_path / "report"), "label")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


def _series_csv(path, times, values):
    pd.DataFrame({"timestamp": times, "cpu": values, "mem": np.linspace(0, 1, len(values))}).to_csv(path, index=False)


def test_series_mixed_time_zones_and_huge_values(tmp_path):
    t = pd.date_range("2024-01-01", periods=200, freq="1min").strftime("%Y-%m-%dT%H:%M:%S").tolist()
    mixed = [v + ("+01:00" if i < 100 else "+00:00" if i < 150 else "") for i, v in enumerate(t)]
    _series_csv(tmp_path / "tz.csv", mixed, np.sin(np.arange(200)))
    refused(cli("train", tmp_path / "tz.csv", "-m", "dcvae", "-o", tmp_path / "m"), "mixes time zones")
    vals = np.sin(np.arange(200))
    vals[42] = 1e300
    _series_csv(tmp_path / "big.csv", t, vals)
    refused(cli("train", tmp_path / "big.csv", "-m", "dcvae", "-o", tmp_path / "m"),
            "channel 'cpu' has 1 values beyond")
    res = refused(cli("train", tmp_path / "big.csv", "-m", "dcvae", "-o", tmp_path / "m"), "row 43")
    assert "1e+300" in str(res.exception)
    assert not (tmp_path / "m").exists()


def test_one_time_zone_is_read_as_utc(tmp_path):
    from nadkit.data.series import read_series

    t = pd.date_range("2024-03-30", periods=300, freq="1h", tz="Europe/Paris")  # crosses a DST change
    _series_csv(tmp_path / "paris.csv", t.strftime("%Y-%m-%dT%H:%M:%S%z"), np.arange(300.0))
    d = read_series(tmp_path / "paris.csv")
    assert len(d) == 300 and d.meta["step"] == "0 days 01:00:00"
    assert pd.Timestamp(d.time[0]) == pd.Timestamp("2024-03-29 23:00")


def test_fifo_input_is_refused_not_read(work, tmp_path):
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    res = nadkit("detect", work / "model", fifo, "-o", tmp_path / "s.csv", timeout=120)
    assert_error_line(res, "not a regular file")
    refused(cli("train", fifo, "-m", "pca", "-o", tmp_path / "m"), "not a regular file")


def test_a_huge_header_is_refused_before_parsing(tmp_path):
    from nadkit.io import read_table, table_columns

    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(84_000)) + "\n")
    assert path.stat().st_size > 500_000
    for read in (read_table, table_columns):
        start = time.perf_counter()
        with pytest.raises(DataError, match="84,000 columns; at most 10,000"):
            read(path)
        assert time.perf_counter() - start < 5
