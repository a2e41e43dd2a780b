"""Streamed scoring of files: same scores as in memory, batch by batch, atomic output."""

import warnings

import numpy as np
import pandas as pd
import pytest

from nadkit.data.preprocess import Preprocessor, UnknownCategoryWarning
from nadkit.errors import DataError
from nadkit.io import iter_table_batches, table_writer
from nadkit.models import PCA
from nadkit.pipeline import Pipeline
from nadkit.scoring import detect_frame, score_file


@pytest.fixture(scope="module")
def flows(nsl, tmp_path_factory):
    """4,000 real KDDTest+ rows (with an id and the label) as CSV.gz, Parquet and a Parquet
    directory of two part files, plus a PCA pipeline fitted on KDDTrain+ normals."""
    train, test = nsl
    rng = np.random.default_rng(3)
    sub = test.subset(np.sort(rng.choice(len(test), 4000, replace=False)))
    df = sub.X.copy()
    df.insert(0, "id", np.arange(len(df)))
    df["label"] = sub.attack
    tmp = tmp_path_factory.mktemp("flows")
    df.to_csv(tmp / "flows.csv.gz", index=False)
    df.to_parquet(tmp / "flows.parquet")
    (tmp / "parts").mkdir()
    df.iloc[:2500].to_parquet(tmp / "parts" / "part-0.parquet")
    df.iloc[2500:].to_parquet(tmp / "parts" / "part-1.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        pipe = Pipeline(PCA(), Preprocessor(categorical=train.meta["categorical"])).fit(
            train.normal().subset(slice(0, 20_000)))
    return {"dir": tmp, "df": df, "pipe": pipe}


@pytest.mark.parametrize(("source", "target"), [("flows.csv.gz", "out.parquet"),
                                                ("flows.parquet", "out.csv"), ("parts", "out.parquet")])
def test_streamed_scores_equal_in_memory_scores(flows, tmp_path, source, target):
    pipe, df = flows["pipe"], flows["df"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = score_file(pipe, flows["dir"] / source, tmp_path / target, keep_cols=["id", "label"],
                             batch_rows=700)
    out = pd.read_parquet(tmp_path / target) if target.endswith("parquet") else pd.read_csv(tmp_path / target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        expected = detect_frame(pipe, df, ["id", "label"])
    assert summary == {"rows": 4000, "flagged": int(expected["anomaly"].sum())}
    assert list(out.columns) == list(expected.columns)  # id, label, score, anomaly, contrib_…
    np.testing.assert_array_equal(out["id"], expected["id"])
    # float32 matrix products may round differently for other batch shapes: the detector
    # contract's one-row-vs-batch tolerance
    np.testing.assert_allclose(out["score"], expected["score"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.filter(like="contrib_"), expected.filter(like="contrib_"), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_array_equal(out["anomaly"], expected["anomaly"])
    unseen = [w for w in caught if issubclass(w.category, UnknownCategoryWarning)]
    assert len(unseen) <= 1  # one warning for the whole file, not one per batch


def test_a_bad_batch_leaves_no_output(flows, tmp_path):
    df = flows["df"].copy().astype({"duration": float})
    df.loc[3500, "duration"] = np.nan  # in the sixth batch of 700
    df.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="NaN values in 1 rows: duration"):
        score_file(flows["pipe"], tmp_path / "bad.parquet", tmp_path / "out.parquet", batch_rows=700)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.parquet"]
    with pytest.raises(DataError, match="--key-cols not in the data"):
        score_file(flows["pipe"], tmp_path / "bad.parquet", tmp_path / "out.parquet", keep_cols=["flow"])
    with pytest.raises(DataError, match=r"missing feature columns \(1\): service"):
        df.drop(columns=["service"]).to_parquet(tmp_path / "noservice.parquet")
        score_file(flows["pipe"], tmp_path / "noservice.parquet", tmp_path / "out.parquet")


def test_key_columns_that_clash_with_outputs_are_renamed(flows):
    df = flows["df"].head(50).assign(score=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        out = detect_frame(flows["pipe"], df, ["id", "score"], contributions=False)
    assert list(out.columns) == ["id", "score_input", "score", "anomaly"]


def test_iter_table_batches_and_errors(flows, tmp_path):
    sizes = [len(b) for b in iter_table_batches(flows["dir"] / "flows.csv.gz", batch_rows=1500)]
    assert sum(sizes) == 4000 and max(sizes) <= 1500
    first = next(iter_table_batches(flows["dir"] / "flows.parquet", 10, columns=["id", "service"]))
    assert list(first.columns) == ["id", "service"] and len(first) == 10
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    for name, message in (("missing.csv", "file not found"), ("empty.csv", "file is empty"),
                          ("header.csv", "header but no rows")):
        with pytest.raises(DataError, match=message):
            list(iter_table_batches(tmp_path / name))
    with pytest.raises(DataError, match="columns not found"):
        list(iter_table_batches(flows["dir"] / "flows.parquet", columns=["nope"]))


def test_table_writer_is_atomic(tmp_path):
    with pytest.raises(RuntimeError), table_writer(tmp_path / "o.parquet") as write:
        write(pd.DataFrame({"a": [1]}))
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with table_writer(tmp_path / "o.csv.gz") as write:
        write(pd.DataFrame({"a": [1, 2]}))
        write(pd.DataFrame({"a": [3]}))
    assert pd.read_csv(tmp_path / "o.csv.gz")["a"].tolist() == [1, 2, 3]
    with pytest.raises(DataError, match="unknown output format"), table_writer(tmp_path / "o.xlsx"):
        pass
