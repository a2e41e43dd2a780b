"""Flow exports as they come: CICFlowMeter CSV, Zeek logs, nfdump CSV, Argus and nfstream tables.

A file handed to ``nadkit train/detect/evaluate`` is recognised from its first lines
(:func:`detect_format`) and read natively (:func:`iter_export`), batch by batch, with the same
stateless clean-up at training and at scoring time:

* **identifiers are not features**: flow ids, addresses, source ports, timestamps, row ids,
  uids, MACs, AS numbers and exporter ids stay in the table (``detect --key-cols`` copies
  them to the output) but the model never sees them; label columns are never features either;
* **destination ports are categories**: ports below 1024 and common service ports (1433, 3306,
  3389, 8080, …) keep their number, the rest become ``registered`` (1024–49151) or
  ``ephemeral`` (49152–65535), ``none`` when missing; protocols, TCP flags, Zeek
  ``conn_state``/``service``/``history`` are categories;
* **CICFlowMeter rates**: ``Infinity`` in ``Flow Bytes/s``/``Flow Packets/s`` (a flow shorter
  than the 1 µs clock) becomes the rate over 1 µs (the flow's bytes or packets × 10⁶), ``NaN``
  (0 bytes over 0 µs) becomes 0; ±inf in any other column becomes that batch's finite maximum
  (minimum); a repeated header row is dropped; a duplicated column (``Fwd Header Length.1``)
  is dropped;
* **Zeek**: an unset (``-``) or absent numeric field is 0 (``duration``, ``orig_bytes`` … are
  unset when nothing was exchanged), an unset category is the value ``unset``, ``(empty)`` is
  ``empty``; set/vector fields (``tunnel_parents``) are not features; ``#`` lines (``#close``,
  the header of a concatenated log) are skipped;
* **nfdump**: the ``Summary`` footer of ``nfdump -o csv`` is dropped.

Any other column that looks like an identifier (its name: ``*id``, ``*ip``, ``*addr``, ``*mac``,
``ts``/``time``/``timestamp``; or strings more than 50 % unique over at least 20 rows) is left
out too. Every choice is printed in one notice line; ``--use-cols`` forces columns back in,
``--drop-cols`` leaves more out.

>>> import pandas as pd
>>> port_category(pd.Series([80, 443, 3389, 5000, 51234, None])).tolist()
['80', '443', '3389', '5000', 'ephemeral', 'none']
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nadkit.errors import DataError

BATCH_ROWS = 65_536

#: registered ports (≥ 1024) that name a service and keep their own category
SERVICE_PORTS = frozenset({
    1080, 1194, 1433, 1434, 1521, 1723, 1883, 1900, 2049, 2375, 2376, 3128, 3268, 3306, 3389, 3478,
    4444, 4500, 5000, 5060, 5061, 5222, 5353, 5355, 5432, 5601, 5672, 5900, 5985, 5986, 6379, 6443,
    6667, 8000, 8008, 8080, 8081, 8088, 8443, 8883, 8888, 9000, 9090, 9092, 9200, 9418, 11211, 27017,
})
PORT_BUCKETS = ("registered", "ephemeral", "none")

#: label-like columns: never features (pass --label-col to use one as the label)
LABEL_KEYS = frozenset({"label", "labels", "attack", "attackcat", "attackcategory", "attemptedcategory",
                        "class", "detailedlabel", "category", "malicious", "isattack", "tag"})


def column_key(name: str) -> str:
    """Column name → comparison key: lower case, letters and digits only.

    >>> column_key(" Src IP"), column_key("id.orig_h")
    ('srcip', 'idorigh')
    """
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def find_column(columns: Iterable[str], candidates: Iterable[str]) -> str | None:
    """The first of ``columns`` whose :func:`column_key` is one of ``candidates`` (keys, in
    order of preference), or None.

    >>> find_column(["Timestamp", " Src IP"], ("srcip", "sourceip"))
    ' Src IP'
    """
    by_key: dict[str, str] = {}
    for c in columns:
        by_key.setdefault(column_key(c), c)
    return next((by_key[k] for k in candidates if k in by_key), None)


@dataclass(frozen=True)
class FlowFormat:
    """A flow export layout: which columns are identifiers, categories and destination ports."""

    name: str
    title: str
    identifiers: frozenset[str]
    categorical: frozenset[str]
    ports: frozenset[str]
    time: tuple[str, ...] = ()
    time_unit: str | None = None
    extra: dict = field(default_factory=dict)

    def role(self, column: str) -> str | None:
        k = column_key(column)
        if k in self.ports:
            return "port"
        if k in self.identifiers:
            return "identifier"
        if k in self.categorical:
            return "categorical"
        return None


def _keys(*names: str) -> frozenset[str]:
    return frozenset(column_key(n) for n in names)


FORMATS: dict[str, FlowFormat] = {f.name: f for f in (
    FlowFormat("cicflowmeter", "CICFlowMeter CSV",
               _keys("Flow ID", "Src IP", "Source IP", "Dst IP", "Destination IP", "Src Port",
                     "Source Port", "Timestamp", "id", "Unnamed: 0"),
               _keys("Protocol"), _keys("Dst Port", "Destination Port"), time=("timestamp",)),
    FlowFormat("zeek", "Zeek log (TSV)",
               _keys("uid", "fuid", "id.orig_h", "id.resp_h", "id.orig_p", "ts", "tunnel_parents",
                     "trans_id"),
               _keys("proto", "service", "conn_state", "history", "local_orig", "local_resp"),
               _keys("id.resp_p"), time=("ts",), time_unit="s"),
    FlowFormat("zeek-json", "Zeek log (JSON lines)",
               _keys("uid", "fuid", "id.orig_h", "id.resp_h", "id.orig_p", "ts", "tunnel_parents",
                     "trans_id"),
               _keys("proto", "service", "conn_state", "history", "local_orig", "local_resp"),
               _keys("id.resp_p"), time=("ts",), time_unit="s"),
    FlowFormat("nfdump", "nfdump CSV (nfdump -o csv)",
               _keys("ts", "te", "tr", "sa", "da", "sp", "nh", "nhb", "ra", "sas", "das", "ismc",
                     "odmc", "idmc", "osmc", "eng", "exid"),
               _keys("pr", "flg", "fwd", "stos", "dtos", "dir", "in", "out", "svln", "dvln",
                     *(f"mpls{i}" for i in range(1, 11))),
               _keys("dp"), time=("ts",)),
    FlowFormat("argus", "Argus binetflow",
               _keys("StartTime", "SrcAddr", "DstAddr", "Sport"),
               _keys("Proto", "Dir", "State", "sTos", "dTos"), _keys("Dport"), time=("starttime",)),
    FlowFormat("nfstream", "nfstream flows",
               _keys("id", "expiration_id", "src_ip", "src_mac", "src_oui", "dst_ip", "dst_mac",
                     "dst_oui", "src_port", "vlan_id", "tunnel_id", "bidirectional_first_seen_ms",
                     "bidirectional_last_seen_ms", "src2dst_first_seen_ms", "src2dst_last_seen_ms",
                     "dst2src_first_seen_ms", "dst2src_last_seen_ms", "requested_server_name",
                     "client_fingerprint", "server_fingerprint", "user_agent", "content_type"),
               _keys("protocol", "ip_version", "application_name", "application_category_name",
                     "application_is_guessed", "application_confidence"),
               _keys("dst_port"), time=("bidirectionalfirstseenms",), time_unit="ms"),
)}

# Zeek types → roles (TSV logs carry them in #types)
_ZEEK_NUMERIC = {"count", "int", "double", "interval"}
_ZEEK_CATEGORY = {"string", "enum", "bool"}
# conn.log fields by type, for JSON logs (which carry no types)
_ZEEK_CONN_NUMERIC = _keys("duration", "orig_bytes", "resp_bytes", "missed_bytes", "orig_pkts",
                           "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "ip_proto")

# CICFlowMeter names (2017, 2021 and CICFlowMeter-V4 / CSE-CIC-IDS2018 spellings)
_CIC_RATES = {
    "bytes": (_keys("Flow Bytes/s", "Flow Byts/s"),
              _keys("Total Length of Fwd Packets", "Total Length of Fwd Packet", "TotLen Fwd Pkts",
                    "Fwd Packets Length Total"),
              _keys("Total Length of Bwd Packets", "Total Length of Bwd Packet", "TotLen Bwd Pkts",
                    "Bwd Packets Length Total")),
    "packets": (_keys("Flow Packets/s", "Flow Pkts/s"),
                _keys("Total Fwd Packets", "Total Fwd Packet", "Tot Fwd Pkts"),
                _keys("Total Backward Packets", "Total Bwd packets", "Total Bwd Packets", "Tot Bwd Pkts")),
}

_ID_TOKENS = {"ip", "ipaddr", "addr", "address", "mac", "uid", "uuid", "guid", "id", "ipv4", "ipv6"}
_TIME_KEYS = _keys("ts", "te", "time", "timestamp", "datetime", "date", "starttime", "endtime",
                   "stime", "ltime", "firstseen", "lastseen", "unnamed0", "index")


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def looks_like_identifier(name: str) -> bool:
    """True for names such as ``Flow ID``, ``src_ip``, ``SrcAddr``, ``uid``, ``ts``, ``Timestamp``.

    >>> [looks_like_identifier(c) for c in ("Flow ID", "src_ip", "orig_ip_bytes", "ts", "duration")]
    [True, True, False, True, False]
    """
    tokens = _tokens(name)
    if not tokens:
        return False
    k = column_key(name)
    return (tokens[-1] in _ID_TOKENS or k in _TIME_KEYS or k.endswith(("addr", "timestamp"))
            or k.startswith("unnamed"))


# ------------------------------------------------------------------------------ detection
def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="")


def _head_lines(path: Path, n: int = 5) -> list[str]:
    lines = []
    try:
        with _open_text(path) as f:
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\r\n"))
                if len(lines) >= n:
                    break
    except (OSError, EOFError):
        return []
    return lines


def _is_parquet(path: Path) -> bool:
    return path.is_dir() or path.name.lower().endswith((".parquet", ".pq"))


def _csv_header(line: str) -> list[str]:
    counts = {sep: line.count(sep) for sep in (",", ";", "\t")}
    sep = max(counts, key=lambda k: counts[k])
    return [c.strip() for c in next(csv.reader([line], delimiter=sep))]


def format_of_columns(columns: Iterable[str]) -> str | None:
    """The export format a header names, or None for a table of unknown layout."""
    keys = {column_key(c) for c in columns}
    if "flowduration" in keys and keys & {"dstport", "destinationport"}:
        return "cicflowmeter"
    if {"ts", "te", "td", "sa", "da", "sp", "dp", "pr"} <= keys:
        return "nfdump"
    if {"starttime", "srcaddr", "dstaddr", "sport", "dport", "proto"} <= keys:
        return "argus"
    if {"srcip", "dstip", "srcport", "dstport", "protocol", "bidirectionalpackets"} <= keys:
        return "nfstream"
    if {"uid", "idorigh", "idresph"} <= keys:
        return "zeek-json"  # a Zeek log converted to CSV/Parquet: same columns and roles
    return None


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """Recognise a flow export from its first lines (Parquet: its column names)."""
    from nadkit.io import check_input_file

    path = Path(path)
    if not path.exists():
        return None
    check_input_file(path, allow_dir=True)  # never open a FIFO or device to sniff it
    if _is_parquet(path):
        import pyarrow.parquet as pq

        try:
            files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
            return format_of_columns(pq.read_schema(files[0]).names) if files else None
        except (OSError, ValueError, IndexError):
            return None
    lines = _head_lines(path)
    if not lines:
        return None
    first = lines[0].lstrip("\ufeff")
    if first.startswith("#separator"):
        return "zeek"
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            return None
        return "zeek-json" if isinstance(obj, dict) and ({"uid", "id.orig_h"} & set(obj) or
                                                          {"ts", "proto"} <= set(obj)) else None
    return format_of_columns(_csv_header(first))


# ------------------------------------------------------------------------------ cleaning
def port_category(values: pd.Series | np.ndarray) -> np.ndarray:
    """Destination ports → categories: well-known (< 1024) and service ports keep their
    number, others ``registered``/``ephemeral``, missing ``none`` (idempotent)."""
    s = pd.Series(values).reset_index(drop=True)
    p = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    valid = np.isfinite(p) & (p >= 0) & (p <= 65535)
    q = np.where(valid, p, -1).astype(np.int64)
    own = valid & ((q < 1024) | np.isin(q, list(SERVICE_PORTS)))
    out = np.full(len(s), "none", dtype=object)
    out[own] = q[own].astype(str)
    out[valid & ~own & (q < 49152)] = "registered"
    out[valid & ~own & (q >= 49152)] = "ephemeral"
    text = s.astype(str).str.strip().to_numpy()
    already = ~valid & np.isin(text, PORT_BUCKETS)
    out[already] = text[already]
    return out


def _as_category(s: pd.Series, unset: str = "unset") -> pd.Series:
    """A column as category strings: integral numbers without ``.0``, missing → ``unset``."""
    if pd.api.types.is_bool_dtype(s):
        return s.map({True: "T", False: "F"}).fillna(unset).astype(object)
    if pd.api.types.is_numeric_dtype(s):
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        integral = np.isfinite(v) & (v == np.round(v))
        text = np.where(integral, np.where(integral, v, 0).astype(np.int64).astype(str), v.astype(str))
        return pd.Series(np.where(np.isnan(v), unset, text), index=s.index, dtype=object)
    text = s.astype(object).where(s.notna(), unset).astype(str).str.strip()
    num = pd.to_numeric(text, errors="coerce")
    integral = num.notna() & (num == num.round())
    text = text.where(~integral, num.where(integral, 0).astype(np.int64).astype(str))
    return text.replace({"": unset, "-": unset, "(empty)": "empty", "True": "T", "False": "F",
                         "true": "T", "false": "F"}).astype(object)


@dataclass
class ReadReport:
    """What the reader changed, counted over the batches read."""

    format: str | None = None
    header_rows: int = 0
    footer_rows: int = 0
    duplicate_columns: list[str] = field(default_factory=list)
    infinite: dict[str, int] = field(default_factory=dict)
    nan_rates: dict[str, int] = field(default_factory=dict)
    unset_numeric: dict[str, int] = field(default_factory=dict)
    set_columns: list[str] = field(default_factory=list)
    zeek_types: dict[str, str] = field(default_factory=dict)

    def _add(self, d: dict[str, int], col: str, n: int) -> None:
        if n:
            d[col] = d.get(col, 0) + int(n)

    def describe(self) -> str:
        parts = []
        if self.infinite:
            parts.append(f"{sum(self.infinite.values()):,} infinite values ({_cols(self.infinite)}) "
                         "set to the 1 µs rate (rates) or the finite max")
        if self.nan_rates:
            parts.append(f"{sum(self.nan_rates.values()):,} NaN rates (0 bytes in 0 µs) set to 0")
        if self.unset_numeric:
            parts.append(f"{sum(self.unset_numeric.values()):,} unset numeric fields "
                         f"({_cols(self.unset_numeric)}) set to 0")
        if self.header_rows:
            parts.append(f"{self.header_rows} repeated header row(s) dropped")
        if self.footer_rows:
            parts.append(f"{self.footer_rows}-line summary footer dropped")
        if self.duplicate_columns:
            parts.append(f"duplicate column(s) dropped: {', '.join(self.duplicate_columns)}")
        return "; ".join(parts)


def _cols(d: dict[str, int], n: int = 3) -> str:
    names = list(d)
    return ", ".join(names[:n]) + (" …" if len(names) > n else "")


def _strip_columns(df: pd.DataFrame, report: ReadReport) -> pd.DataFrame:
    names = [str(c).strip() for c in df.columns]
    keep, seen = [], set()
    for i, c in enumerate(names):
        base = c[:-2] if re.fullmatch(r".+\.\d", c) else None
        if c in seen or (base is not None and base in seen):
            if c not in report.duplicate_columns:
                report.duplicate_columns.append(c)
            continue
        seen.add(c)
        keep.append(i)
    df = df.iloc[:, keep]
    df.columns = [names[i] for i in keep]
    return df


def _drop_header_rows(df: pd.DataFrame, report: ReadReport) -> pd.DataFrame:
    """Rows repeating the header (concatenated exports): most of their cells equal the name."""
    obj = [c for c in df.columns if _is_text(df[c])]
    if not obj or len(df.columns) < 2:
        return df
    hits = np.zeros(len(df), np.int64)
    for c in obj:
        hits += (df[c].astype(str).str.strip() == c).to_numpy()
    bad = hits * 2 > len(df.columns)
    if bad.any():
        report.header_rows += int(bad.sum())
        df = df.loc[~bad]
    return df


def _fix_cic_rates(df: pd.DataFrame, report: ReadReport) -> None:
    keys = {column_key(c): c for c in df.columns}
    for rate_keys, fwd_keys, bwd_keys in _CIC_RATES.values():
        rate = next((keys[k] for k in rate_keys if k in keys), None)
        if rate is None:
            continue
        v = df[rate].to_numpy(dtype=np.float64, na_value=np.nan)
        inf, nan = np.isinf(v), np.isnan(v)
        fwd = next((keys[k] for k in fwd_keys if k in keys), None)
        bwd = next((keys[k] for k in bwd_keys if k in keys), None)
        if inf.any() and fwd is not None and bwd is not None:
            total = df[fwd].to_numpy(dtype=np.float64, na_value=0) + df[bwd].to_numpy(dtype=np.float64, na_value=0)
            v = np.where(inf, total * 1e6, v)
            report._add(report.infinite, rate, int(inf.sum()))
        if nan.any():
            v = np.where(nan, 0.0, v)
            report._add(report.nan_rates, rate, int(nan.sum()))
        df[rate] = v


def _finite(df: pd.DataFrame, cols: list[str], report: ReadReport) -> None:
    """±inf → the column's finite max (min) in this batch (0 when it has none)."""
    for c in cols:
        v = df[c].to_numpy(dtype=np.float64, na_value=np.nan)
        inf = np.isinf(v)
        if inf.any():
            fin = v[np.isfinite(v)]
            hi, lo = (fin.max(), fin.min()) if fin.size else (0.0, 0.0)
            df[c] = np.where(v > 0, np.where(inf, hi, v), np.where(inf, lo, v))
            report._add(report.infinite, c, int(inf.sum()))


def clean_batch(df: pd.DataFrame, fmt: str | None, report: ReadReport) -> pd.DataFrame:
    """Apply a format's stateless clean-up to one batch (see the module docs)."""
    df = _strip_columns(df, report)
    df = _drop_header_rows(df, report).reset_index(drop=True)
    spec = FORMATS.get(fmt) if fmt else None
    if spec is None:
        return df
    zeek = fmt in ("zeek", "zeek-json")
    out: dict[str, pd.Series] = {}
    numeric: list[str] = []
    for c in df.columns:
        s = df[c]
        role = spec.role(c)
        ztype = report.zeek_types.get(c, "")
        if zeek and (ztype.startswith(("set", "vector")) or (_is_text(s) and s.map(
                lambda v: isinstance(v, list)).any())):
            if c not in report.set_columns:
                report.set_columns.append(c)
            out[c] = s.map(lambda v: ",".join(map(str, v)) if isinstance(v, list) else v)
            continue
        if role == "identifier" or column_key(c) in LABEL_KEYS:
            out[c] = s
        elif role == "port":
            raw = s
            if fmt == "argus":

                raw = pd.Series(parse_port(s))
            out[c] = pd.Series(port_category(raw), index=s.index)
        elif role == "categorical" or (zeek and ztype in _ZEEK_CATEGORY) or (
                zeek and not ztype and column_key(c) not in _ZEEK_CONN_NUMERIC and not _numeric_like(s)):
            out[c] = _as_category(s)
        elif zeek and (ztype in _ZEEK_NUMERIC or column_key(c) in _ZEEK_CONN_NUMERIC or _numeric_like(s)):
            text = s.astype(object)
            unset = text.isna() | text.isin(["-", "", "(empty)"])
            v = pd.to_numeric(text.where(~unset, 0), errors="coerce")
            report._add(report.unset_numeric, c, int(unset.sum()))
            out[c] = v
            numeric.append(c)
        elif _numeric_like(s):
            out[c] = s if pd.api.types.is_numeric_dtype(s) else pd.to_numeric(s, errors="coerce")
            numeric.append(c)
        else:
            out[c] = s
    df = pd.DataFrame(out)
    if fmt == "cicflowmeter":
        _fix_cic_rates(df, report)
    _finite(df, numeric, report)
    return df


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s)


def _numeric_like(s: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(s):
        return False
    if pd.api.types.is_numeric_dtype(s):
        return True
    text = s.dropna().astype(str).str.strip()
    text = text[~text.isin(["-", "", "(empty)", "Infinity", "-Infinity", "inf", "-inf", "NaN", "nan"])]
    return len(text) > 0 and pd.to_numeric(text, errors="coerce").notna().all()


# ------------------------------------------------------------------------------ reading
def _zeek_header(path: Path) -> dict:
    head = {"sep": "\t", "fields": None, "types": None, "lines": 0}
    with _open_text(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            head["lines"] += 1
            line = line.rstrip("\r\n")
            if line.startswith("#separator"):
                raw = line[len("#separator"):].strip()
                head["sep"] = raw.encode().decode("unicode_escape") if raw else "\t"
            elif line.startswith("#fields"):
                head["fields"] = line.split(head["sep"])[1:]
            elif line.startswith("#types"):
                head["types"] = line.split(head["sep"])[1:]
    if not head["fields"]:
        raise DataError(f"{path}: a Zeek log without a #fields line")
    return head


def _split_spaced(df: pd.DataFrame) -> pd.DataFrame:
    """IoT-23 style logs: the last '#fields' entry holds space-separated names (``tunnel_parents
    label detailed-label``) and the rows space-separated values: split them."""
    for c in [c for c in df.columns if re.search(r"\s", c)]:
        names = c.split()
        parts = df[c].astype(str).str.strip().str.split(r"\s+", n=len(names) - 1, expand=True, regex=True)
        parts = parts.reindex(columns=range(len(names)))
        parts.columns = names
        df = pd.concat([df.drop(columns=[c]), parts], axis=1)
    return df


def _zeek_batches(path: Path, batch_rows: int, report: ReadReport) -> Iterator[pd.DataFrame]:
    head = _zeek_header(path)
    fields, sep = head["fields"], head["sep"]
    if head["types"]:
        report.zeek_types.update(dict(zip(fields, head["types"], strict=False)))
        for name, t in zip(fields, head["types"], strict=False):
            if re.search(r"\s", name):
                report.zeek_types.update(dict.fromkeys(name.split(), t))

    def parse(lines: list[str]) -> pd.DataFrame:
        try:
            df = pd.read_csv(io.StringIO("".join(lines)), sep=sep, names=fields, header=None, dtype=str,
                             keep_default_na=False, na_filter=False, quoting=csv.QUOTE_NONE, engine="c")
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataError(f"cannot read Zeek log {path}: {str(exc).strip().splitlines()[0]}") from exc
        return _split_spaced(df)

    lines: list[str] = []
    with _open_text(path) as f:
        for line in f:
            if line.startswith("#"):
                if line.startswith("#fields") and line.rstrip("\r\n").split(sep)[1:] != fields:
                    raise DataError(f"{path}: concatenates Zeek logs with different #fields")
                if line.startswith("#fields"):
                    report.header_rows += 1
                continue
            if not line.strip():
                continue
            lines.append(line)
            if len(lines) >= batch_rows:
                yield parse(lines)
                lines = []
    if lines:
        yield parse(lines)
    report.header_rows -= 1 if report.header_rows else 0  # the first header is not a repeat


def _json_batches(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    lines: list[dict] = []
    with _open_text(path) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {i} is not JSON ({exc.msg})") from exc
            if len(lines) >= batch_rows:
                yield pd.DataFrame.from_records(lines)
                lines = []
    if lines:
        yield pd.DataFrame.from_records(lines)


def _csv_batches(path: Path, fmt: str | None, batch_rows: int, report: ReadReport) -> Iterator[pd.DataFrame]:
    from nadkit.io import _sniff_separator

    try:
        reader = pd.read_csv(path, sep=_sniff_separator(path), encoding="utf-8-sig", chunksize=batch_rows,
                             low_memory=False, skipinitialspace=True)
        for df in reader:
            if fmt == "nfdump":
                first = df.iloc[:, 0].astype(str).str.strip()
                footer = first.str.startswith("Summary").to_numpy()
                if footer.any():
                    at = int(np.argmax(footer))
                    report.footer_rows += len(df) - at
                    df = df.iloc[:at]
                    if len(df):
                        yield df
                    return
            yield df
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"file has no data: {path}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {str(exc).strip().splitlines()[0]}") from exc


def iter_export(path: str | os.PathLike[str], fmt: str | None = None, batch_rows: int = BATCH_ROWS,
                report: ReadReport | None = None) -> Iterator[pd.DataFrame]:
    """Stream a flow export as cleaned DataFrames (every column; see the module docs)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt is not None and fmt not in FORMATS:
        raise DataError(f"unknown flow export format {fmt!r}; known: {', '.join(FORMATS)}")
    report = report if report is not None else ReadReport()
    report.format = fmt
    if fmt == "zeek":
        raw = _zeek_batches(path, batch_rows, report)
    elif fmt == "zeek-json" and not _is_parquet(path) and not path.name.lower().endswith((".csv", ".csv.gz")):
        raw = _json_batches(path, batch_rows)
    elif _is_parquet(path):
        from nadkit.io import iter_table_batches

        raw = iter_table_batches(path, batch_rows)
    else:
        raw = _csv_batches(path, fmt, batch_rows, report)
    rows = 0
    for df in raw:
        df = clean_batch(df, fmt, report)
        if len(df):
            rows += len(df)
            yield df
    if rows == 0:
        raise DataError(f"no flow records in {path}")


def read_export(path: str | os.PathLike[str], fmt: str | None = None) -> tuple[pd.DataFrame, ReadReport]:
    """The whole export as one cleaned DataFrame, and what the clean-up changed."""
    report = ReadReport()
    frames = list(iter_export(path, fmt, report=report))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0], report


# ------------------------------------------------------------------------------ column plan
@dataclass
class ColumnPlan:
    """Which columns of an export are features, categories, identifiers, labels."""

    features: list[str]
    categorical: list[str]
    identifiers: list[str]
    labels: list[str]
    near_unique: list[str]

    def notice(self, name: str, fmt: str | None, report: ReadReport | None = None) -> str:
        title = FORMATS[fmt].title if fmt in FORMATS else "table"
        parts = [f"{name}: read as {title}"]
        excluded = [*self.identifiers, *self.near_unique]
        if excluded:
            parts.append("not features (identifiers): " + ", ".join(excluded))
        if self.labels:
            parts.append("label columns not features: " + ", ".join(self.labels))
        if self.categorical and fmt is not None:
            parts.append("categories: " + ", ".join(self.categorical))
        extra = report.describe() if report is not None else ""
        if extra:
            parts.append(extra)
        if excluded:
            parts.append("override with --use-cols / --drop-cols")
        return "; ".join(parts)


def plan_columns(df: pd.DataFrame, fmt: str | None, used: Iterable[str] = (),
                 use_cols: Iterable[str] = (), report: ReadReport | None = None,
                 min_rows: int = 20, unique_frac: float = 0.5) -> ColumnPlan:
    """Split ``df``'s columns (minus ``used``: label/time columns already taken) into features
    and excluded identifiers by the format's roles and the ID-like rules."""
    spec = FORMATS.get(fmt) if fmt else None
    forced = set(use_cols)
    unknown = sorted(forced - set(df.columns))
    if unknown:
        raise DataError(f"--use-cols not in the data: {unknown}")
    used = set(used)
    sets = set(report.set_columns) if report is not None else set()
    ztypes = report.zeek_types if report is not None else {}
    features, cats, ids, labels, unique = [], [], [], [], []
    for c in df.columns:
        if c in used:
            continue
        role = spec.role(c) if spec is not None else None
        s = df[c]
        if c not in forced:
            if column_key(c) in LABEL_KEYS:
                labels.append(c)
                continue
            ztype = ztypes.get(c, "")
            if role == "identifier" or c in sets or (role is None and (
                    looks_like_identifier(c) or ztype in ("addr", "subnet", "time", "port"))):
                ids.append(c)
                continue
            if role is None and _is_text(s):
                n = int(s.notna().sum())
                if n >= min_rows and s.nunique(dropna=True) > unique_frac * n:
                    unique.append(c)
                    continue
        features.append(c)
        if role in ("port", "categorical") or not pd.api.types.is_numeric_dtype(s):
            cats.append(c)
    return ColumnPlan(features, cats, ids, labels, unique)


def export_time(df: pd.DataFrame, fmt: str | None) -> np.ndarray | None:
    """Timestamps of the records from the format's time column, when it has one."""
    spec = FORMATS.get(fmt) if fmt else None
    if spec is None:
        return None
    col = next((c for c in df.columns if column_key(c) in spec.time), None)
    if col is None:
        return None
    s = df[col]
    try:
        if spec.time_unit and pd.api.types.is_numeric_dtype(pd.to_numeric(s, errors="coerce")):
            return pd.to_datetime(pd.to_numeric(s, errors="coerce"), unit=spec.time_unit, errors="coerce").to_numpy()
        return pd.to_datetime(s, errors="coerce", dayfirst=fmt == "cicflowmeter", format="mixed").to_numpy()
    except (ValueError, TypeError, OverflowError):
        return None


def parse_port(values: pd.Series) -> np.ndarray:
    """Ports as integers: decimal or hex ('0x0303') strings; missing → -1."""
    s = values.astype(str).str.strip()
    hexa = s.str.lower().str.startswith("0x")
    out = pd.to_numeric(s.where(~hexa), errors="coerce")
    out[hexa] = s[hexa].map(lambda v: int(v, 16))
    return out.fillna(-1).to_numpy(dtype=np.float64)


# ------------------------------------------------------------------------------ pcap → flows
def pcap_to_flows(path: str | os.PathLike[str], idle_timeout: int = 120, active_timeout: int = 1800,
                  statistics: bool = True, dissections: int = 20, meters: int | None = None) -> pd.DataFrame:
    """Bidirectional flows of a pcap/pcapng file through nfstream (``pip install nadkit[flows]``):
    one row per flow with addresses, ports, protocol, packet/byte counts, durations and
    (``statistics``) packet size and inter-arrival statistics and TCP flag counts;
    ``dissections`` > 0 adds nDPI's application names. ``meters``: metering processes (0:
    nfstream's choice; default 1 for captures under 100 MB, where starting more costs more)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"capture not found: {path}")
    try:
        from nfstream import NFStreamer
    except ImportError as exc:
        raise DataError("reading pcaps needs nfstream: pip install 'nadkit[flows]'") from exc
    try:
        streamer = NFStreamer(source=str(path), idle_timeout=idle_timeout, active_timeout=active_timeout,
                              statistical_analysis=statistics, n_dissections=dissections,
                              n_meters=(1 if path.stat().st_size < 100 << 20 else 0) if meters is None else meters)
        df = streamer.to_pandas()
    except (ValueError, OSError, TypeError) as exc:
        raise DataError(f"cannot read capture {path}: {str(exc).strip().splitlines()[0]}") from exc
    if df is None or len(df) == 0:
        raise DataError(f"no IP flows in {path}")
    return df.reset_index(drop=True)
