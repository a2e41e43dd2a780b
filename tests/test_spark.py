"""Real Spark (local[2]): `nadkit spark-score` gives the scores of `nadkit detect`, loads the
model once per Python worker, and reports bad data in one line."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nadkit.cli import app
from nadkit.errors import DataError
from nadkit.io import read_table

UNSW = "unsw_nb15/UNSW_NB15_training-set.csv.gz"


def run(*args):
    res = CliRunner().invoke(app, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def unsw(data_root, tmp_path_factory):
    """The UNSW-NB15 partition (82,332 rows) as Parquet, and an AE fitted on 5,000 of its normal
    rows (two epochs: the test is about equal scores, not quality)."""
    from nadkit import artifact
    from nadkit.data.loaders import UNSW_CATEGORICAL
    from nadkit.data.preprocess import Preprocessor
    from nadkit.models import AE
    from nadkit.pipeline import Pipeline

    tmp = tmp_path_factory.mktemp("spark")
    raw = read_table(data_root / UNSW)
    raw.to_parquet(tmp / "unsw.parquet")
    normal = raw[raw["label"] == 0].drop(columns=["id", "label", "attack_cat"]).sample(5000, random_state=0)
    pipe = Pipeline(AE(hidden=(32,), latent=8, epochs=2, random_state=0),
                    Preprocessor(categorical=UNSW_CATEGORICAL)).fit(normal)
    artifact.save(pipe, tmp / "model")
    return tmp


def test_spark_score_equals_detect_on_unsw(spark, unsw):
    """Acceptance: same scores as the single-machine `nadkit detect` (max |Δ| < 1e-5), same
    labels, every row once, the key column kept, the model loaded once per Python worker."""
    from nadkit.spark import worker_report

    run("detect", unsw / "model", unsw / "unsw.parquet", "-o", unsw / "detect.parquet", "--keep-cols", "id",
        "--no-contributions")
    res = run("spark-score", unsw / "model", unsw / "unsw.parquet", unsw / "spark_out", "--key-cols", "id",
              "--master", "local[2]", "--batch-rows", "20000")
    assert "82,332 rows scored on Spark" in res.stdout
    single = pd.read_parquet(unsw / "detect.parquet").set_index("id").sort_index()
    distributed = pd.read_parquet(unsw / "spark_out").set_index("id").sort_index()
    assert list(distributed.columns) == ["score", "anomaly"]
    assert distributed.index.equals(single.index) and len(single) == 82_332
    assert float(np.abs(distributed["score"] - single["score"]).max()) < 1e-5
    np.testing.assert_array_equal(distributed["anomaly"], single["anomaly"])
    loads = [n for w in worker_report(spark) for n in w["loads"].values()]
    assert loads and set(loads) == {1}


def test_spark_errors_are_one_line(spark, unsw, tmp_path):
    from nadkit.spark import score_table

    df = pd.read_parquet(unsw / "unsw.parquet").head(3000)
    df.loc[2500, "sbytes"] = np.nan
    df.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(DataError, match=r"NaN values in 1 rows: sbytes"):
        score_table(spark, unsw / "model", tmp_path / "nan.csv", tmp_path / "out", key_cols=["id"])
    with pytest.raises(DataError, match=r"missing feature columns \(1\): sbytes"):
        df.drop(columns=["sbytes"]).to_parquet(tmp_path / "nosbytes.parquet")
        score_table(spark, unsw / "model", tmp_path / "nosbytes.parquet", tmp_path / "out2")
    with pytest.raises(DataError, match="key columns not in the data"):
        score_table(spark, unsw / "model", tmp_path / "nan.csv", tmp_path / "out3", key_cols=["flow_id"])
    with pytest.raises(DataError, match=r"not numeric \(1\): sbytes \(timestamp"):  # not cast to seconds
        df.assign(sbytes=pd.Timestamp("2024-01-01")).to_parquet(tmp_path / "time.parquet", coerce_timestamps="us")
        score_table(spark, unsw / "model", tmp_path / "time.parquet", tmp_path / "out4")
    with pytest.raises(DataError, match="output exists"):
        score_table(spark, unsw / "model", unsw / "unsw.parquet", unsw / "spark_out")
