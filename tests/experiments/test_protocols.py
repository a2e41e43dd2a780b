import numpy as np
import pytest

from nadkit.errors import DataError
from nadkit.experiments.protocols import resolve_data, standard_split


def test_nsl_kdd_protocol(data_root):
    s = standard_split("nsl-kdd", validation=0.0)
    assert len(s.train) == 67_343 and s.train.y.sum() == 0
    assert len(s.test) == 22_544 and s.validation is None


def test_nsl_kdd_validation_comes_from_the_training_file(data_root):
    s = standard_split("nsl-kdd", validation=0.1)
    assert len(s.train) + (s.validation.y == 0).sum() == 67_343
    assert s.validation.y.sum() == (s.validation.y == 0).sum()  # as many KDDTrain+ attacks
    assert "mscan" not in set(s.validation.attack)  # a KDDTest+-only attack: never in validation


def test_unsw_seeded_split(data_root):
    a = standard_split("unsw-nb15", seed=0, validation=0.0)
    b = standard_split("unsw-nb15", seed=0, validation=0.0)
    assert len(a.train) == 22_200 and a.train.y.sum() == 0  # 60% of 37,000 normals
    assert len(a.test) == 82_332 - 22_200 and a.test.y.sum() == 45_332
    np.testing.assert_array_equal(a.train.X.to_numpy(), b.train.X.to_numpy())
    c = standard_split("unsw-nb15", seed=1, validation=0.0)
    assert not np.array_equal(a.train.X["sbytes"].to_numpy(), c.train.X["sbytes"].to_numpy())


def test_resolve_data(data_root, tmp_path):
    assert len(resolve_data("nsl-kdd:test")) == 22_544
    assert len(resolve_data("unsw-nb15:train")) == 22_200
    with pytest.raises(DataError, match="no split"):
        resolve_data("nsl-kdd:holdout")
    with pytest.raises(DataError, match="data not found"):
        resolve_data(str(tmp_path / "missing.csv"))
