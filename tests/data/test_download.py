"""The download path, against a real HTTP server on loopback serving a file made here."""

import hashlib
import http.server
import threading
from functools import partial

import pytest

from nadkit.data.download import RemoteFile, data_dir, ensure, fetch
from nadkit.errors import DatasetNotFoundError


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "flows.csv.gz").write_bytes(b"not really gzip but bytes are bytes\n" * 100)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def test_fetch_verifies_checksum(server, tmp_path):
    url, root = server
    body = (root / "flows.csv.gz").read_bytes()
    dest = tmp_path / "data" / "x" / "flows.csv.gz"
    fetch(f"{url}/flows.csv.gz", dest, hashlib.sha256(body).hexdigest())
    assert dest.read_bytes() == body


def test_fetch_rejects_wrong_checksum_and_leaves_nothing(server, tmp_path):
    url, _ = server
    dest = tmp_path / "data" / "flows.csv.gz"
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        fetch(f"{url}/flows.csv.gz", dest, "0" * 64)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_ensure_downloads_once_then_uses_local_copy(server, tmp_path):
    url, root = server
    body = (root / "flows.csv.gz").read_bytes()
    f = RemoteFile(("demo/flows.csv.gz",), f"{url}/flows.csv.gz", hashlib.sha256(body).hexdigest())
    first = ensure(f, tmp_path)
    (root / "flows.csv.gz").unlink()  # the server no longer has it: the local copy is used
    assert ensure(f, tmp_path) == first


def test_missing_file_without_source_names_where_to_put_it(tmp_path):
    f = RemoteFile(("unsw/x.csv",), None, None, "https://example.org/form")
    with pytest.raises(DatasetNotFoundError, match="NADKIT_DATA"):
        ensure(f, tmp_path)


def test_http_error_is_reported(server, tmp_path):
    url, _ = server
    with pytest.raises(DatasetNotFoundError, match="failed"):
        fetch(f"{url}/missing.gz", tmp_path / "m.gz", None)


def test_data_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NADKIT_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("NADKIT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "nadkit"


def test_loader_downloads_real_file_from_mirror(tmp_path, monkeypatch, data_root):
    """The real NSL-KDD loader on an empty data directory fetches KDDTest+ from a mirror on
    loopback (serving a copy made for the test), checks its SHA-256 and parses it."""
    import shutil

    from nadkit.data import load_dataset

    www = tmp_path / "www" / "nsl_kdd"
    www.mkdir(parents=True)
    shutil.copy(data_root / "nsl_kdd" / "KDDTest+.txt.gz", www / "KDDTest+.txt.gz")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        empty = tmp_path / "data"
        monkeypatch.setenv("NADKIT_MIRROR", f"http://127.0.0.1:{httpd.server_address[1]}")
        test = load_dataset("nsl-kdd", "test", root=empty)
        assert len(test) == 22_544
        assert (empty / "nsl_kdd" / "KDDTest+.txt.gz").is_file()
        with pytest.raises(DatasetNotFoundError, match="failed"):  # not on the mirror
            load_dataset("nsl-kdd", "test21", root=empty)
    finally:
        httpd.shutdown()
