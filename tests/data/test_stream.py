"""Out-of-core training: a streamed two-pass fit equals the in-memory fit on the same rows."""

import warnings

import numpy as np
import pytest

from nadkit.data.preprocess import Preprocessor, UnknownCategoryWarning
from nadkit.data.stream import feature_batches, fit_preprocessor
from nadkit.errors import DataError
from nadkit.models.ae import AE
from nadkit.pipeline import Pipeline, hash_frame


@pytest.fixture(scope="module")
def labelled(nsl, tmp_path_factory):
    """6,000 labelled KDDTrain+ rows (normal and attacks) as Parquet."""
    train, _ = nsl
    rng = np.random.default_rng(5)
    sub = train.subset(np.sort(rng.choice(len(train), 6000, replace=False)))
    df = sub.X.copy()
    df["label"] = sub.attack
    path = tmp_path_factory.mktemp("stream") / "train.parquet"
    df.to_parquet(path)
    return sub, path


def test_streamed_fit_equals_in_memory_fit(labelled, tmp_path):
    """Preprocessor state, training hash and the AE's scores are identical (the AE trains from
    a memory-mapped copy of the same float32 rows, batch for batch)."""
    sub, path = labelled
    params = {"hidden": (32,), "latent": 8, "epochs": 2, "batch_size": 256, "random_state": 0}
    cats = ["protocol_type", "service", "flag"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        memory = Pipeline(AE(**params), Preprocessor(categorical=cats)).fit(sub)
        streamed = Pipeline(AE(**params), Preprocessor(categorical=cats)).fit_file(
            path, label_col="label", batch_rows=1000, workdir=tmp_path)
        assert streamed.preprocessor.to_dict() == memory.preprocessor.to_dict()
        assert streamed.info["training_rows"] == memory.info["training_rows"] == int((sub.y == 0).sum())
        assert streamed.info["training_hash"] == memory.info["training_hash"]
        np.testing.assert_array_equal(streamed.score(sub.X), memory.score(sub.X))
    assert list(tmp_path.iterdir()) == []  # the memory-mapped training matrix is gone


def test_feature_batches_filter_normals_and_check_columns(labelled):
    sub, path = labelled
    rows = list(feature_batches(path, label_col="label", batch_rows=2500))
    assert [len(b) for b in rows] == [int((sub.y[i:i + 2500] == 0).sum()) for i in (0, 2500, 5000)]
    assert "label" not in rows[0].columns
    _, info = fit_preprocessor(Preprocessor(), path, label_col="label", batch_rows=2500)
    assert info["hash"] == hash_frame(sub.normal().X)
    with pytest.raises(DataError, match="label column 'attack' not found"):
        list(feature_batches(path, label_col="attack"))
    with pytest.raises(DataError, match=r"columns to drop not found: \['nope'\]"):
        list(feature_batches(path, drop_cols=["nope"]))
