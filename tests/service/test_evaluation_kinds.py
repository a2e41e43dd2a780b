"""Start-up evaluation: each evaluation dataset is scored by the served models of its kind only
(the labelled table by table models, the series by series models), with real models and data."""

from __future__ import annotations

import logging


def test_each_dataset_only_for_models_of_its_kind(small_iforest, series_model, nsl, caplog):
    from nadkit.data import load_dataset
    from nadkit.service.evaluation import attach, sample_rows
    from nadkit.service.models import load_models

    _, test = nsl
    table = sample_rows(test, 500, seed=0)
    series = load_dataset("skab", "valve1/0")
    models = load_models({"iforest": small_iforest, "dcvae": series_model})
    with caplog.at_level(logging.INFO, logger="nadkit.service"):
        attach(models, table, series, series_steps=300)
    scored = [r.getMessage() for r in caplog.records if r.getMessage().startswith("scoring")]
    assert scored == [f"scoring 500 evaluation rows of {table.name} with iforest",
                      f"scoring {series.name} for the series page with dcvae"]
    assert models["iforest"].evaluation is not None and models["iforest"].series_view is None
    assert models["dcvae"].series_view is not None and models["dcvae"].evaluation is None
    assert models["iforest"].evaluation.report["n"] == 500


def test_dataset_without_a_model_of_its_kind_is_left(series_model, nsl, caplog):
    """Only a series model served: the (even unlabelled) table is not scored nor checked."""
    from nadkit.service.evaluation import attach, sample_rows
    from nadkit.service.models import load_models

    _, test = nsl
    unlabelled = sample_rows(test, 200, seed=0)
    unlabelled.y = None
    models = load_models({"dcvae": series_model})
    with caplog.at_level(logging.INFO, logger="nadkit.service"):
        attach(models, unlabelled, None)
    messages = [r.getMessage() for r in caplog.records]
    assert any("evaluation data for table models and none is served" in m for m in messages), messages
    assert not any(m.startswith("scoring") for m in messages)
    assert models["dcvae"].evaluation is None
