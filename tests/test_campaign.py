"""The bad-input campaign (issue 14): hypothesis generates hostile or careless inputs for the three
surfaces a user reaches, and every case must end in a correct result or a clean refusal.

* CLI files (``train``/``detect``/``evaluate``/``calibrate``): a real NSL-KDD table mutated
  (bad, NaN/inf, huge or empty cells, unknown categories, dropped/duplicated/renamed/extra
  columns, repeated header rows, few or no rows, odd label values) and written as CSV, TSV,
  ``.csv.gz``, Parquet, CRLF, BOM, Latin-1 or UTF-16, then maybe truncated, NUL-injected or
  byte-flipped.
* Model directories: a real PCA or AE directory with files flipped, truncated, deleted, replaced,
  symlinked, JSON fields set to wrong types/NaN/huge/negative/deeply nested values (with or without
  the manifest's hashes fixed up), manifest entries pointing outside the directory.
* HTTP bodies to ``/score`` and ``/streams``: JSON records/rows with wrong types, missing/extra
  fields, NaN/Infinity literals, lone surrogates, huge numbers, deep nesting; CSV/Parquet garbage;
  wrong content types.

Oracles. A refusal must be clean: a ``NadkitError`` with a one-line message (what ``nadkit.cli.main``
prints as ``error: …``, exit 2), a 4xx with a ``detail``. Any other exception is a *traceback*, any
5xx a *5xx*, a case over ``CASE_SECONDS`` a *hang*. An exit 0 / 200 must be right: the campaign
knows what each generated file means (the *intended* table) and scores it in-process with the same
pipeline; the CLI's/service's scores must match it row for row, and an input whose intended table
is invalid (an unparseable number, NaN, a missing column, an unrecognised label…) must not be
scored at all (*silent wrong*). Every CLI case runs in its own directory tree: nothing but its
``-o`` target (calibrate: the model it updates) may be created, changed or deleted (*touched*).

The default suite runs a derandomised sample (~60 cases); ``pytest -m campaign
tests/test_campaign.py`` runs the full randomised campaign (>= 1,000 cases).
``NADKIT_CAMPAIGN_COLLECT=1`` records failures instead of stopping at the first, and
``NADKIT_CAMPAIGN_REPORT=FILE`` writes the tally (cases per surface and outcome) as JSON.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import re
import shutil
import signal
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nadkit.cli import app
from nadkit.errors import NadkitError

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

COLLECT = os.environ.get("NADKIT_CAMPAIGN_COLLECT") == "1"
REPORT = os.environ.get("NADKIT_CAMPAIGN_REPORT")
CASE_SECONDS = 60
TALLY: Counter = Counter()
SECONDS: Counter = Counter()
SERIES_MODEL: list[str] = []  # why the stream surface has (no) series model, for the report
FAILURES: list[str] = []


def sample(n: int):
    """The default suite's share: a fixed (derandomised) sample of ``n`` cases."""
    return settings(max_examples=n, database=None, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def full(n: int):
    """The marked campaign: ``n`` random cases."""
    return settings(max_examples=n, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


CATEGORICAL = ["protocol_type", "service", "flag"]
NUMERIC = ["duration", "src_bytes", "dst_bytes", "land", "wrong_fragment", "urgent", "hot",
           "num_failed_logins", "logged_in", "num_compromised", "root_shell", "su_attempted", "num_root",
           "num_file_creations", "num_shells", "num_access_files", "num_outbound_cmds", "is_host_login",
           "is_guest_login", "count", "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate",
           "srv_rerror_rate", "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
           "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
           "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
           "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate"]
COLUMNS = ["duration", *CATEGORICAL, *NUMERIC[1:]]
TRAIN_ROWS, TEST_ROWS = 120, 60


# ------------------------------------------------------------------------------ bookkeeping
class Hang(BaseException):
    """A case ran past CASE_SECONDS."""


@contextlib.contextmanager
def time_limit(seconds: float = CASE_SECONDS):
    def fire(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Failure(AssertionError):
    pass


def failed(surface: str, kind: str, detail: str) -> None:
    TALLY[surface, kind] += 1
    FAILURES.append(f"{surface}: {kind}: {detail}")
    if not COLLECT:
        raise Failure(f"{kind}: {detail}")


def passed(surface: str, outcome: str) -> None:
    TALLY[surface, outcome] += 1


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if REPORT:
        surfaces = sorted({s for s, _ in TALLY})
        doc = {"surfaces": {s: {k: n for (s2, k), n in sorted(TALLY.items()) if s2 == s} for s in surfaces},
               "seconds": {s: round(v, 1) for s, v in sorted(SECONDS.items())},
               "total": sum(TALLY.values()), "failures": FAILURES, "series_model": SERIES_MODEL}
        Path(REPORT).write_text(json.dumps(doc, indent=2))
    if COLLECT:
        assert not FAILURES, "\n".join(FAILURES[:50])


def timed(run):
    """Count a runner's wall time per surface (for docs/robustness.md)."""
    import functools
    import time

    surface = {"run_detect": "cli-detect", "run_train": "cli-train", "run_calibrate": "cli-calibrate",
               "run_evaluate": "cli-evaluate", "run_model_dir": "model-dir", "run_http": "http"}[run.__name__]

    @functools.wraps(run)
    def wrapper(*args, **kw):
        start = time.perf_counter()
        try:
            return run(*args, **kw)
        finally:
            SECONDS[surface] += time.perf_counter() - start
    return wrapper


def clean_refusal(exc: BaseException | None) -> bool:
    return isinstance(exc, NadkitError) and bool(str(exc).strip()) and "\n" not in str(exc).strip()


def snapshot(*roots: Path) -> dict:
    out = {}
    for root in roots:
        for p in [root, *sorted(root.rglob("*"))] if root.exists() else []:
            if p.is_dir() and not p.is_symlink():
                out[str(p)] = ("dir",)  # (its entries are listed themselves)
                continue
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
            out[str(p)] = (p.lstat().st_mtime_ns, digest)
    return out


def touched(before: dict, after: dict, allowed: list[Path]) -> list[str]:
    diff = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    ok = [str(a) for a in allowed]
    return sorted(d for d in diff if not any(d == a or d.startswith(a + os.sep) for a in ok))


def close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-5, atol=1e-9))


# ---------------------------------------------------------------------------------- fixtures
class Ctx:
    pass


@pytest.fixture(scope="module")
def ctx(tmp_path_factory, nsl):
    """Real NSL-KDD rows (attack names in 'label'), a PCA and a tiny AE trained on them, their
    model directories, baseline scores, and the FastAPI app serving both."""
    from nadkit import artifact
    from nadkit.data import Preprocessor
    from nadkit.models import AE, PCA
    from nadkit.pipeline import Pipeline
    from nadkit.service import create_app

    c = Ctx()
    c.root = tmp_path_factory.mktemp("campaign")
    train, test = nsl
    rng = np.random.default_rng(14)
    tr = train.subset(np.sort(rng.choice(len(train), TRAIN_ROWS, replace=False)))
    te = test.subset(np.sort(rng.choice(len(test), TEST_ROWS, replace=False)))
    c.train_df = tr.X[COLUMNS].assign(label=tr.attack)
    c.test_df = te.X[COLUMNS].assign(label=te.attack)
    normals = train.normal()
    fit_rows = normals.subset(np.sort(rng.choice(len(normals), 400, replace=False)))
    c.models, c.pipes = {}, {}
    for name, det in (("pca", PCA()),
                      ("ae", AE(hidden=(16,), latent=4, epochs=2, batch_size=128, random_state=0))):
        pipe = Pipeline(det, Preprocessor(categorical=CATEGORICAL)).fit(fit_rows)
        c.models[name] = artifact.save(pipe, c.root / "models" / name)
        c.pipes[name] = artifact.load(c.models[name])
    c.base_scores = {n: p.detect(c.test_df[COLUMNS], contributions=False)["score"].to_numpy()
                     for n, p in c.pipes.items()}
    c.series = None
    try:
        c.series = _series_model(c.root)
        SERIES_MODEL.append("dcvae")
    except Exception as exc:  # the table surfaces still run; the report says why streams got none
        SERIES_MODEL.append(f"none: {exc!r}")
    from fastapi.testclient import TestClient

    served = {**c.models, **({"dcvae": c.series[0]} if c.series else {})}
    c.client = TestClient(create_app(served, max_rows=1000, max_body_bytes=2 << 20, read_timeout=5),
                          raise_server_exceptions=False)
    with c.client:
        yield c


def _series_model(root: Path):
    """A tiny DC-VAE on SKAB valve1/1's normal leading part (its step known), for /streams."""
    from nadkit import artifact
    from nadkit.data import load_dataset
    from nadkit.models import DCVAE
    from nadkit.pipeline import SeriesPipeline

    data = load_dataset("skab", "valve1/1").slice(0, 300)
    det = DCVAE(window=8, cnn_units=(4,) * 2, dilations=(1, 2, 4), step_budget=4, batch_size=32,
                train_stride=4, device="cpu", random_state=0)
    pipe = SeriesPipeline(det).fit(data)
    path = artifact.save(pipe, root / "models" / "dcvae")
    return path, artifact.load(path), data


# ------------------------------------------------------------------------- intended values
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
BAD_NUMBERS = ["abc", "1,000", "0x10", "", "nan", "NaN", "inf", "-inf", "1e400", "12\x0034", "True", "--5",
               "5e", "١٢", "   ", "1_000", "null", "N/A", "€5", "1.2.3"]
GOOD_NUMBERS = ["1e300", "-1e300", "0", "-0", "3.5", "1E3", "+4", "12345678901234", "0.000001", ".5"]
CATEGORIES = ["zzz", "TCP", "tcp ", "é", "\x00", "1", "a" * 300, "a\nb", 'x"y', "tcp", "udp", "http",
              "SF", "", "NA", "ü\u200bü"]
LABELS = ["yes", "no", "", "2", "-1", "normal.", "NORMAL", "0", "1", "true", "neptune", "nan", "0.0", "1.5",
          "benign", "?", "attack"]
NORMAL_LABELS = {"normal", "benign", "background-normal", "0", "false"}
AMBIGUOUS = {"yes", "no", "y", "n", "t", "f", "on", "off", "", "nan", "none", "null", "na", "n/a", "-", "?"}
PANDAS_NA = {"", "NA", "N/A", "null", "NaN", "nan", "None", "n/a", "NULL", "#N/A", "-NaN", "-nan", "<NA>"}


def parse_number(cell: str) -> float | None:
    """What a number cell means, or None when it is not one (this campaign's own reading)."""
    if not NUMBER.fullmatch(cell):
        return None
    v = float(cell)
    return v if math.isfinite(v) else None


def label_meaning(values) -> np.ndarray | None:
    """0/1 per row from label text as documented, or None when any label is unrecognised."""
    out = []
    for v in values:
        t = str(v).strip().lower().rstrip(".")
        if t in AMBIGUOUS:
            return None
        if NUMBER.fullmatch(t):
            if float(t) not in (0.0, 1.0):
                return None
            out.append(int(float(t)))
            continue
        out.append(0 if t in NORMAL_LABELS else 1)
    return np.array(out)


# ------------------------------------------------------------------------------ CLI files
@st.composite
def file_cases(draw, rows: int):
    muts = draw(st.lists(st.one_of(
        st.tuples(st.just("cell"), st.integers(0, rows - 1), st.sampled_from(NUMERIC),
                  st.sampled_from(BAD_NUMBERS + GOOD_NUMBERS)),
        st.tuples(st.just("cell"), st.integers(0, rows - 1), st.sampled_from(CATEGORICAL),
                  st.sampled_from(CATEGORIES)),
        st.tuples(st.just("label"), st.integers(0, rows - 1), st.sampled_from(LABELS)),
        st.tuples(st.just("all_labels"), st.sampled_from(["normal", "0", "yes", "neptune"])),
        st.tuples(st.just("drop"), st.sampled_from([*COLUMNS, "label"])),
        st.tuples(st.just("dup"), st.sampled_from(COLUMNS)),
        st.tuples(st.just("rename"), st.sampled_from(COLUMNS), st.sampled_from(["Src_Bytes", "x", " duration"])),
        st.tuples(st.just("extra"), st.sampled_from(["extra", "id", "Unnamed: 0"])),
        st.tuples(st.just("shuffle"), st.randoms(use_true_random=False)),
        st.tuples(st.just("head"), st.sampled_from([0, 1, 2, 3, 7])),
        st.tuples(st.just("header_row"), st.integers(0, rows - 1)),
    ), max_size=3))
    fmt = draw(st.sampled_from(["csv", "csv", "tsv", "csv.gz", "parquet", "crlf", "bom", "latin1", "utf16",
                                "semicolon"]))
    corrupt = draw(st.one_of(
        st.none(), st.none(), st.none(),
        st.tuples(st.just("truncate"), st.floats(0.0, 1.0)),
        st.tuples(st.just("nul"), st.floats(0.0, 1.0)),
        st.tuples(st.just("flip"), st.floats(0.0, 1.0), st.integers(1, 255)),
        st.tuples(st.just("garbage"), st.binary(max_size=300)),
        st.tuples(st.just("blank_lines"), st.integers(1, 3)),
    ))
    return {"muts": muts, "fmt": fmt, "corrupt": corrupt}


class Intended:
    """The table a generated file means: ``frame`` (raw values), ``status`` valid | invalid | unknown
    (invalid: must be refused; unknown: the file's meaning is not this campaign's to judge)."""

    def __init__(self, base: pd.DataFrame) -> None:
        self.frame = base.astype(object).copy()
        self.status = "valid"
        self.dup: list[str] = []
        self.header_rows = 0
        self.bad_rows: set[int] = set()  # rows with a missing/infinite number
        self.typed_as_text = False  # a numeric column holds number strings (typed text in Parquet)

    def invalid(self) -> None:
        self.status = "invalid"

    def unknown(self) -> None:
        if self.status == "valid":
            self.status = "unknown"


def apply_mutations(base: pd.DataFrame, muts: list) -> Intended:
    it = Intended(base)
    df = it.frame
    for m in muts:
        kind = m[0]
        if kind == "cell" and m[2] in df.columns and m[1] < len(df):
            df.iat[m[1], df.columns.get_loc(m[2])] = m[3]
        elif kind == "label" and "label" in df.columns and m[1] < len(df):
            df.iat[m[1], df.columns.get_loc("label")] = m[2]
        elif kind == "all_labels" and "label" in df.columns:
            df["label"] = m[1]
        elif kind == "drop" and m[1] in df.columns:
            df = df.drop(columns=[m[1]])
            it.dup = [c for c in it.dup if c != m[1]]
        elif kind == "dup" and m[1] in df.columns and m[1] not in it.dup:
            it.dup.append(m[1])
        elif kind == "rename" and m[1] in df.columns and m[2] not in df.columns:
            df = df.rename(columns={m[1]: m[2]})
            it.dup = [m[2] if c == m[1] else c for c in it.dup]
        elif kind == "extra" and m[1] not in df.columns:
            df[m[1]] = np.arange(len(df)) % 5
        elif kind == "shuffle":
            cols = list(df.columns)
            m[1].shuffle(cols)
            df = df[cols]
        elif kind == "head":
            df = df.head(m[1])
        elif kind == "header_row" and m[1] < len(df):
            it.header_rows += 1
            top, rest = df.iloc[:m[1]], df.iloc[m[1]:]
            df = pd.concat([top, pd.DataFrame([list(df.columns)], columns=df.columns), rest], ignore_index=True)
    it.frame = df.reset_index(drop=True)
    it.raw = it.frame.copy()  # what the file holds; ``frame`` becomes what it means
    if it.header_rows:
        it.invalid()
    if it.dup:
        it.invalid()
    # cells: this campaign's reading of each numeric cell
    for col in [c for c in NUMERIC if c in it.frame.columns]:
        values = it.frame[col].tolist()
        parsed = []
        for i, v in enumerate(values):
            if isinstance(v, str):
                p = parse_number(v.strip())
                if v in PANDAS_NA or v.strip().lower().lstrip("+-") in ("inf", "infinity") or \
                        (p is None and NUMBER.fullmatch(v.strip())):
                    it.bad_rows.add(i)  # a missing or infinite value: that row cannot be used
                    parsed.append(np.nan)
                    continue
                if p is None:
                    it.invalid()  # text in a numeric column: the column is refused, whichever row
                    parsed.append(np.nan)
                    continue
                it.typed_as_text = True
                if v != v.strip():
                    it.unknown()  # padded numbers: a reader may or may not strip them
                if abs(p) >= 1e300 or len(v.strip()) > 12:
                    it.unknown()  # far out of range, or beyond float precision: readers differ
                parsed.append(p)
            else:
                parsed.append(float(v))
        it.frame[col] = parsed
    for col in [c for c in CATEGORICAL if c in it.frame.columns]:
        vals = it.frame[col].astype(str)
        if vals.isin(PANDAS_NA).any() or vals.str.contains("\x00").any():
            it.unknown()  # a missing category / NUL: refused or read as unknown; both are fine
        if (vals != vals.str.strip()).any() or vals.str.contains("\n|\u200b").any():
            it.unknown()
    return it


def encode(df: pd.DataFrame, dup: list[str], fmt: str) -> tuple[bytes, str]:
    out = df.copy()
    for c in dup:
        out.insert(len(out.columns), c, df[c], allow_duplicates=True)
    if fmt == "parquet" and not dup:
        buf = io.BytesIO()
        out = out.infer_objects()  # numbers stay numbers; a column holding text becomes text
        for c in out.columns:
            if out[c].dtype == object:
                out[c] = out[c].astype(str)
        out.to_parquet(buf, index=False)
        return buf.getvalue(), "in.parquet"
    sep = {"tsv": "\t", "semicolon": ";"}.get(fmt, ",")
    text = out.to_csv(index=False, sep=sep, lineterminator="\r\n" if fmt == "crlf" else "\n")
    if fmt == "latin1":
        return text.encode("latin-1", errors="replace"), "in.csv"
    if fmt == "utf16":
        return text.encode("utf-16"), "in.csv"
    data = ("\ufeff" + text if fmt == "bom" else text).encode("utf-8", errors="surrogatepass")
    if fmt == "csv.gz":
        return gzip.compress(data, mtime=0), "in.csv.gz"
    return data, "in.tsv" if fmt == "tsv" else "in.csv"


def corrupt_bytes(data: bytes, corrupt) -> bytes:
    if corrupt is None:
        return data
    kind = corrupt[0]
    pos = int(corrupt[1] * len(data)) if kind in ("truncate", "nul", "flip") else 0
    if kind == "truncate":
        return data[:pos]
    if kind == "nul":
        return data[:pos] + b"\x00" + data[pos:]
    if kind == "flip":
        if not data:
            return data
        pos = min(pos, len(data) - 1)
        return data[:pos] + bytes([data[pos] ^ corrupt[2]]) + data[pos + 1:]
    if kind == "garbage":
        return corrupt[1]
    return data + b"\n" * corrupt[1]


def write_case(base: pd.DataFrame, case: dict, where: Path) -> tuple[Path, Intended]:
    it = apply_mutations(base, case["muts"])
    data, name = encode(it.raw, it.dup, case["fmt"])
    fmt, corrupt = case["fmt"], case["corrupt"]
    if corrupt is not None and corrupt[0] != "blank_lines":
        before = data
        data = corrupt_bytes(data, corrupt)
        if data != before:
            # a cut gzip stream is detectable (no end-of-stream, CRC); other damage may or may not
            # leave a readable file that means something else
            # (damage may also repair an invalid file: a NUL before a duplicated name renames it)
            it.status = "invalid" if fmt == "csv.gz" and corrupt[0] == "truncate" else "unknown"
    elif corrupt is not None:
        data = corrupt_bytes(data, corrupt)
    if fmt == "parquet" and it.typed_as_text:
        it.unknown()  # a string-typed Parquet column of numbers: its own type says text
    if fmt in ("latin1", "utf16"):
        it.unknown()  # not UTF-8: read right, read as unknown categories, or refused
    path = where / name
    path.write_bytes(data)
    return path, it


def cli_result(surface: str, args: list) -> tuple[str, object]:
    """('ok' | 'refused' | failure kind, result)."""
    try:
        with time_limit():
            res = CliRunner().invoke(app, [str(a) for a in args])
    except Hang as exc:
        failed(surface, "hang", f"{args}: {exc}")
        return "hang", None
    if res.exit_code == 0 and res.exception is None:
        return "ok", res
    if clean_refusal(res.exception):
        return "refused", res
    if isinstance(res.exception, SystemExit) and res.exit_code == 2 and "Error" in res.output:
        return "refused", res  # a usage error (click's own message)
    failed(surface, "traceback", f"{args}: {res.exception!r} {res.output[-300:]!r}")
    return "traceback", res


def oracle_scores(pipe, it: Intended) -> np.ndarray | None:
    """In-process scores of the intended table, or None when it cannot be scored."""
    cols = pipe.manifest["schema"]["columns"]
    if it.status == "invalid" or it.bad_rows or not all(c in it.frame.columns for c in cols) or len(it.frame) == 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = pipe.detect(it.frame[cols].infer_objects(), contributions=False)["score"].to_numpy()
    except NadkitError:
        return None
    return s if np.isfinite(s).all() else None


def describe(case: dict) -> str:
    return repr({k: (v if k != "muts" else [m if m[0] != "shuffle" else ("shuffle",) for m in v])
                 for k, v in case.items()})


def read_scores(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@timed
def run_detect(ctx, case: dict, model: str, out_name: str, contrib: bool) -> None:
    surface = "cli-detect"
    with tempfile.TemporaryDirectory(dir=ctx.root) as d:
        d = Path(d)
        path, it = write_case(ctx.test_df.drop(columns=["label"]), case, d)
        out = d / out_name
        before = snapshot(d, ctx.models[model])
        args = ["detect", ctx.models[model], path, "-o", out, "--contributions" if contrib else "--no-contributions"]
        outcome, _res = cli_result(surface, args)
        changed = touched(before, snapshot(d, ctx.models[model]), [out] if outcome == "ok" else [])
        if changed:
            failed(surface, "touched", f"{describe(case)} changed {changed}")
        if outcome == "refused":
            return passed(surface, "refused")
        if outcome != "ok":
            return None
        expected = oracle_scores(ctx.pipes[model], it)
        got = read_scores(out)
        thr = ctx.pipes[model].threshold.value_
        sane = (np.isfinite(got["score"]).all() and set(got["anomaly"].unique()) <= {0, 1}
                and ((got["score"] > thr).astype(int) == got["anomaly"]).all())
        if not sane:
            return failed(surface, "silent-wrong", f"{describe(case)}: non-finite or inconsistent output")
        if it.status == "invalid" or it.bad_rows:
            return failed(surface, "silent-wrong", f"{describe(case)}: an invalid file was scored (exit 0)")
        if it.status == "valid" and not (len(it.frame) == 0 and len(got) == 0):
            if expected is None:
                return failed(surface, "silent-wrong", f"{describe(case)}: scored, but the table cannot be")
            if not close(got["score"], expected):
                return failed(surface, "silent-wrong", f"{describe(case)}: scores differ from the table's "
                                                       f"({len(got)} vs {len(expected)} rows)")
        elif len(got) > len(it.frame) + 1:
            return failed(surface, "silent-wrong", f"{describe(case)}: {len(got)} rows from {len(it.frame)}")
        return passed(surface, "ok")


def train_meaning(it: Intended, rows: str = "normal") -> tuple[str, int | None]:
    """(status, normal rows) of a labelled file with --label-col/--labels label; ``rows`` says
    which rows are used ('normal' or 'all'): a missing number in an unused row does no harm."""
    if it.status == "invalid" or "label" not in it.frame.columns:
        return "invalid", None
    y = label_meaning(it.frame["label"])
    if y is None:
        return "invalid", None
    used = set(np.flatnonzero(y == 0)) if rows == "normal" else set(range(len(y)))
    if it.bad_rows & used:
        return "invalid", None
    return ("unknown" if it.bad_rows and it.status == "valid" else it.status), int((y == 0).sum())


@timed
def run_train(ctx, case: dict) -> None:
    surface = "cli-train"
    from nadkit import artifact

    with tempfile.TemporaryDirectory(dir=ctx.root) as d:
        d = Path(d)
        path, it = write_case(ctx.train_df, case, d)
        out = d / "model"
        before = snapshot(d)
        outcome, _res = cli_result(surface, ["train", path, "--label-col", "label", "-m", "pca", "-o", out,
                                            "--no-progress", "--seed", "0"])
        changed = touched(before, snapshot(d), [out] if outcome == "ok" else [])
        if changed:
            failed(surface, "touched", f"{describe(case)} changed {changed}")
        if outcome == "refused":
            return passed(surface, "refused")
        if outcome != "ok":
            return None
        status, normal_rows = train_meaning(it)
        if status == "invalid":
            return failed(surface, "silent-wrong", f"{describe(case)}: an invalid training file was used (exit 0)")
        pipe = artifact.load(out)
        schema = pipe.manifest["schema"]
        features = [c for c in it.frame.columns if c != "label"]
        problems = []
        if status == "valid":
            if sorted(schema["columns"]) != sorted(features):
                problems.append(f"columns {schema['columns']} vs {features}")
            retyped = sorted(set(features) & set(NUMERIC) - set(schema["numeric"]))
            if retyped:
                problems.append(f"numeric columns re-typed {retyped}")
            if pipe.manifest["training"]["training_rows"] != normal_rows:
                problems.append(f"{pipe.manifest['training']['training_rows']} training rows, {normal_rows} normal")
        test = ctx.test_df.reindex(columns=schema["columns"], fill_value=0)
        scores = pipe.detect(test, contributions=False)["score"].to_numpy()
        if not (np.isfinite(scores).all() and math.isfinite(pipe.threshold.value_)):
            problems.append("non-finite scores or threshold")
        if problems:
            return failed(surface, "silent-wrong", f"{describe(case)}: {'; '.join(problems)}")
        return passed(surface, "ok")


@timed
def run_calibrate(ctx, case: dict, method: list[str]) -> None:
    surface = "cli-calibrate"
    from nadkit import artifact

    with tempfile.TemporaryDirectory(dir=ctx.root) as d:
        d = Path(d)
        path, it = write_case(ctx.train_df, case, d)
        model = d / "model"
        shutil.copytree(ctx.models["pca"], model)
        before = snapshot(d)
        outcome, _res = cli_result(surface, ["calibrate", model, path, "--labels", "label", *method])
        changed = touched(before, snapshot(d), [model] if outcome == "ok" else [])
        if changed:
            failed(surface, "touched", f"{describe(case)} changed {changed}")
        if outcome == "refused":
            return passed(surface, "refused")
        if outcome != "ok":
            return None
        status, _ = train_meaning(it, "all" if method[1].startswith("best") else "normal")
        pipe = artifact.load(model)
        if not all(c in it.frame.columns for c in COLUMNS):
            status = "invalid"
        if status == "invalid":
            return failed(surface, "silent-wrong", f"{describe(case)} {method}: calibrated on an invalid file")
        if not math.isfinite(pipe.threshold.value_):
            return failed(surface, "silent-wrong", f"{describe(case)} {method}: threshold {pipe.threshold.value_}")
        return passed(surface, "ok")


def _refuse_constant(name: str):
    raise ValueError(f"{name} in metrics.json")


@timed
def run_evaluate(ctx, case: dict) -> None:
    surface = "cli-evaluate"
    from sklearn.metrics import roc_auc_score

    with tempfile.TemporaryDirectory(dir=ctx.root) as d:
        d = Path(d)
        path, it = write_case(ctx.test_df, case, d)
        out = d / "report"
        before = snapshot(d, ctx.models["pca"])
        outcome, _res = cli_result(surface, ["evaluate", ctx.models["pca"], path, "--labels", "label", "-o", out])
        changed = touched(before, snapshot(d, ctx.models["pca"]), [out] if outcome == "ok" else [])
        if changed:
            failed(surface, "touched", f"{describe(case)} changed {changed}")
        if outcome == "refused":
            return passed(surface, "refused")
        if outcome != "ok":
            return None
        status, _ = train_meaning(it, "all")
        try:
            report = json.loads((out / "metrics.json").read_text(), parse_constant=_refuse_constant)
        except ValueError as exc:
            return failed(surface, "silent-wrong", f"{describe(case)}: metrics.json is not strict JSON: {exc}")
        if status == "invalid":
            return failed(surface, "silent-wrong", f"{describe(case)}: evaluated an invalid file")
        if status == "valid":
            y = label_meaning(it.frame["label"])
            expected = oracle_scores(ctx.pipes["pca"], it)
            want = roc_auc_score(y, expected) if expected is not None and len(set(y)) == 2 else None
            if (want is None) != (report.get("auroc") is None) or (want is not None and
                                                                    abs(report["auroc"] - want) > 1e-6):
                return failed(surface, "silent-wrong", f"{describe(case)}: AUROC {report.get('auroc')} vs {want}")
        return passed(surface, "ok")


@sample(12)
@given(case=file_cases(TEST_ROWS), model=st.sampled_from(["pca", "ae"]),
       out=st.sampled_from(["s.csv", "s.parquet"]), contrib=st.booleans())
def test_detect_files_sample(ctx, case, model, out, contrib):
    run_detect(ctx, case, model, out, contrib)


@sample(10)
@given(case=file_cases(TRAIN_ROWS))
def test_train_files_sample(ctx, case):
    run_train(ctx, case)


CALIBRATE = st.sampled_from([["--method", "quantile"], ["--method", "fpr", "--fpr", "0.05"],
                             ["--method", "best-f1"], ["--method", "pot"]])


@sample(5)
@given(case=file_cases(TRAIN_ROWS), method=CALIBRATE)
def test_calibrate_files_sample(ctx, case, method):
    run_calibrate(ctx, case, method)


@sample(1)
@given(case=file_cases(TEST_ROWS))
def test_evaluate_files_sample(ctx, case):
    run_evaluate(ctx, case)


# ----------------------------------------------------------------------- model directories
HOSTILE = [float("nan"), float("inf"), -float("inf"), -1, 0, 10**12, 10**30, 1e308, -1e308, "x", "", [], {},
           None, True, [[[[[]]]]], "A" * 100_000, 2**63, -(2**63) - 1, 0.5]


@st.composite
def model_mutations(draw):
    files = ["manifest.json", "config.json", "preprocessor.json", "threshold.json", "weights.safetensors"]
    muts = draw(st.lists(st.one_of(
        st.tuples(st.just("flip"), st.sampled_from(files), st.floats(0, 1), st.integers(1, 255)),
        st.tuples(st.just("truncate"), st.sampled_from(files), st.floats(0, 1)),
        st.tuples(st.just("delete"), st.sampled_from(files)),
        st.tuples(st.just("replace"), st.sampled_from(files), st.sampled_from([b"", b"{}", b"null", b"[]", b"\x00" * 64,
                                                                              b"\x80\x04K.", b"PK\x03\x04"])),
        st.tuples(st.just("swap"), st.sampled_from(files), st.sampled_from(files)),
        st.tuples(st.just("symlink"), st.sampled_from(files)),
        st.tuples(st.just("dir"), st.sampled_from(files)),
        st.tuples(st.just("field"), st.sampled_from(files[:4]), st.integers(0, 10_000),
                  st.sampled_from(HOSTILE)),
        st.tuples(st.just("delkey"), st.sampled_from(files[:4]), st.integers(0, 10_000)),
        st.tuples(st.just("addkey"), st.sampled_from(files[:4])),
        st.tuples(st.just("deep"), st.sampled_from(files[:4]), st.sampled_from([50, 5_000, 200_000])),
        st.tuples(st.just("outside"), st.sampled_from(files[1:]),
                  st.sampled_from(["../{}", "/etc/hostname", "sub/../../{}", "./{}", "{}/", "..", ""])),
        st.tuples(st.just("nan_weights"),),
    ), min_size=1, max_size=3))
    return {"muts": muts, "fix_hashes": draw(st.booleans()), "model": draw(st.sampled_from(["pca", "ae"])),
            "cli": draw(st.sampled_from(["", "", "info", "detect"]))}


def _paths(doc, prefix=()):
    """Every (path) to a node of a JSON document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:50]):
            yield from _paths(v, (*prefix, i))


def _set(doc, path, value):
    if not path:
        return value
    node = doc
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()


def mutate_model(d: Path, outside: Path, case: dict) -> bool:
    """Apply the mutations; True when a non-manifest file's bytes (or the file itself) changed."""
    pristine = {p.name: p.read_bytes() for p in d.iterdir()}
    for m in case["muts"]:
        kind, name = m[0], (m[1] if len(m) > 1 else "weights.safetensors")
        p = d / name
        if kind == "nan_weights":
            _nan_weights(d)
            continue
        if not p.is_file() or p.is_symlink():
            continue
        data = p.read_bytes()
        if kind == "flip" and data:
            i = min(int(m[2] * len(data)), len(data) - 1)
            p.write_bytes(data[:i] + bytes([data[i] ^ m[3]]) + data[i + 1:])
        elif kind == "truncate":
            p.write_bytes(data[:int(m[2] * len(data))])
        elif kind == "delete":
            p.unlink()
        elif kind == "replace":
            p.write_bytes(m[2])
        elif kind == "swap" and (d / m[2]).is_file():
            p.write_bytes((d / m[2]).read_bytes())
        elif kind == "symlink":
            target = outside / f"link-{name}"
            target.write_bytes(data)
            p.unlink()
            p.symlink_to(target)
        elif kind == "dir":
            p.unlink()
            p.mkdir()
        elif kind in ("field", "delkey", "addkey", "deep"):
            with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):
                doc = json.loads(data)
                paths = list(_paths(doc))
                path = paths[m[2] % len(paths)] if kind in ("field", "delkey") else ()
                if kind == "field":
                    doc = _set(doc, path, m[3])
                elif kind == "delkey" and path:
                    doc = _set(doc, path, _DELETE)
                elif kind == "addkey" and isinstance(doc, dict):
                    doc["unexpected"] = {"x": 1}
                elif kind == "deep":
                    p.write_text('{"a": ' + "[" * m[2] + "]" * m[2] + "}")
                    continue
                p.write_text(json.dumps(doc, allow_nan=True))
        elif kind == "outside":
            _point_outside(d, outside, name, m[2])
    changed = any(not (d / n).is_file() or (d / n).is_symlink() or (d / n).read_bytes() != b
                  for n, b in pristine.items() if n != "manifest.json")
    case["_exotic"] = any(p.is_symlink() or p.is_dir() for p in d.iterdir())
    if case["fix_hashes"]:
        _fix_hashes(d)
    return changed


def _nan_weights(d: Path) -> None:
    from safetensors.numpy import load_file, save_file

    p = d / "weights.safetensors"
    if p.is_file() and not p.is_symlink():
        with contextlib.suppress(Exception):
            tensors = load_file(p)
            save_file({k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v for k, v in tensors.items()}, p)


def _manifest(d: Path):
    with contextlib.suppress(ValueError, OSError, UnicodeDecodeError, RecursionError):
        doc = json.loads((d / "manifest.json").read_text())
        if isinstance(doc, dict) and isinstance(doc.get("files"), dict):
            return doc
    return None


def _point_outside(d: Path, outside: Path, name: str, pattern: str) -> None:
    """Move the manifest's entry for ``name`` to a name outside the directory (a real file with the
    same bytes and hash placed there where the name allows)."""
    doc = _manifest(d)
    if doc is None or name not in doc["files"]:
        return
    new = pattern.format(name)
    with contextlib.suppress(OSError):
        target = (d / new).resolve()
        if not str(target).startswith("/etc") and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(d / name, target)
    doc["files"][new] = doc["files"].pop(name)
    (d / "manifest.json").write_text(json.dumps(doc))


def _fix_hashes(d: Path) -> None:
    """The careful attacker: recompute the manifest's sha256/size of every plain file it lists."""
    doc = _manifest(d)
    if doc is None:
        return
    for fname, entry in doc["files"].items():
        p = d / fname
        if isinstance(entry, dict) and p.is_file() and p.resolve().parent == d.resolve():
            data = p.read_bytes()
            entry.update({k: v for k, v in (("sha256", hashlib.sha256(data).hexdigest()), ("size", len(data)))
                          if k in entry})
    (d / "manifest.json").write_text(json.dumps(doc, allow_nan=True))


@timed
def run_model_dir(ctx, case: dict) -> None:
    surface = "model-dir"
    from nadkit import artifact

    name = case["model"]
    with tempfile.TemporaryDirectory(dir=ctx.root) as d:
        d = Path(d)
        model = d / "model"
        shutil.copytree(ctx.models[name], model)
        (d / "outside").mkdir()
        content_changed = mutate_model(model, d / "outside", case)
        pipe, exc = None, None
        try:
            with time_limit(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipe = artifact.load(model)
                result = pipe.detect(ctx.test_df[COLUMNS], contributions=False)
        except Hang as e:
            return failed(surface, "hang", f"{case}: {e}")
        except Exception as e:
            exc = e
        if exc is not None and not clean_refusal(exc):
            return failed(surface, "traceback", f"{case}: {exc!r}"[:600])
        if case["cli"]:
            args = [case["cli"], model] + ([ctx.test_df.pipe(lambda f: _csv(f, d)), "-o", d / "s.csv"]
                                           if case["cli"] == "detect" else [])
            outcome, _ = cli_result(surface, args)
            if outcome == "ok" and exc is not None and not (case["cli"] == "info" and pipe is not None):
                return failed(surface, "silent-wrong", f"{case}: `nadkit {case['cli']}` accepted a model load refuses")
            if outcome == "ok" and case["cli"] == "detect" and exc is None and \
                    not close(pd.read_csv(d / "s.csv")["score"], result["score"]):
                return failed(surface, "silent-wrong", f"{case}: detect's scores differ from the loaded model's")
        if exc is not None:
            return passed(surface, "refused")
        if case["_exotic"]:
            return failed(surface, "silent-wrong", f"{case}: loaded through a symlink or directory entry")
        if content_changed and not case["fix_hashes"]:
            return failed(surface, "silent-wrong", f"{case}: a file that no longer matches its hash was loaded")
        thr = pipe.threshold.value_
        scores = result["score"].to_numpy()
        if not (np.isfinite(scores).all() and math.isfinite(thr)):
            return failed(surface, "silent-wrong", f"{case}: loaded, scores/threshold not finite")
        if not content_changed and not (close(scores, ctx.base_scores[name])
                                        and thr == ctx.pipes[name].threshold.value_):
            return failed(surface, "silent-wrong", f"{case}: manifest edits changed the scores")
        return passed(surface, "ok")


def _csv(frame: pd.DataFrame, d: Path) -> Path:
    path = d / "test.csv"
    frame[COLUMNS].to_csv(path, index=False)
    return path


@sample(15)
@given(case=model_mutations())
def test_model_directories_sample(ctx, case):
    run_model_dir(ctx, case)


# -------------------------------------------------------------------------------- HTTP bodies
JSON_VALUES = [None, True, False, "x", "", "5", [], {}, [1], 10**30, -(10**30), 1e308, -1e308, float("nan"),
               float("inf"), "\ud800", 2**64, 0.1, -3, "tcp", "zzz", 1]


@st.composite
def http_cases(draw):
    kind = draw(st.sampled_from(["records", "records", "instances", "csv", "parquet", "raw", "multipart",
                                 "deep", "toplevel"]))
    rows = draw(st.integers(0, 6))
    muts = draw(st.lists(st.one_of(
        st.tuples(st.just("set"), st.integers(0, 5), st.sampled_from(COLUMNS), st.sampled_from(JSON_VALUES)),
        st.tuples(st.just("missing"), st.integers(0, 5), st.sampled_from(COLUMNS)),
        st.tuples(st.just("extra"), st.integers(0, 5), st.sampled_from(["extra", "id", "", "\ud800"]),
                  st.sampled_from(JSON_VALUES)),
        st.tuples(st.just("shuffle"), st.integers(0, 5)),
        st.tuples(st.just("notdict"), st.integers(0, 5), st.sampled_from(JSON_VALUES)),
    ), max_size=3))
    return {"kind": kind, "rows": rows, "muts": muts,
            "model": draw(st.sampled_from(["pca", "ae", "pca", "nope"])),
            "route": draw(st.sampled_from(["score", "score", "score", "stream"])),
            "ctype": draw(st.sampled_from(["application/json", "", "text/csv", "application/xml",
                                           "application/vnd.apache.parquet", "multipart/form-data; boundary=zz",
                                           "application/json; charset=latin-1", "text/plain"])),
            "file": draw(file_cases(TEST_ROWS)), "raw": draw(st.binary(max_size=200)),
            "contrib": draw(st.booleans()), "sid": draw(st.integers(0, 10**9)),
            "toplevel": draw(st.sampled_from(['[]', '"data"', '{"data": {}}', '{"data": [], "instances": []}',
                                              '{"rows": [1]}', '{"data": null}', 'NaN', '1e999', '{}',
                                              '{"data": [[]]}', '{"instances": [{}]}']))}


def http_body(ctx, case: dict) -> tuple[bytes, str, dict | None, bool]:
    """(body, content type, intended records or None, whether the records are all valid)."""
    records = json.loads(ctx.test_df[COLUMNS].head(case["rows"]).to_json(orient="records"))
    valid = bool(records)
    for m in case["muts"]:
        if m[1] >= len(records) or not isinstance(records[m[1]], dict):
            continue
        r = records[m[1]]
        if m[0] == "set":
            r[m[2]] = m[3]
            ok = (type(m[3]) in (int, float) and math.isfinite(m[3]) and abs(m[3]) < 1e300) if m[2] in NUMERIC \
                else type(m[3]) in (str, int) and m[3] != "\ud800" and not isinstance(m[3], bool)
            valid = valid and ok
        elif m[0] == "missing":
            r.pop(m[2], None)
            valid = False
        elif m[0] == "extra":
            r[m[2]] = m[3]
            if m[2] != "id" or isinstance(m[3], list | dict) or m[3] == "\ud800" or \
                    (isinstance(m[3], float) and not math.isfinite(m[3])):
                valid = False
        elif m[0] == "shuffle":
            records[m[1]] = dict(reversed(list(r.items())))
        elif m[0] == "notdict":
            records[m[1]] = m[2]
            valid = False
    kind = case["kind"]
    if kind == "records":
        as_json = case["ctype"] in ("application/json", "", "application/json; charset=latin-1")
        return (json.dumps({"data": records}).encode("utf-8", "surrogatepass"), case["ctype"],
                records if as_json else None, valid)
    if kind == "instances":
        rows = [[r.get(c) for c in COLUMNS] if isinstance(r, dict) else r for r in records]
        return json.dumps({"instances": rows}).encode(), case["ctype"], None, False
    if kind == "deep":
        depth = 100_000
        return ('{"data": ' + "[" * depth + "]" * depth + "}").encode(), "application/json", None, False
    if kind == "toplevel":
        return case["toplevel"].encode(), "application/json", None, False
    if kind in ("csv", "parquet", "multipart"):
        with tempfile.TemporaryDirectory(dir=ctx.root) as d:
            path, _ = write_case(ctx.test_df[COLUMNS], case["file"], Path(d))
            data = path.read_bytes()
        if kind == "multipart":
            b = b"zz"
            body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="' + path.name.encode()
                    + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n--" + b + b"--\r\n")
            return body, "multipart/form-data; boundary=zz", None, False
        return data, "text/csv" if kind == "csv" else "application/vnd.apache.parquet", None, False
    return case["raw"], case["ctype"], None, False


@timed
def run_http(ctx, case: dict) -> None:
    surface = "http"
    body, ctype, records, valid = http_body(ctx, case)
    model = case["model"]
    if case["route"] == "stream":
        model = "dcvae" if ctx.series and case["rows"] % 2 else model
        body, ctype = _stream_body(ctx, case, body, ctype, model)
        url = f"/v1/models/{model}/streams/s{case['sid']}"
    else:
        url = f"/v1/models/{model}/score?contributions={str(case['contrib']).lower()}"
    headers = {"content-type": ctype} if ctype else {}
    try:
        with time_limit():
            res = ctx.client.post(url, content=body, headers=headers)
    except Hang as e:
        return failed(surface, "hang", f"{case}: {e}")
    if res.status_code >= 500:
        return failed(surface, "5xx", f"{case['kind']} {url} {ctype!r} {body[:200]!r}: {res.status_code} {res.text[:300]}")
    if res.status_code >= 400:
        detail = res.json().get("detail") if res.headers.get("content-type", "").startswith("application/json") else None
        if not detail:
            return failed(surface, "unclean", f"{case}: {res.status_code} without a detail: {res.text[:200]}")
        return passed(surface, "4xx")
    doc = res.json()
    if case["route"] == "stream":
        scores = [s for s in doc.get("scores", []) if s is not None]
        if not all(math.isfinite(s) for s in scores):
            return failed(surface, "silent-wrong", f"{case}: stream scores not finite")
        return passed(surface, "ok")
    pipe = ctx.pipes.get(model)
    n = doc["n"]
    scores = np.asarray(doc["scores"], float)
    if not (len(scores) == n and np.isfinite(scores).all()
            and doc["labels"] == (scores > pipe.threshold.value_).astype(int).tolist()):
        return failed(surface, "silent-wrong", f"{case}: inconsistent 200 answer")
    if records is not None:
        if not valid:
            return failed(surface, "silent-wrong", f"{case['muts']}: invalid records scored (200)")
        frame = pd.DataFrame([{c: r[c] for c in COLUMNS} for r in records])
        frame = frame.astype({c: float for c in NUMERIC} | {c: str for c in CATEGORICAL})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = pipe.detect(frame, contributions=False)["score"].to_numpy()
        if not close(scores, want):
            return failed(surface, "silent-wrong", f"{case['muts']}: scores differ from the records'")
    return passed(surface, "ok")


def _stream_body(ctx, case, body, ctype, model):
    if model != "dcvae":
        return body, ctype
    _, _pipe, data = ctx.series
    k = max(case["rows"], 1) * 3
    frame = data.X.iloc[:k]
    times = pd.Series(data.time[:k]).dt.strftime("%Y-%m-%d %H:%M:%S").tolist() if data.time is not None else None
    points = [{**row, **({"time": times[i]} if times else {})} for i, row in enumerate(frame.to_dict("records"))]
    for m in case["muts"]:
        if m[1] < len(points) and m[0] == "set":
            points[m[1]][frame.columns[m[1] % len(frame.columns)]] = m[3]
        elif m[1] < len(points) and m[0] == "missing":
            points[m[1]].pop(frame.columns[0], None)
        elif m[1] < len(points) and m[0] == "extra" and times:
            points[m[1]]["time"] = m[3] if not isinstance(m[3], float) else "2020-01-01"
    return json.dumps({"data": points}).encode("utf-8", "surrogatepass"), "application/json"


@sample(20)
@given(case=http_cases())
def test_http_bodies_sample(ctx, case):
    run_http(ctx, case)


# -------------------------------------------------------------------- the full campaign (marked)
@pytest.mark.campaign
@full(150)
@given(case=file_cases(TEST_ROWS), model=st.sampled_from(["pca", "ae"]),
       out=st.sampled_from(["s.csv", "s.parquet"]), contrib=st.booleans())
def test_detect_files_campaign(ctx, case, model, out, contrib):
    run_detect(ctx, case, model, out, contrib)


@pytest.mark.campaign
@full(100)
@given(case=file_cases(TRAIN_ROWS))
def test_train_files_campaign(ctx, case):
    run_train(ctx, case)


@pytest.mark.campaign
@full(80)
@given(case=file_cases(TRAIN_ROWS), method=CALIBRATE)
def test_calibrate_files_campaign(ctx, case, method):
    run_calibrate(ctx, case, method)


@pytest.mark.campaign
@full(15)
@given(case=file_cases(TEST_ROWS))
def test_evaluate_files_campaign(ctx, case):
    run_evaluate(ctx, case)


@pytest.mark.campaign
@full(500)
@given(case=model_mutations())
def test_model_directories_campaign(ctx, case):
    run_model_dir(ctx, case)


@pytest.mark.campaign
@full(600)
@given(case=http_cases())
def test_http_bodies_campaign(ctx, case):
    run_http(ctx, case)


def test_a_boolean_among_numbers_is_refused_not_read_as_0_or_1():
    """Found by the campaign: ``false`` in a numeric field among numbers was read as 0 (numpy)."""
    from nadkit.service.inputs import RequestError, TableSchema, frame_from_json

    schema = TableSchema(["bytes", "proto"], ["bytes"], {"proto": ["tcp"]})
    for body in (b'{"data": [{"bytes": 5, "proto": "tcp"}, {"bytes": false, "proto": "tcp"}]}',
                 b'{"data": [{"bytes": 5, "proto": 1}, {"bytes": 6, "proto": true}]}'):
        with pytest.raises(RequestError, match="boolean"):
            frame_from_json(body, schema)
    frame, _, _ = frame_from_json(b'{"data": [{"bytes": 5, "proto": 1}, {"bytes": 6.5, "proto": "tcp"}]}', schema)
    assert frame["bytes"].tolist() == [5.0, 6.5]
