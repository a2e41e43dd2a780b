"""One Pipeline contract with table and series pipelines as siblings: ``Pipeline(det)`` builds
the kind that fits the detector, the CLI's train → calibrate → detect gives the scores the
Python API gives (fixed seed, one table and one series model), and cli.py's verbs do not branch
on the kind."""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pandas as pd
import pytest

from nadkit.errors import DataError
from nadkit.pipeline import Pipeline, SeriesPipeline, TablePipeline, make_pipeline

from .inprocess import run_nadkit

SERIES_PARAMS = {"window": 16, "cnn_units": [8, 8, 8], "dilations": [1, 2, 4, 8], "step_budget": 20,
                 "train_stride": 4, "random_state": 0, "verbose": False}


def _said(res) -> str:
    """stdout with rich's line wrapping undone."""
    return " ".join(res.stdout.split())


def _flows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"bytes": rng.lognormal(5, 1, n), "duration": rng.exponential(2.0, n),
                         "proto": rng.choice(["tcp", "udp", "icmp"], n, p=[0.6, 0.3, 0.1])})


def _kpis(n: int, seed: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    df = pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq="1min"),
                       "cpu": np.sin(t / 15) + 0.1 * rng.normal(size=n),
                       "mem": np.cos(t / 25) + 0.1 * rng.normal(size=n),
                       "net": 0.5 * np.sin(t / 7) + 0.1 * rng.normal(size=n)})
    df.loc[n // 2: n // 2 + 5, "cpu"] += 4.0  # an anomaly
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline-kinds")
    _flows(800, 0).to_csv(tmp / "flows_train.csv", index=False)
    _flows(400, 1).to_csv(tmp / "flows_val.csv", index=False)
    _flows(300, 2).to_csv(tmp / "flows_test.csv", index=False)
    _kpis(500, 0, "2024-01-01").to_csv(tmp / "kpi_train.csv", index=False)
    _kpis(300, 1, "2024-01-02").to_csv(tmp / "kpi_val.csv", index=False)
    _kpis(300, 2, "2024-01-03").to_csv(tmp / "kpi_test.csv", index=False)
    return tmp


def test_pipeline_builds_the_kind_of_its_detector():
    from nadkit.models import make_detector

    table, series = Pipeline(make_detector("iforest")), Pipeline(make_detector("dcvae", window=16))
    assert type(table) is TablePipeline and table.kind == "table" and isinstance(table, Pipeline)
    assert type(series) is SeriesPipeline and series.kind == "series" and isinstance(series, Pipeline)
    assert type(make_pipeline(make_detector("pca"))) is TablePipeline
    assert not issubclass(SeriesPipeline, TablePipeline) and not issubclass(TablePipeline, SeriesPipeline)
    # copies and pickles rebuild the same kind (no detector argument on that path)
    assert type(copy.deepcopy(series)) is SeriesPipeline and type(pickle.loads(pickle.dumps(table))) is TablePipeline

    class Half(Pipeline):  # a kind must implement the whole contract
        kind = "half"

        @staticmethod
        def default_preprocessor(detector):
            return None

    with pytest.raises(TypeError, match="abstract"):
        Half(make_detector("iforest"))


def test_pipeline_owns_the_threshold():
    from nadkit.models import IForest
    from nadkit.thresholds import Quantile

    df = _flows(600, 0)
    pipe = Pipeline(IForest(random_state=0)).fit(df)
    assert pipe.threshold is pipe.detector.threshold_  # the detector's default, fitted on its held-out scores
    assert pipe.calibration_scores.ndim == 1 and len(pipe.calibration_scores) > 0
    pipe.threshold = Quantile(0.9).fit(pipe.calibration_scores)
    assert pipe.predict(df).mean() == pytest.approx((pipe.score(df) > pipe.threshold.value_).mean())
    pipe.calibrate(_flows(300, 1), method="quantile", q=0.95)
    assert pipe.threshold.describe().startswith("quantile") and pipe.threshold.data_hash_


@pytest.fixture(scope="module")
def table_cli(files):
    """iforest (seed 0) through the CLI: train → calibrate (fpr 5 %) → detect."""
    tmp = files
    res = run_nadkit("train", tmp / "flows_train.csv", "-m", "iforest", "--seed", "0", "-o", tmp / "t_model",
                     "--no-progress")
    assert res.returncode == 0, res.stderr
    res = run_nadkit("calibrate", tmp / "t_model", tmp / "flows_val.csv", "--method", "fpr", "--fpr", "0.05")
    assert res.returncode == 0 and "400 normal rows of flows_val.csv" in _said(res), res.stderr
    res = run_nadkit("detect", tmp / "t_model", tmp / "flows_test.csv", "-o", tmp / "t_out.csv", "--no-progress")
    assert res.returncode == 0 and "300 rows scored" in _said(res), res.stderr
    return pd.read_csv(tmp / "t_out.csv")


def test_cli_scores_equal_the_python_api_table(files, table_cli):
    from nadkit.data.resolve import resolve_data
    from nadkit.models import make_detector

    tmp, got = files, table_cli
    pipe = make_pipeline(make_detector("iforest", random_state=0))
    pipe.preprocessor = type(pipe.preprocessor)(**_preprocess_defaults())
    pipe.fit(resolve_data(str(tmp / "flows_train.csv")))
    pipe.calibrate(resolve_data(str(tmp / "flows_val.csv"), select_features=False), method="fpr", fpr=0.05)
    want = pipe.detect(pd.read_csv(tmp / "flows_test.csv"), contributions=False)
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-12)
    np.testing.assert_array_equal(got["anomaly"], want["anomaly"])
    assert 0 < want["anomaly"].sum() < len(want)


def _preprocess_defaults() -> dict:
    from nadkit.config import load_config

    return load_config(None).preprocess.model_dump()


@pytest.fixture(scope="module")
def series_cli(files):
    """DC-VAE (seed 0, tiny) through the CLI: train → calibrate (alpha, fpr 5 %) → detect → info."""
    tmp = files
    params = [a for k, v in SERIES_PARAMS.items() if k not in ("random_state", "verbose")
              for a in ("-p", f"{k}={v}".replace(" ", ""))]
    res = run_nadkit("train", tmp / "kpi_train.csv", "-m", "dcvae", "--seed", "0", "-o", tmp / "s_model",
                     "--no-progress", *params)
    assert res.returncode == 0 and "window 16" in _said(res), res.stderr
    res = run_nadkit("calibrate", tmp / "s_model", tmp / "kpi_val.csv", "--method", "alpha", "--fpr", "0.05")
    assert res.returncode == 0 and "300 steps × 3 channels of kpi_val.csv" in _said(res), res.stderr
    res = run_nadkit("detect", tmp / "s_model", tmp / "kpi_test.csv", "-o", tmp / "s_out.parquet", "--no-progress")
    assert res.returncode == 0 and "300 steps × 3 channels scored" in _said(res), res.stderr
    got = pd.read_parquet(tmp / "s_out.parquet")
    res = run_nadkit("info", tmp / "s_model")
    assert res.returncode == 0 and "series: window 16" in _said(res), res.stderr
    return got


def test_cli_scores_equal_the_python_api_series(files, series_cli):
    from nadkit.data.series import read_series
    from nadkit.models import make_detector

    tmp, got = files, series_cli
    pipe = make_pipeline(make_detector("dcvae", **SERIES_PARAMS)).fit(read_series(tmp / "kpi_train.csv"))
    pipe.calibrate(read_series(tmp / "kpi_val.csv"), method="alpha", **pipe.threshold_params("alpha", fpr=0.05))
    want = pipe.detect(read_series(tmp / "kpi_test.csv"))
    for col in ("score", "step_score", "mu", "sigma", "lower", "upper"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-6, atol=1e-9, err_msg=col)
    for col in ("flag", "step_flag", "scored"):
        np.testing.assert_array_equal(got[col], want[col], err_msg=col)


def test_an_option_of_the_other_kind_is_a_one_line_error(files, table_cli, series_cli):
    from nadkit.models import IForest

    tmp = files
    for args, message in [
        (("detect", tmp / "t_model", tmp / "flows_test.csv", "-o", tmp / "x.csv", "--layout", "wide"),
         "--layout is for series models"),
        (("detect", tmp / "t_model", tmp / "flows_test.csv", "-o", tmp / "x.csv", "--time-col", "ts"),
         "--time-col is for series models"),
        (("detect", tmp / "s_model", tmp / "kpi_test.csv", "-o", tmp / "x.csv", "--key-cols", "cpu"),
         "--key-cols is for table models"),
        (("train", tmp / "kpi_train.csv", "-m", "dcvae", "-o", tmp / "x_model", "--stream"),
         "--stream is for table models"),
        (("train", tmp / "flows_train.csv", "-m", "pca", "-o", tmp / "x_model", "--mask-outliers"),
         "--mask-outliers is for series models"),
    ]:
        res = run_nadkit(*args)
        assert res.returncode == 2 and res.stderr.startswith("error:") and message in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
    assert not (tmp / "x.csv").exists() and not (tmp / "x_model").exists()
    with pytest.raises(DataError, match="--entity-col is for series models"):
        Pipeline(IForest()).check_options(entity_col="host")


def test_cli_verbs_do_not_branch_on_the_kind():
    from nadkit import cli

    source = inspect.getsource(cli)
    assert "SeriesPipeline" not in source
    for helper in ("_is_series_model", "_data_with_labels", "def _series("):
        assert helper not in source, f"cli.py keeps the kind-specific helper {helper!r}"
    for verb in (cli.train, cli.calibrate, cli.detect, cli.evaluate, cli.info, cli.serve):
        body = inspect.getsource(verb)
        for pattern in ("SeriesPipeline", "_is_series_model", "kind ==", "input_kind", "has_tag(\"series\")",
                        "_series(", "_data_with_labels", "\"series\" in"):
            assert pattern not in body, f"cli.{verb.__name__} branches on the kind ({pattern!r})"
