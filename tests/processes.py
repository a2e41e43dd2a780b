"""A real server in a subprocess for the tests: started in its own session, awaited until a URL
answers 200 (the test fails with the log's tail if it dies or times out), stopped with its
children."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_process(cmd: list[str], ready_url: str, log_path: Path, *, cwd: Path, env: dict[str, str],
                 timeout: float, what: str) -> Iterator[subprocess.Popen]:
    """Run ``cmd`` (output to ``log_path``) until ``ready_url`` answers 200; yield the process;
    SIGTERM its session afterwards (SIGKILL after 30 s)."""
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(ready_url, timeout=2).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start:\n{Path(log_path).read_text()[-3000:]}")
            time.sleep(0.5)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
