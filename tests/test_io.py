import gzip

import pandas as pd
import pytest

from nadkit.errors import DataError
from nadkit.io import atomic_dir, atomic_path, read_table, write_table


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_whole_directory(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target) as d:
        (d / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as d:
        (d / "b.txt").write_text("2")
        raise RuntimeError("crash")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    with atomic_dir(target) as d:
        (d / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("a,b\n", "no rows"),
])
def test_read_table_rejects_empty(tmp_path, content, message):
    p = tmp_path / "x.csv"
    p.write_text(content)
    with pytest.raises(DataError, match=message):
        read_table(p)


def test_read_table_missing_and_directory(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="directory"):
        read_table(tmp_path)


def test_read_table_sniffs_separator_bom_and_gzip(tmp_path):
    p = tmp_path / "x.csv.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("\ufeffid;value\n1;2.5\n2;3.5\n")
    df = read_table(p)
    assert list(df.columns) == ["id", "value"]
    assert df["value"].tolist() == [2.5, 3.5]


def test_write_table_roundtrip_csv_and_parquet(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for name in ("o.csv", "o.parquet"):
        write_table(df, tmp_path / name)
        pd.testing.assert_frame_equal(read_table(tmp_path / name), df)
    with pytest.raises(DataError, match="unknown output format"):
        write_table(df, tmp_path / "o.xlsx")
