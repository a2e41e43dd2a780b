import numpy as np
import pandas as pd

from nadkit.models import AE
from nadkit.pipeline import Pipeline, hash_frame


def test_pipeline_trains_on_normal_rows_and_detects(nsl_small):
    train = nsl_small["train"]
    mixed = train.subset(np.arange(2000))
    pipe = Pipeline(AE(epochs=3, random_state=0)).fit(mixed)
    assert pipe.info["training_rows"] == int((mixed.y == 0).sum())
    out = pipe.detect(nsl_small["test"].X.head(50))
    assert list(out.columns[:2]) == ["score", "anomaly"]
    contrib = out.filter(like="contrib_")
    assert contrib.shape[1] == 41
    np.testing.assert_allclose(contrib.sum(axis=1), out["score"], rtol=1e-4)


def test_calibrate_records_data_hash(nsl_small):
    pipe = Pipeline(AE(epochs=2)).fit(nsl_small["train"])
    pipe.calibrate(nsl_small["train"], method="fpr", fpr=0.02)
    assert pipe.threshold.data_hash_ == hash_frame(nsl_small["train"].X)
    assert pipe.predict(nsl_small["train"]).mean() <= 0.02


def test_hash_frame_changes_with_content():
    a = pd.DataFrame({"x": [1, 2]})
    assert hash_frame(a) == hash_frame(a.copy())
    assert hash_frame(a) != hash_frame(pd.DataFrame({"x": [1, 3]}))
