"""`tuneforge serve` as a real process: it prints its address and token, and serves the API."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server.conftest import RealJob


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_prints_a_generated_token_and_serves_the_storage(
    finished_job: RealJob, tmp_path: Path
) -> None:
    """Without --token a token is generated and printed; reads work, actions need it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TUNEFORGE_TOKEN"}
    log = (tmp_path / "serve.out").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "tuneforge", "serve", "--port", str(port)],
        env={**env, "TUNEFORGE_STORAGE": finished_job.url, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while True:
            try:
                jobs = httpx.get(f"{base}/api/jobs", timeout=2).json()
                break
            except httpx.TransportError:
                assert process.poll() is None, (tmp_path / "serve.out").read_text()
                assert time.time() < deadline, "tuneforge serve did not answer in 30 s"
                time.sleep(0.2)
        assert [job["name"] for job in jobs] == ["finished"]
        printed = (tmp_path / "serve.out").read_text()
        match = re.search(rf"http://127\.0\.0\.1:{port}/\?token=(\S+)", printed)
        assert match, printed
        token = match.group(1)
        stop = f"{base}/api/jobs/finished/stop"
        assert httpx.post(stop, timeout=5).status_code == 401
        answer = httpx.post(stop, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert answer.status_code == 409  # authorised; the job has ended
        assert httpx.get(f"{base}/jobs/finished", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
