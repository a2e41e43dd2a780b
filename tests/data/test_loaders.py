"""Loaders on the real files in NADKIT_DATA, and on small files in the CIC-IDS2017 / CTU-13
layouts made here (those datasets are not in the shared folder)."""

import numpy as np
import pandas as pd
import pytest

from nadkit.data import get_dataset, load_dataset, load_table
from nadkit.data.loaders import read_cic_ids2017, read_ctu13
from nadkit.errors import DataError


def test_nsl_kdd_counts(nsl):
    train, test = nsl
    assert len(train) == 125_973 and train.X.shape[1] == 41
    assert int((train.y == 0).sum()) == 67_343
    assert len(test) == 22_544 and int((test.y == 0).sum()) == 9_711
    assert set(np.unique(train.attack[train.y == 0])) == {"normal"}
    assert (test.attack == "mscan").sum() == 996  # test-only attack types are attacks


def test_kddcup99_counts(data_root):
    test = load_dataset("kddcup99", "test")
    assert len(test) == 311_029
    assert int((test.y == 0).sum()) == 60_593
    assert (test.attack == "snmpgetattack").sum() == 7_741  # labelled attack, not normal
    assert not any(a.endswith(".") for a in np.unique(test.attack))


def test_unsw_nb15_bom_safe(data_root):
    d = load_dataset("unsw-nb15", "all")
    assert len(d) == 82_332 and int((d.y == 0).sum()) == 37_000
    assert "id" not in d.X.columns and "label" not in d.X.columns
    assert d.X.columns[0] == "dur"
    assert d.summary()["classes"]["Generic"] == 18_871


def test_unknown_split_and_dataset():
    with pytest.raises(DataError, match="no split"):
        load_dataset("nsl-kdd", "validation")
    with pytest.raises(DataError, match="unknown dataset"):
        get_dataset("darpa98")


def _cic_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        " Destination Port": rng.integers(1, 65535, n),
        " Flow Duration": rng.integers(1, 10**6, n),
        "Flow Bytes/s": rng.random(n) * 1e4,
        " Fwd Header Length": rng.integers(20, 400, n),
    })


def test_cic_ids2017_original_layout(tmp_path):
    df = _cic_frame(50, 0)
    df[" Fwd Header Length.1"] = df[" Fwd Header Length"]  # the duplicated column
    df.loc[3, "Flow Bytes/s"] = np.inf
    df.loc[4, "Flow Bytes/s"] = np.nan
    df[" Label"] = ["BENIGN"] * 40 + ["DDoS"] * 5 + ["PortScan"] * 5
    # the real files repeat the header name: write it that way
    p = tmp_path / "Friday-WorkingHours.pcap_ISCX.csv"
    text = df.to_csv(index=False).replace(" Fwd Header Length.1", " Fwd Header Length")
    p.write_text(text)
    d = read_cic_ids2017([p])
    assert list(d.X.columns) == ["Destination Port", "Flow Duration", "Flow Bytes/s", "Fwd Header Length"]
    assert len(d) == 48 and d.meta["dropped_nonfinite"] == 2
    assert int(d.y.sum()) == 10 and set(d.attack[d.y == 1]) == {"DDoS", "PortScan"}
    assert np.isfinite(d.X.to_numpy(dtype=float)).all()


def test_cic_ids2017_corrected_2021_layout(tmp_path):
    df = _cic_frame(30, 1)
    df.insert(0, "id", range(30))
    df.insert(1, "Src IP", "10.0.0.1")
    df.insert(2, "Timestamp", "2017-07-07 11:59:50.315195")
    df["Label"] = ["BENIGN"] * 20 + ["DoS Hulk"] * 6 + ["DoS Hulk - Attempted"] * 4
    df["Attempted Category"] = [-1] * 26 + [3] * 4
    p = tmp_path / "friday.csv"
    df.to_csv(p, index=False)
    benign = read_cic_ids2017([p])
    assert int(benign.y.sum()) == 6 and benign.meta["attempted_rows"] == 4
    assert benign.time is not None and str(benign.time[0]).startswith("2017-07-07")
    assert "Src IP" not in benign.X.columns and "id" not in benign.X.columns
    assert int(read_cic_ids2017([p], attempted="attack").y.sum()) == 10
    assert len(read_cic_ids2017([p], attempted="drop")) == 26


def test_ctu13_binetflow(tmp_path):
    p = tmp_path / "capture20110816.binetflow"
    p.write_text(
        "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,Label\n"
        "2011/08/16 10:01:46.972101,3.1,tcp,147.32.84.165,1025,   ->,1.2.3.4,80,SRPA_SPA,0,0,10,1000,500,flow=From-Botnet-V42-TCP-HTTP\n"
        "2011/08/16 10:01:47.000000,0.0,icmp,147.32.84.1,0x0303,   ->,1.2.3.5,0x0008,ECO,0,,1,60,60,flow=Background\n"
        "2011/08/16 10:01:48.000000,1.0,udp,147.32.84.2,53,  <->,1.2.3.6,53,CON,0,0,2,200,100,flow=From-Normal-V42-UDP-DNS\n"
        "2011/08/16 10:01:49.000000,0.5,arp,147.32.84.3,,   who,1.2.3.7,,INT,,,1,60,60,flow=Background-Established\n"
    )
    d = read_ctu13(p)
    assert d.y.tolist() == [1, 0, 0, 0]
    assert d.attack.tolist() == ["botnet", "background", "normal", "background"]
    assert d.X["Sport"].tolist() == [1025, 0x0303, 53, -1]
    assert d.X["Dport"].tolist() == [80, 8, 53, -1]
    assert "SrcAddr" not in d.X.columns and d.time is not None
    assert read_ctu13(p, background="drop").attack.tolist() == ["botnet", "normal"]


def test_generic_table_with_label_names(tmp_path):
    p = tmp_path / "flows.parquet"
    pd.DataFrame({"bytes": [1.0, 2.0, 3.0], "Label": ["BENIGN", "DoS", "benign"],
                  "ts": ["2024-01-01 00:00", "2024-01-01 00:01", "2024-01-01 00:02"]}).to_parquet(p)
    d = load_table(p, label_col="Label", time_col="ts")
    assert d.y.tolist() == [0, 1, 0] and list(d.X.columns) == ["bytes"]
    assert d.attack.tolist() == ["normal", "DoS", "normal"]


def test_generic_table_errors(tmp_path):
    p = tmp_path / "flows.csv"
    pd.DataFrame({"bytes": [1, 2], "label": [0, 2]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="label column 'y' not found"):
        load_table(p, label_col="y")
    with pytest.raises(DataError, match="must be 0/1"):
        load_table(p, label_col="label")
