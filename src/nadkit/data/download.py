"""The data directory and checksummed downloads of dataset files.

Files are looked up under one data directory: ``$NADKIT_DATA`` if set, else
``$XDG_CACHE_HOME/nadkit`` (``~/.cache/nadkit``). A missing file with a known official source
is downloaded there once and its SHA-256 checked before it is used. ``$NADKIT_MIRROR`` (a base
URL, e.g. an internal server holding the same folder layout) replaces the official sources.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nadkit.errors import DatasetNotFoundError
from nadkit.io import atomic_path


def data_dir() -> Path:
    """The directory datasets are read from (and downloaded to): ``NADKIT_DATA``, else
    ``$XDG_CACHE_HOME/nadkit`` (``~/.cache/nadkit``).

    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NADKIT_DATA": "/tmp/nadkit-data"}):
    ...     str(data_dir())
    '/tmp/nadkit-data'
    """
    env = os.environ.get("NADKIT_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "nadkit"


@dataclass(frozen=True)
class RemoteFile:
    """One dataset file: where it lives under the data directory and where to get it.

    ``names`` are the accepted relative paths (e.g. gzipped or plain); the first one is where a
    download is saved. ``url`` is None when the source needs a manual step (a web form); ``sha256``
    is the checksum of what ``url`` serves, ``mirror_sha256`` that of ``names[0]`` (what a mirror
    with the data-directory layout serves).
    """

    names: tuple[str, ...]
    url: str | None
    sha256: str | None
    source: str = ""
    mirror_sha256: str | None = None

    def locate(self, root: Path | None = None) -> Path | None:
        root = data_dir() if root is None else root
        for name in self.names:
            if (root / name).is_file():
                return root / name
        return None


def fetch(url: str, dest: str | os.PathLike[str], sha256: str | None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its SHA-256 when given.

    A mismatch deletes the download and raises, so a corrupt file is never left in place.
    """
    dest = Path(dest)
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, atomic_path(dest) as tmp:
            with open(tmp, "wb") as out:
                while block := resp.read(1 << 20):
                    h.update(block)
                    out.write(block)
            if sha256 is not None and h.hexdigest() != sha256:
                raise DatasetNotFoundError(
                    f"checksum mismatch for {url}: expected sha256 {sha256}, got {h.hexdigest()}"
                )
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        if isinstance(exc, DatasetNotFoundError):
            raise
        raise DatasetNotFoundError(f"download of {url} failed: {exc}") from exc
    return dest


def ensure(file: RemoteFile, root: Path | None = None, download: bool = True) -> Path:
    """Path of ``file`` under the data directory, downloading it when missing and allowed."""
    root = data_dir() if root is None else Path(root)
    found = file.locate(root)
    if found is not None:
        return found
    where = root / file.names[0]
    mirror = os.environ.get("NADKIT_MIRROR")
    if mirror and download:
        return fetch(f"{mirror.rstrip('/')}/{file.names[0]}", where, file.mirror_sha256)
    if file.url is None or not download:
        hint = f" ({file.source})" if file.source else ""
        raise DatasetNotFoundError(
            f"dataset file not found: {where}{hint}; set NADKIT_DATA to the folder that holds it"
        )
    return fetch(file.url, where, file.sha256)
