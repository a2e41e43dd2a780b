import json

from nadkit.experiments.bench import run_bench


def test_bench_writes_leaderboard_metrics_and_plots(tmp_path, data_root):
    rows = run_bench("nsl-kdd", ["pca", "ae"], tmp_path, params={"ae": {"epochs": 3}},
                     throughput_rows=50_000)
    assert [r["model"] for r in rows] == ["pca", "ae"]
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board["rows"] == rows and "KDDTest+" in board["protocol"]
    for name in ("pca", "ae"):
        m = json.loads((tmp_path / name / "metrics.json").read_text())
        assert {"auroc", "auprc", "f1", "f2", "tpr_at_fpr_0.01", "per_class", "fit_s",
                "score_rows_per_s", "threshold_method", "threshold_set_on"} <= set(m)
        assert m["auroc"] > 0.9
        for png in ("histogram.png", "roc_pr.png", "per_class.png"):
            assert (tmp_path / name / png).stat().st_size > 5000
    assert (tmp_path / "ae" / "training.png").is_file()
    assert json.loads((tmp_path / "ae" / "metrics.json").read_text())["threshold_set_on"] == "held-out training rows"
    assert "| ae |" in (tmp_path / "leaderboard.md").read_text()
    assert (tmp_path / "roc_pr.png").is_file() and (tmp_path / "leaderboard.png").is_file()
