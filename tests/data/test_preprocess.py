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


def test_column_arrays_give_the_frame_values(frame):
    """A dict of column arrays (the service's JSON path) transforms exactly like the frame;
    unseen categories warn the same way; bad numeric columns get the frame path's message."""
    pre = Preprocessor().fit(frame.iloc[:400])
    rows = frame.iloc[400:].assign(proto=["tcp", "gre"] * 50)
    columns = {c: rows[c].to_numpy() for c in rows.columns}
    with pytest.warns(UnknownCategoryWarning, match="proto: 'gre'"):
        expected = pre.transform(rows)
    with pytest.warns(UnknownCategoryWarning, match="proto: 'gre'"):
        got = pre.transform(columns)
    np.testing.assert_array_equal(got, expected)
    one = {c: v[:1] for c, v in columns.items()}
    np.testing.assert_array_equal(pre.transform(one), expected[:1])
    with pytest.raises(DataError, match="non-numeric values in numeric columns: rate"):
        pre.transform({**one, "rate": np.array(["fast"])})
    with pytest.raises(DataError, match="missing feature columns"):
        pre.transform({c: v for c, v in one.items() if c != "bytes"})
