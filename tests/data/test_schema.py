"""InputSchema: the one description of a fitted model's input columns, and its one check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from nadkit.data.preprocess import Preprocessor
from nadkit.data.schema import InputSchema, check_keys
from nadkit.data.series.container import SeriesData
from nadkit.data.series.preprocess import SeriesPreprocessor
from nadkit.errors import DataError
from nadkit.service.inputs import TableSchema


@pytest.fixture(scope="module")
def pre() -> Preprocessor:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"bytes": rng.lognormal(5, 1, 300), "proto": rng.choice(["tcp", "udp"], 300),
                       "rate": rng.random(300)})
    return Preprocessor().fit(df)


def test_preprocessor_schema_is_the_value_object_and_its_dict(pre):
    s = pre.input_schema()
    assert s.columns == ["bytes", "proto", "rate"] and s.numeric == ["bytes", "rate"]
    assert s.categories == {"proto": ["tcp", "udp"]} and s.kind == "table"
    assert pre.schema() == {"columns": pre.columns_in_, "numeric": pre.numeric_, "categories": pre.categories_}
    assert InputSchema.from_dict(pre.schema()) == s
    assert pre.input_schema() is s  # built once per fitted state
    assert TableSchema.from_manifest(pre.schema()).to_dict() == pre.schema()


def test_check_names_missing_extra_and_optional(pre):
    s = pre.input_schema()
    assert s.check(["rate", "proto", "bytes", "note"]) == ["note"]
    with pytest.raises(DataError, match=r"^missing feature columns \(2\): bytes, rate$"):
        s.check(pd.DataFrame({"proto": ["tcp"]}))
    with pytest.raises(DataError, match=r"columns the model does not read \(1\): note; its feature columns: bytes"):
        s.check(["rate", "proto", "bytes", "note"], extra="error")
    served = TableSchema(s.columns, s.numeric, s.categories)  # the service's: "id" is optional
    assert served.check([*s.columns, "id"], extra="error") == [] and served.id_field() == "id"
    with pytest.raises(TypeError, match="not one string"):
        s.check("bytes")


def test_check_types_where_the_container_has_them(pre):
    s = pre.input_schema()
    ok = pa.schema([("bytes", pa.float64()), ("proto", pa.string()), ("rate", pa.string())])
    assert s.check(ok) == []  # text in a numeric column parses as numbers: allowed
    bad = pa.schema([("bytes", pa.timestamp("ns")), ("proto", pa.string()), ("rate", pa.float32())])
    with pytest.raises(DataError, match=r"feature columns of a type that is not numeric \(1\): bytes \(timestamp"):
        s.check(bad)


def test_transform_refuses_a_timestamp_in_a_numeric_column(pre):
    df = pd.DataFrame({"bytes": pd.date_range("2024-01-01", periods=3, freq="s"), "proto": "tcp", "rate": 0.5})
    with pytest.raises(DataError, match=r"not numeric \(1\): bytes \(datetime64"):
        pre.transform(df)
    good = df.assign(bytes=[1.0, 2.0, 3.0])
    assert pre.transform(good).shape == (3, len(pre.feature_names_out_))
    with pytest.raises(DataError, match=r"missing feature columns \(1\): rate"):
        pre.transform(good.drop(columns="rate"))


def test_series_schema_names_channels():
    frame = pd.DataFrame({"a": np.arange(50.0), "b": np.sin(np.arange(50.0))},
                         index=pd.date_range("2024-01-01", periods=50, freq="min"))
    sp = SeriesPreprocessor().fit(SeriesData(frame, name="toy"), window=8)
    s = sp.input_schema()
    assert s.kind == "series" and s.columns == s.numeric == ["a", "b"]
    assert InputSchema.from_dict(sp.schema()) == s
    with pytest.raises(DataError, match=r"missing channels \(1\): b; the model expects 2 channels \['a', 'b'\]"):
        sp.transform(SeriesData(frame[["a"]], name="toy"))


def test_check_keys():
    check_keys(["id"], ["id", "x"])
    with pytest.raises(DataError, match=r"--key-cols not in the data: \['nope'\]"):
        check_keys(["id", "nope"], ["id"], "--key-cols")
