"""Flow exports as they come: small seeded files written in each real layout (CICFlowMeter 2017
and 2021, Zeek conn.log TSV and JSON, nfdump CSV, a pcap), read natively and run through the
real CLI; identifiers are never features (scores do not move when they are shuffled)."""

from __future__ import annotations

import json
import socket
import struct

import numpy as np
import pandas as pd
import pytest

from nadkit.data.exports import detect_format, port_category, read_export
from nadkit.data.loaders import load_table

from ..inprocess import run_nadkit


def nadkit(*args):
    """The CLI in this process (no process isolation is under test here); stderr collapsed."""
    return run_nadkit(*args)


def flows(n: int = 400, seed: int = 0, attack_frac: float = 0.15) -> pd.DataFrame:
    """Behaviour of ``n`` flows: normal web/DNS traffic and a DoS-like attack from a few hosts
    (the attackers' addresses are telling, so a model that used them would be caught)."""
    rng = np.random.default_rng(seed)
    attack = rng.random(n) < attack_frac
    udp = ~attack & (rng.random(n) < 0.3)
    dur = np.where(attack, rng.integers(0, 3, n), rng.lognormal(11, 1.5, n).astype(np.int64))
    dur[rng.random(n) < 0.05] = 0  # zero-duration flows: CICFlowMeter writes Infinity rates
    fwd = np.where(attack, rng.integers(1, 3, n), rng.integers(2, 40, n))
    bwd = np.where(attack, 0, rng.integers(1, 40, n))
    fwd_b = fwd * np.where(attack, 0, rng.integers(40, 600, n))
    bwd_b = bwd * rng.integers(60, 1400, n)
    dport = np.where(udp, 53, rng.choice([80, 443, 8080, 22], n, p=[0.4, 0.5, 0.05, 0.05]))
    dport = np.where(attack, 80, dport)
    src = np.where(attack, rng.choice(["172.16.0.1", "172.16.0.9"], n),
                   [f"192.168.10.{i}" for i in rng.integers(2, 60, n)])
    t0 = pd.Timestamp("2017-07-05 09:00:00")
    ts = t0 + pd.to_timedelta(np.sort(rng.integers(0, 7200, n)), unit="s")
    return pd.DataFrame({
        "src": src, "dst": np.where(udp, "192.168.10.3", "192.168.10.50"),
        "sport": rng.integers(32768, 61000, n), "dport": dport, "proto": np.where(udp, 17, 6),
        "ts": ts, "dur": dur, "fwd": fwd, "bwd": bwd, "fwd_b": fwd_b, "bwd_b": bwd_b,
        "label": np.where(attack, "DoS Hulk", "BENIGN"),
    })


def _rates(f: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    sec = f["dur"].to_numpy() / 1e6
    with np.errstate(divide="ignore", invalid="ignore"):
        return (f["fwd_b"] + f["bwd_b"]).to_numpy() / sec, (f["fwd"] + f["bwd"]).to_numpy() / sec


def write_cic(path, f: pd.DataFrame, layout: str = "2017", repeat_header: bool = False) -> None:
    """CICFlowMeter CSV: the 2017 GeneratedLabelledFlows layout (leading spaces, duplicated
    ``Fwd Header Length``, ``Infinity``/``NaN`` rates) or the corrected 2021 layout."""
    byts, pkts = _rates(f)
    flow_id = [f"{d}-{s}-{dp}-{sp}-{p}" for s, d, sp, dp, p in
               zip(f.src, f.dst, f.sport, f.dport, f.proto, strict=True)]
    stamp = f["ts"].dt.strftime("%d/%m/%Y %I:%M:%S %p" if layout == "2021" else "%-d/%-m/%Y %-H:%M")
    iat = np.where(f["fwd"] + f["bwd"] > 1, f["dur"] / (f["fwd"] + f["bwd"] - 1).clip(lower=1), 0)
    if layout == "2017":
        cols = {"Flow ID": flow_id, " Source IP": f.src, " Source Port": f.sport, " Destination IP": f.dst,
                " Destination Port": f.dport, " Protocol": f.proto, " Timestamp": stamp,
                " Flow Duration": f.dur, " Total Fwd Packets": f.fwd, " Total Backward Packets": f.bwd,
                "Total Length of Fwd Packets": f.fwd_b, " Total Length of Bwd Packets": f.bwd_b,
                "Flow Bytes/s": byts, " Flow Packets/s": pkts, " Flow IAT Mean": iat,
                " Fwd Header Length": f.fwd * 20, " Bwd Header Length": f.bwd * 20,
                " Fwd Header Length.1": f.fwd * 20, " Label": f.label}
    else:
        cols = {"id": np.arange(len(f)) + 1000, "Flow ID": flow_id, "Src IP": f.src, "Src Port": f.sport,
                "Dst IP": f.dst, "Dst Port": f.dport, "Protocol": f.proto, "Timestamp": stamp,
                "Flow Duration": f.dur, "Total Fwd Packet": f.fwd, "Total Bwd packets": f.bwd,
                "Total Length of Fwd Packet": f.fwd_b, "Total Length of Bwd Packet": f.bwd_b,
                "Flow Bytes/s": byts, "Flow Packets/s": pkts, "Flow IAT Mean": iat,
                "Fwd Header Length": f.fwd * 20, "Bwd Header Length": f.bwd * 20, "Label": f.label,
                "Attempted Category": np.where(f.label == "BENIGN", -1, 0)}
    df = pd.DataFrame(cols)
    text = df.to_csv(index=False, na_rep="NaN").replace(",inf,", ",Infinity,")
    if layout == "2017":  # the real files repeat the name: pandas would add the ".1"
        text = text.replace(" Fwd Header Length.1", " Fwd Header Length", 1)
    if repeat_header:
        lines = text.splitlines(keepends=True)
        text = "".join([*lines[: len(lines) // 2], lines[0], *lines[len(lines) // 2:]])
    path.write_text(text)


ZEEK_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
               "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
               "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
               "tunnel_parents", "label"]
ZEEK_TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
              "count", "string", "bool", "bool", "count", "string", "count", "count", "count", "count",
              "set[string]", "string"]


def zeek_records(f: pd.DataFrame) -> pd.DataFrame:
    """conn.log records; attack flows are unanswered (S0: duration/bytes unset)."""
    rng = np.random.default_rng(1)
    s0 = (f.label != "BENIGN").to_numpy()
    udp = (f.proto == 17).to_numpy()
    return pd.DataFrame({
        "ts": f.ts.astype("int64") / 1e9 + rng.random(len(f)), "uid": [f"C{rng.integers(1 << 40):x}" for _ in f.ts],
        "id.orig_h": f.src, "id.orig_p": f.sport, "id.resp_h": f.dst, "id.resp_p": f.dport,
        "proto": np.where(udp, "udp", "tcp"), "service": np.where(udp, "dns", np.where(s0, None, "http")),
        "duration": np.where(s0, np.nan, f.dur / 1e6), "orig_bytes": np.where(s0, np.nan, f.fwd_b),
        "resp_bytes": np.where(s0, np.nan, f.bwd_b), "conn_state": np.where(s0, "S0", "SF"),
        "local_orig": True, "local_resp": True, "missed_bytes": 0,
        "history": np.where(s0, "S", np.where(udp, "Dd", "ShADadFf")), "orig_pkts": f.fwd,
        "orig_ip_bytes": f.fwd_b + 40 * f.fwd, "resp_pkts": f.bwd, "resp_ip_bytes": f.bwd_b + 40 * f.bwd,
        "tunnel_parents": None, "label": np.where(s0, "Malicious", "Benign"),
    })


def write_zeek_tsv(path, rec: pd.DataFrame, concat: bool = False) -> None:
    def cell(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "-"
        if isinstance(v, bool | np.bool_):
            return "T" if v else "F"
        return f"{v:.6f}" if isinstance(v, float) else str(v)

    head = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
            "#path\tconn", "#open\t2017-07-05-09-00-00", "#fields\t" + "\t".join(ZEEK_FIELDS),
            "#types\t" + "\t".join(ZEEK_TYPES)]
    rows = ["\t".join("(empty)" if c == "tunnel_parents" else cell(v) for c, v in zip(ZEEK_FIELDS, r, strict=True))
            for r in rec[ZEEK_FIELDS].itertuples(index=False)]
    half = len(rows) // 2
    body = [*head, *rows[:half]] + ([*head] if concat else []) + [*rows[half:], "#close\t2017-07-05-11-00-00"]
    path.write_text("\n".join(body) + "\n")


def write_zeek_json(path, rec: pd.DataFrame) -> None:
    lines = []
    for r in rec.to_dict("records"):
        obj = {k: v for k, v in r.items() if v is not None and not (isinstance(v, float) and np.isnan(v))}
        obj["tunnel_parents"] = []
        lines.append(json.dumps({k: (v.item() if hasattr(v, "item") else v) for k, v in obj.items()}))
    path.write_text("\n".join(lines) + "\n")


NFDUMP_COLS = ["ts", "te", "td", "sa", "da", "sp", "dp", "pr", "flg", "fwd", "stos", "ipkt", "ibyt", "opkt", "obyt", "in", "out", "sas", "das", "smk", "dmk", "dtos", "dir", "nh", "nhb", "svln", "dvln", "ismc", "odmc", "idmc", "osmc", "mpls1", "mpls2", "mpls3", "mpls4", "mpls5", "mpls6", "mpls7", "mpls8", "mpls9", "mpls10", "cl", "sl", "al", "ra", "eng", "exid", "tr"]


def write_nfdump(path, f: pd.DataFrame) -> None:
    """``nfdump -o csv`` output, with its Summary footer."""
    n = len(f)
    start = f.ts
    end = start + pd.to_timedelta(f.dur, unit="us")
    attack = (f.label != "BENIGN").to_numpy()
    df = pd.DataFrame({
        "ts": start.dt.strftime("%Y-%m-%d %H:%M:%S"), "te": end.dt.strftime("%Y-%m-%d %H:%M:%S"),
        "td": f.dur / 1e6, "sa": f.src, "da": f.dst, "sp": f.sport, "dp": f.dport,
        "pr": np.where(f.proto == 17, "UDP", "TCP"),
        "flg": np.where(f.proto == 17, "........", np.where(attack, "......S.", "...AP.SF")), "fwd": 0,
        "stos": 0, "ipkt": f.fwd, "ibyt": f.fwd_b + 40 * f.fwd, "opkt": 0, "obyt": 0, "in": 1, "out": 2,
        "sas": 0, "das": 0, "smk": 24, "dmk": 24, "dtos": 0, "dir": 0, "nh": "0.0.0.0", "nhb": "0.0.0.0",
        "svln": 0, "dvln": 0, "ismc": "00:00:00:00:00:00", "odmc": "00:00:00:00:00:00",
        "idmc": "00:00:00:00:00:00", "osmc": "00:00:00:00:00:00",
        **{f"mpls{i}": "0-0-0" for i in range(1, 11)}, "cl": 0.0, "sl": 0.0, "al": 0.0,
        "ra": "10.0.0.254", "eng": "0/0", "exid": 1, "tr": end.dt.strftime("%Y-%m-%d %H:%M:%S.000"),
    })[NFDUMP_COLS]
    footer = (f"Summary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n{n},{int(df.ibyt.sum())},"
              f"{int(df.ipkt.sum())},0,0,0\n")
    path.write_text(df.to_csv(index=False) + footer)


# --------------------------------------------------------------------------------- reading
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exports")
    train, test = flows(400, seed=0, attack_frac=0.0), flows(300, seed=1)
    out = {}
    for split, f in (("train", train), ("test", test)):
        write_cic(tmp / f"cic2017_{split}.csv", f, "2017", repeat_header=split == "train")
        write_cic(tmp / f"cic2021_{split}.csv", f, "2021")
        rec = zeek_records(f)
        write_zeek_tsv(tmp / f"conn_{split}.log", rec, concat=split == "train")
        write_zeek_json(tmp / f"conn_{split}.json", rec)
        write_nfdump(tmp / f"nfdump_{split}.csv", f)
        out[split] = f
    out["dir"] = tmp
    return out


def test_formats_detected(files):
    tmp = files["dir"]
    assert [detect_format(tmp / n) for n in ("cic2017_test.csv", "cic2021_test.csv", "conn_test.log",
                                             "conn_test.json", "nfdump_test.csv")] == \
        ["cicflowmeter", "cicflowmeter", "zeek", "zeek-json", "nfdump"]
    plain = tmp / "plain.csv"
    pd.DataFrame({"bytes": [1, 2], "proto": ["tcp", "udp"]}).to_csv(plain, index=False)
    assert detect_format(plain) is None


def test_port_buckets():
    cats = port_category(pd.Series([0, 22, 443, 1433, 8080, 1025, 49151, 49152, 65535, -3, None, "ephemeral"]))
    assert cats.tolist() == ["0", "22", "443", "1433", "8080", "registered", "registered", "ephemeral",
                             "ephemeral", "none", "none", "ephemeral"]


@pytest.mark.parametrize("layout", ["2017", "2021"])
def test_cicflowmeter_as_exported(files, layout):
    path = files["dir"] / f"cic{layout}_test.csv"
    data = load_table(path, label_col="Label")
    f = files["test"]
    ids = {"Flow ID", "Source IP", "Source Port", "Destination IP", "Timestamp", "Src IP", "Src Port",
           "Dst IP", "id", "Attempted Category"}
    assert not ids & set(data.X.columns)
    notice = data.meta["notice"]
    for c in (["Flow ID", "Source IP", "Source Port", "Destination IP", "Timestamp"] if layout == "2017"
              else ["id", "Flow ID", "Src IP", "Src Port", "Dst IP", "Timestamp"]):
        assert c in notice
    port = "Destination Port" if layout == "2017" else "Dst Port"
    assert set(data.meta["categorical"]) == {port, "Protocol"}
    assert set(data.X[port]) == {"53", "80", "443", "8080", "22"} and set(data.X["Protocol"]) == {"6", "17"}
    # Infinity (0 µs, some bytes) → the rate over 1 µs; NaN (nothing in 0 µs) → 0; never a category
    rate = data.X["Flow Bytes/s"].to_numpy()
    zero = (f.dur == 0).to_numpy()
    assert zero.any() and np.isfinite(rate).all() and data.X["Flow Bytes/s"].dtype == np.float64
    np.testing.assert_allclose(rate[zero], (f.fwd_b + f.bwd_b).to_numpy()[zero] * 1e6)
    assert "infinite values" in notice and "1 µs" in notice
    assert data.y.sum() == (f.label != "BENIGN").sum() and data.time is not None
    assert not pd.isna(data.time).any()
    if layout == "2017":
        assert "Fwd Header Length.1" not in data.X.columns and "duplicate column" in notice


def test_repeated_header_row_dropped(files):
    data = load_table(files["dir"] / "cic2017_train.csv", label_col="Label")
    assert len(data) == len(files["train"]) and "1 repeated header row(s) dropped" in data.meta["notice"]
    assert data.X["Flow Duration"].dtype.kind in "if"


@pytest.mark.parametrize("name", ["conn_test.log", "conn_test.json"])
def test_zeek_conn_log(files, name):
    data = load_table(files["dir"] / name, label_col="label")
    X = data.X
    assert not {"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "tunnel_parents"} & set(X.columns)
    assert {"proto", "service", "conn_state", "history", "id.resp_p"} <= set(data.meta["categorical"])
    s0 = (files["test"].label != "BENIGN").to_numpy()
    # unset numeric fields ('-' in TSV, absent in JSON) are 0, never a category
    for c in ("duration", "orig_bytes", "resp_bytes"):
        assert X[c].dtype == np.float64 and (X[c].to_numpy()[s0] == 0).all()
    assert X["service"].to_numpy()[s0 & (files["test"].proto == 6).to_numpy()].tolist()[0] == "unset"
    assert set(X["local_orig"]) == {"T"}
    assert "unset numeric fields" in data.meta["notice"] and "tunnel_parents" in data.meta["notice"]
    assert len(data) == len(files["test"]) and data.time is not None


def test_zeek_concatenated_log(files):
    df, report = read_export(files["dir"] / "conn_train.log")
    assert len(df) == len(files["train"]) and report.header_rows == 1


def test_nfdump_csv(files):
    data = load_table(files["dir"] / "nfdump_test.csv")
    assert len(data) == len(files["test"])  # the Summary footer is gone
    assert not {"ts", "te", "tr", "sa", "da", "sp", "ra", "nh", "ismc"} & set(data.X.columns)
    assert {"dp", "pr", "flg"} <= set(data.meta["categorical"]) and set(data.X["pr"]) == {"TCP", "UDP"}
    assert "footer dropped" in data.meta["notice"]


def test_argus_binetflow(tmp_path):
    """A plain .binetflow (no CTU-13 label): hex ports parsed, addresses and source port out."""
    text = ("StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes\n"
            + "".join(f"2011/08/10 09:46:{i % 60:02d}.5,{i * 0.1:.3f},{'udp' if i % 3 else 'tcp'},147.32.84.{i % 7},"
                      f"{40000 + i},<->,147.32.80.9,{'0x0303' if i % 5 == 0 else 53},CON,0,0,{i + 2},{100 * i + 60},{60 * i}\n"
                      for i in range(60)))
    (tmp_path / "x.binetflow").write_text(text)
    assert detect_format(tmp_path / "x.binetflow") == "argus"
    data = load_table(tmp_path / "x.binetflow")
    assert not {"StartTime", "SrcAddr", "DstAddr", "Sport"} & set(data.X.columns)
    assert set(data.X["Dport"]) == {"53", "771"} and {"Proto", "Dir", "State", "Dport"} <= set(data.meta["categorical"])


def test_bad_exports_clean_errors(tmp_path, files):
    from nadkit.errors import DataError

    log = (files["dir"] / "conn_test.log").read_text().splitlines(keepends=True)
    other = [ln.replace("\tlabel", "\tnote") if ln.startswith("#fields") else ln for ln in log]
    (tmp_path / "mixed.log").write_text("".join([*log, *other]))
    with pytest.raises(DataError, match="different #fields"):
        load_table(tmp_path / "mixed.log")
    (tmp_path / "empty.csv").write_text(",".join(NFDUMP_COLS) + "\nSummary\nflows,bytes,packets,avg_bps,avg_pps,avg_bpp\n0,0,0,0,0,0\n")
    with pytest.raises(DataError, match="no flow records"):
        load_table(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="--use-cols not in the data"):
        load_table(files["dir"] / "nfdump_test.csv", use_cols=["nope"])


def test_generic_table_id_like_columns(tmp_path):
    rng = np.random.default_rng(0)
    n = 100
    df = pd.DataFrame({"session_id": np.arange(n), "client_ip": rng.choice(["10.0.0.1", "10.0.0.2"], n),
                       "cookie": [f"k{i}" for i in range(n)], "bytes": rng.integers(1, 1000, n),
                       "orig_ip_bytes": rng.integers(1, 1000, n), "proto": rng.choice(["tcp", "udp"], n)})
    df.to_csv(tmp_path / "t.csv", index=False)
    data = load_table(tmp_path / "t.csv")
    assert list(data.X.columns) == ["bytes", "orig_ip_bytes", "proto"]
    assert "session_id, client_ip, cookie" in data.meta["notice"]
    kept = load_table(tmp_path / "t.csv", use_cols=["client_ip"])
    assert "client_ip" in kept.X.columns


# ------------------------------------------------------------------------------------- CLI
@pytest.mark.parametrize("name,label", [("cic2021", "Label"), ("conn", "label"), ("conn_json", "label"),
                                        ("nfdump", None)])
def test_train_detect_cli(files, tmp_path, name, label):
    tmp = files["dir"]
    ext = {"conn": ".log", "conn_json": ".json"}.get(name, ".csv")
    stem = "conn" if name == "conn_json" else name
    train, test = tmp / f"{stem}_train{ext}", tmp / f"{stem}_test{ext}"
    res = nadkit("train", train, *(["--label-col", label] if label else []), "--model", "iforest",
                 "-o", tmp_path / "m", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("notice:") == 1 and "not features (identifiers)" in res.stderr, res.stderr
    keep = {"cic2021": "Src IP", "nfdump": "sa"}.get(name, "id.orig_h")
    res = nadkit("detect", tmp_path / "m", test, "-o", tmp_path / "s.csv", "--keep-cols", keep)
    assert res.returncode == 0, res.stderr
    out = pd.read_csv(tmp_path / "s.csv")
    assert len(out) == len(files["test"]) and out.columns[0] == keep
    assert out[keep].tolist() == files["test"]["src"].tolist()
    y = (files["test"].label != "BENIGN").to_numpy()
    from nadkit.metrics import binary_report

    assert binary_report(y, out["score"].to_numpy())["auroc"] > 0.9


def test_scores_invariant_to_identifiers(files, tmp_path):
    """Trained on a CICFlowMeter export as it comes, the scores do not move when flow ids,
    addresses, source ports, timestamps and row ids are shuffled across the test rows."""
    tmp = files["dir"]
    res = nadkit("train", tmp / "cic2021_train.csv", "--label-col", "Label", "--model", "ae",
                 "-p", "epochs=5", "-o", tmp_path / "m", "--no-progress")
    assert res.returncode == 0, res.stderr
    test = tmp / "cic2021_test.csv"
    df = pd.read_csv(test, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(7)
    for c in ("Flow ID", "Src IP", "Dst IP", "Src Port", "Timestamp", "id"):
        df[c] = df[c].to_numpy()[rng.permutation(len(df))]
    shuffled = tmp_path / "shuffled.csv"
    df.to_csv(shuffled, index=False)
    assert detect_format(shuffled) == "cicflowmeter"
    for src, dst in ((test, "a.csv"), (shuffled, "b.csv")):
        res = nadkit("detect", tmp_path / "m", src, "-o", tmp_path / dst, "--no-contributions")
        assert res.returncode == 0, res.stderr
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    np.testing.assert_array_equal(a["score"].to_numpy(), b["score"].to_numpy())
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert not {"Flow ID", "Src IP", "Dst IP", "Src Port", "Timestamp", "id"} & set(manifest["schema"]["columns"])


def test_train_use_cols_override(files, tmp_path):
    res = nadkit("train", files["dir"] / "nfdump_train.csv", "--model", "iforest", "--use-cols", "sa",
                 "-o", tmp_path / "m", "--no-progress")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert "sa" in manifest["schema"]["columns"] and "sp" not in manifest["schema"]["columns"]


# ------------------------------------------------------------------------------------ pcap
def _ip(src, dst, proto, payload):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    words = struct.unpack("!10H", hdr)
    s = sum(words)
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return hdr[:10] + struct.pack("!H", ~s & 0xFFFF) + hdr[12:] + payload


def write_pcap(path) -> int:
    """A few TCP (SYN, SYN-ACK, data, FIN) and UDP exchanges between two hosts; returns the
    number of bidirectional flows in it."""
    eth = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00"
    a, b = "10.0.0.1", "10.0.0.2"
    packets, t = [], 1_700_000_000.0
    for i in range(5):
        sp = 40000 + i
        for dt, (s, d, seg) in enumerate([
                (a, b, struct.pack("!HHIIBBHHH", sp, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)),
                (b, a, struct.pack("!HHIIBBHHH", 80, sp, 100, 2, 0x50, 0x12, 65535, 0, 0)),
                (a, b, struct.pack("!HHIIBBHHH", sp, 80, 2, 101, 0x50, 0x18, 65535, 0, 0) + b"GET / HTTP/1.1\r\n\r\n"),
                (b, a, struct.pack("!HHIIBBHHH", 80, sp, 101, 20, 0x50, 0x11, 65535, 0, 0))]):
            packets.append((t + dt / 1000, eth + _ip(s, d, 6, seg)))
        packets.append((t + 0.01, eth + _ip(a, b, 17, struct.pack("!HHHH", 50000 + i, 53, 30, 0) + b"\0" * 22)))
        t += 1
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, pkt in packets:
            f.write(struct.pack("<IIII", int(ts), round(ts % 1 * 1e6), len(pkt), len(pkt)) + pkt)
    return 10


def test_flows_from_pcap(tmp_path):
    pytest.importorskip("nfstream", reason="the 'flows' extra (nfstream) is not installed")
    n = write_pcap(tmp_path / "cap.pcap")
    res = nadkit("flows", tmp_path / "cap.pcap", "-o", tmp_path / "flows.parquet")
    assert res.returncode == 0, res.stderr
    df = pd.read_parquet(tmp_path / "flows.parquet")
    assert len(df) == n and set(df["dst_port"]) == {80, 53} and set(df["protocol"]) == {6, 17}
    assert (df.loc[df.protocol == 6, "bidirectional_packets"] == 4).all()
    assert detect_format(tmp_path / "flows.parquet") == "nfstream"
    data = load_table(tmp_path / "flows.parquet")
    assert not {"src_ip", "dst_ip", "src_port", "id", "src_mac"} & set(data.X.columns)
    assert "dst_port" in data.meta["categorical"]
    res = nadkit("flows", tmp_path / "missing.pcap", "-o", tmp_path / "x.parquet")
    assert res.returncode == 2 and "error:" in res.stderr and "Traceback" not in res.stderr
