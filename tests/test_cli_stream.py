"""The CLI's streamed paths on a Parquet file (in-process through Typer's runner, which
saves the interpreter start-up of the subprocess tests): `train --stream` and `detect`
agree with the library."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from nadkit.cli import app
from nadkit.errors import DataError


class Result:
    def __init__(self, r):
        self.returncode = 2 if isinstance(r.exception, DataError) else r.exit_code
        self.stdout, self.stderr, self.exception = r.stdout, r.stderr, r.exception


def nadkit(*args):
    return Result(CliRunner().invoke(app, [str(a) for a in args]))


def test_train_stream_then_detect(nsl, tmp_path):
    from nadkit import artifact
    from nadkit.data.preprocess import Preprocessor
    from nadkit.models import PCA
    from nadkit.pipeline import Pipeline

    train, _ = nsl
    df = train.X.iloc[:8_000].copy()
    df["label"] = train.attack[:8_000]
    df.to_parquet(tmp_path / "flows.parquet", row_group_size=1500)
    res = nadkit("train", tmp_path / "flows.parquet", "--stream", "--label-col", "label", "--model", "pca",
                 "-o", tmp_path / "model")
    assert res.returncode == 0, res.stderr
    assert "streamed" in res.stderr
    res = nadkit("detect", tmp_path / "model", tmp_path / "flows.parquet", "-o", tmp_path / "s.parquet",
                 "--keep-cols", "label", "--no-contributions")
    assert res.returncode == 0, res.stderr
    assert "8,000 rows scored" in res.stdout
    scores = pd.read_parquet(tmp_path / "s.parquet")
    memory = Pipeline(PCA(), Preprocessor()).fit(pd.read_parquet(tmp_path / "flows.parquet")
                                                 .pipe(lambda d: d[d["label"] == "normal"].drop(columns="label")))
    loaded = artifact.load(tmp_path / "model")
    assert loaded.preprocessor.to_dict() == memory.preprocessor.to_dict()
    assert loaded.info["training_rows"] == int((train.y[:8_000] == 0).sum())
    np.testing.assert_allclose(scores["score"], memory.score(df), rtol=1e-5, atol=1e-7)
    res = nadkit("train", tmp_path / "flows.parquet", "--label-col", "label", "--model", "pca",
                 "--devices", "2", "-o", tmp_path / "m2")
    assert res.returncode == 2 and "apply to torch models, not pca" in str(res.exception)
    assert not (tmp_path / "m2").exists()
