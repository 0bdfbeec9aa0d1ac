"""End to end: a job whose space is a PCS file (``parameters_file:``), run by the real CLI,
shows that space and its log axes in the API, the charts and the job page."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
import yaml

from tests.server.conftest import TOKEN, RealJob, make_client, start_server
from tests.server.test_browser import browser, page  # noqa: F401  (the Chromium fixtures)

#: The space, with a log-scaled parameter, in SMAC's classic PCS format.
PCS = textwrap.dedent(
    """
    lr real [1e-4, 1.0] [1e-2] log
    n integer [1, 8] [2]
    opt categorical {a, b} [a]
    """
)

#: A trial that prints its loss at once.
TRIAL = "import sys; lr, n = float(sys.argv[1]), int(sys.argv[2]); print('loss=%f' % (lr * n))"


@pytest.fixture(scope="module")
def pcs_job(tmp_path_factory: pytest.TempPathFactory) -> RealJob:
    """Four trials of a job whose job file names its space by ``parameters_file:``."""
    folder = tmp_path_factory.mktemp("pcs")
    (folder / "space.pcs").write_text(PCS)
    job = {
        "name": "pcs",
        "command": [sys.executable, "-c", TRIAL, "${lr}", "${n}", "${opt}"],
        "parameters_file": "space.pcs",
        "objective": {"metric": "loss", "direction": "minimize"},
        "metrics": [{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}],
        "strategy": "random",
        "limits": {"max_trials": 4, "max_parallel": 2},
        "seed": 0,
    }
    (folder / "job.yaml").write_text(yaml.safe_dump(job, sort_keys=False))
    url = f"sqlite:///{folder / 'tuneforge.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "tuneforge", "run", "job.yaml", "--storage", url],
        cwd=folder,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return RealJob("pcs", url, folder)


def test_the_api_and_charts_show_a_pcs_files_space_and_its_log_axes(pcs_job: RealJob) -> None:
    """/api/jobs/pcs lists the PCS parameters (lr log-scaled); lr's charts use log axes."""
    storage = pcs_job.storage()
    try:
        assert storage.get_job("pcs").space is not None  # recorded when the job was created
        client = make_client(storage)
        job = client.get("/api/jobs/pcs").json()
        assert list(job["parameters"]) == ["lr", "n", "opt"]
        assert job["parameters"]["lr"] == {
            "type": "float",
            "low": 1e-4,
            "high": 1.0,
            "log": True,
            "default": 1e-2,
        }
        assert "log" not in job["parameters"]["n"]
        assert job["parameters"]["opt"]["values"] == ["a", "b"]

        slices = client.get("/api/jobs/pcs/charts/slices").json()["figures"]
        axes = {f["layout"]["xaxis"]["title"]["text"]: f["layout"]["xaxis"] for f in slices}
        assert axes["lr"]["type"] == "log"
        assert axes["n"].get("type") != "log"
        parallel = client.get("/api/jobs/pcs/charts/parallel").json()["figures"]
        labels = [d["label"] for d in parallel[0]["data"][0]["dimensions"]]
        assert "log10 lr" in labels and "n" in labels
    finally:
        storage.close()


def test_the_job_page_shows_a_pcs_files_space(
    request: pytest.FixtureRequest, pcs_job: RealJob
) -> None:
    """The job page's search-space table lists the PCS parameters and marks lr as log."""
    from playwright.sync_api import expect

    tab: Any = request.getfixturevalue("page")
    storage = pcs_job.storage()
    server = start_server(storage)
    try:
        tab.goto(f"{server.url}/jobs/pcs?token={TOKEN}")
        rows = tab.locator("#space tbody tr")
        expect(rows).to_have_count(3)
        names = tab.locator("#space tbody tr td:nth-child(1)").all_inner_texts()
        assert names == ["lr", "n", "opt"]
        lr = rows.nth(0)
        expect(lr.locator("td:nth-child(2)")).to_have_text("float")
        expect(lr.locator("td:nth-child(4)")).to_have_text("log")
        expect(rows.nth(2).locator("td:nth-child(3)")).to_have_text("a, b")
    finally:
        server.stop()
        storage.close()
