import json
import warnings

import numpy as np
import pandas as pd
import pytest

from nadkit.data import Preprocessor
from nadkit.data.preprocess import UnknownCategoryWarning
from nadkit.errors import DataError, NotFittedError


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "bytes": rng.lognormal(6, 2, 500), "rate": rng.random(500), "const": 1.0,
        "proto": rng.choice(["tcp", "udp", "icmp"], 500), "flag": rng.choice(["SF", "S0"], 500),
    })


def test_fit_on_train_only_and_schema(frame):
    pre = Preprocessor().fit(frame)
    assert "const" not in pre.feature_names_out_  # constant on training data
    assert pre.log_columns_ == ["bytes"]  # heavy-tailed count, not the [0, 1] rate
    X = pre.transform(frame)
    assert X.dtype == np.float32 and X.shape == (500, len(pre.feature_names_out_))
    assert X.min() == 0.0 and X.max() == 1.0  # min-max on training data
    groups = pre.feature_groups()
    assert [pre.feature_names_out_[i] for i in groups["proto"]] == ["proto=icmp", "proto=tcp", "proto=udp",
                                                                "proto=__other__"]


def test_json_roundtrip_is_identical(frame):
    pre = Preprocessor(scaling="standard").fit(frame)
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(pre.transform(frame), again.transform(frame))


def test_unknown_categories_go_to_other(frame):
    pre = Preprocessor().fit(frame)
    new = frame.head(3).copy()
    new.loc[0, "proto"] = "sctp"
    with pytest.warns(UnknownCategoryWarning, match="proto: 'sctp'"):
        X = pre.transform(new)
    other = pre.feature_names_out_.index("proto=__other__")
    assert X[0, other] == 1.0
    strict = Preprocessor(strict_categories=True).fit(frame)
    with pytest.raises(DataError, match="unseen categories"):
        strict.transform(new)


def test_bad_inputs_have_clear_messages(frame):
    pre = Preprocessor().fit(frame)
    with pytest.raises(DataError, match=r"missing feature columns \(1\): rate"):
        pre.transform(frame.drop(columns=["rate"]))
    bad = frame.head(5).copy()
    bad.loc[1, "bytes"] = np.nan
    bad.loc[2, "rate"] = np.inf
    with pytest.raises(DataError, match=r"NaN/inf values in 2 rows: bytes \(1 rows\), rate \(1 rows\)"):
        pre.transform(bad)
    text = frame.head(5).astype({"rate": object})
    text.loc[0, "rate"] = "fast"
    with pytest.raises(DataError, match="non-numeric values in numeric columns: rate"):
        pre.transform(text)
    with pytest.raises(DataError, match="no rows"):
        pre.transform(frame.head(0))
    with pytest.raises(NotFittedError):
        Preprocessor().transform(frame)


def test_extra_columns_are_ignored_and_order_free(frame):
    pre = Preprocessor().fit(frame)
    shuffled = frame[frame.columns[::-1]].assign(label="normal")
    np.testing.assert_array_equal(pre.transform(frame), pre.transform(shuffled))


def test_contributions_group_back_to_columns(frame):
    pre = Preprocessor().fit(frame)
    per_feature = np.ones((4, len(pre.feature_names_out_)))
    c = pre.group_contributions(per_feature)
    assert list(c.columns) == list(frame.columns)
    assert c.loc[0, "proto"] == 4.0 and c.loc[0, "const"] == 0.0


def test_numeric_strings_are_accepted(frame):
    pre = Preprocessor().fit(frame)
    as_text = frame.astype({"bytes": str})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(pre.transform(as_text), pre.transform(frame), rtol=1e-6)


@pytest.mark.parametrize("scaling", ["minmax", "standard"])
def test_partial_fit_in_batches_equals_fit_on_the_whole_table(nsl, scaling):
    """Real data (KDDTrain+, 125,973 rows) in uneven batches: min/max, log columns, categories
    and kept columns are identical; standard-scaling mean/std equal to rounding."""
    X = nsl[0].X
    whole = Preprocessor(scaling=scaling).fit(X).to_dict()["state"]
    pre = Preprocessor(scaling=scaling)
    for start in range(0, len(X), 9_973):
        pre.partial_fit(X.iloc[start:start + 9_973])
    batched = pre.to_dict()["state"]
    exact = [k for k in whole if k not in ("offset_", "scale_")] if scaling == "standard" else list(whole)
    assert {k: batched[k] for k in exact} == {k: whole[k] for k in exact}
    np.testing.assert_allclose(batched["offset_"], whole["offset_"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(batched["scale_"], whole["scale_"], rtol=1e-10)
    # usable after every call, like scikit-learn's partial_fit
    assert Preprocessor(scaling=scaling).partial_fit(X.iloc[:500]).transform(X.iloc[:3]).shape[0] == 3


def test_partial_fit_checks_batches_and_refuses_loaded_state(frame):
    pre = Preprocessor().partial_fit(frame.iloc[:100])
    with pytest.raises(DataError, match=r"columns differ from the first batch's: missing \['rate'\]"):
        pre.partial_fit(frame.iloc[100:].drop(columns=["rate"]))
    pre.partial_fit(frame.iloc[100:][frame.columns[::-1]])  # same columns, another order: fine
    assert pre.to_dict() == Preprocessor().fit(frame).to_dict()
    loaded = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    with pytest.raises(DataError, match="loaded from a file"):
        loaded.partial_fit(frame)
    with pytest.raises(DataError, match="empty table"):
        Preprocessor().partial_fit(frame.head(0))
