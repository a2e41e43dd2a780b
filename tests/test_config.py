"""Run configuration files: the threshold methods come from the thresholds registry."""

import pytest

from nadkit.config import load_config
from nadkit.errors import DataError
from nadkit.thresholds import make_threshold
from nadkit.thresholds.registry import METHODS


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_registered_threshold_method_is_accepted(tmp_path, method):
    extra = "value = 1.5\n" if method == "fixed" else ""
    (tmp_path / "run.toml").write_text(f'[threshold]\nmethod = "{method}"\n{extra}')
    cfg = load_config(tmp_path / "run.toml").threshold
    assert cfg.method == method
    assert type(make_threshold(cfg.method, **cfg.params())) is METHODS[method]


def test_an_unknown_threshold_method_names_the_choices(tmp_path):
    (tmp_path / "run.toml").write_text('[threshold]\nmethod = "best-f2"\n')
    with pytest.raises(DataError) as exc:
        load_config(tmp_path / "run.toml")
    msg = str(exc.value)
    assert msg == (f"{tmp_path / 'run.toml'}: threshold.method: unknown threshold method 'best-f2'; "
                   f"choose from {', '.join(METHODS)}")
    assert "\n" not in msg and "Value error" not in msg  # one line: the CLI prints it as "error: ..."


def test_defaults_and_other_type_errors_are_unchanged(tmp_path):
    assert load_config(None).threshold.method == "fpr"
    (tmp_path / "run.toml").write_text("[threshold]\nmethod = 3\n")
    with pytest.raises(DataError, match=r"threshold\.method: Input should be a valid string"):
        load_config(tmp_path / "run.toml")
