"""Real Spark (local[2]) scoring a series model per entity: two real SKAB valve runs in one
Parquet table with a ``valve`` column, rows shuffled; ``spark-score --entity-col valve
--time-col timestamp`` gives each row the step score that ``nadkit detect --entity-col`` (the
same :mod:`nadkit.entities` scoring) gives it."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from nadkit.cli import app
from nadkit.data import load_dataset


def test_spark_scores_each_entity_like_detect(spark, data_root, tmp_path):
    from nadkit import artifact
    from nadkit.entities import detect_entities, entity_series, joined
    from nadkit.models import DCVAE
    from nadkit.pipeline import SeriesPipeline

    frames = []
    for name, start in (("valve1/0", "2024-05-01 00:00:00"), ("valve1/1", "2024-05-01 00:03:00")):
        x = load_dataset("skab", name).X.iloc[:700]
        x.insert(0, "timestamp", pd.date_range(start, periods=len(x), freq="1s"))
        x.insert(0, "valve", name)
        frames.append(x)
    table = pd.concat(frames, ignore_index=True)
    train = joined(entity_series(table.groupby("valve").head(400), "valve"), 16)
    det = DCVAE(window=16, cnn_units=(8,) * 3, dilations=(1, 2, 4, 8), step_budget=30, device="cpu", random_state=0)
    artifact.save(SeriesPipeline(det).fit(train), tmp_path / "model")
    table.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "kpis.parquet")  # rows in no order

    res = CliRunner().invoke(app, ["spark-score", str(tmp_path / "model"), str(tmp_path / "kpis.parquet"),
                                   str(tmp_path / "out"), "--entity-col", "valve", "--time-col", "timestamp"])
    assert res.exit_code == 0, res.output
    got = pd.read_parquet(tmp_path / "out").sort_values(["valve", "timestamp"]).reset_index(drop=True)
    want = detect_entities(artifact.load(tmp_path / "model"), entity_series(table, "valve"), "valve", layout="wide")
    assert len(got) == len(want) == 1400 and list(got.columns[:2]) == ["valve", "timestamp"]
    np.testing.assert_allclose(got["score"], want["step_score"], rtol=1e-5, equal_nan=True)
    assert (got["anomaly"].to_numpy() == want["step_flag"].to_numpy()).all()
    assert got.groupby("valve")["score"].apply(lambda s: int(s.isna().sum())).tolist() == [15, 15]
