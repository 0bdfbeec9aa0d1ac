"""Creating and starting jobs from a job file posted to the API (page -> API -> jobs)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml
from fastapi.testclient import TestClient as Client

from tests.server.conftest import TOKEN, auth, job_document, write_scripts
from tuneforge.server import create_app
from tuneforge.storage import JobState, Storage
from tuneforge.trial import TrialState


def wait_for_state(client: Client, name: str, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{name}").json()
        if job["state"] != "running":
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"job {name} still running after {timeout}s")


def test_a_posted_job_file_runs_in_the_server_to_completion(tmp_path: Path) -> None:
    """POST /api/jobs creates the job, runs real trials in the server, and they are stored."""
    write_scripts(tmp_path)
    document = job_document("posted", tmp_path, limits={"max_trials": 4, "max_parallel": 2})
    del document["output_dir"]  # trial folders default to <base_dir>/runs/<name>
    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with Client(create_app(storage, token=TOKEN), base_url="http://127.0.0.1") as client:
        response = client.post(
            "/api/jobs",
            json={"job_file": yaml.safe_dump(document), "base_dir": str(tmp_path)},
            headers=auth(),
        )
        assert response.status_code == 201, response.text
        assert response.json()["name"] == "posted"
        job = wait_for_state(client, "posted")
    assert job["state"] == "completed" and job["n_done"] == 4
    trials = storage.trials("posted")
    assert {t.state for t in trials} == {TrialState.COMPLETED}
    assert trials[0].trial_dir == str(tmp_path / "runs" / "posted" / "trial-0000")


def test_relative_paths_start_at_the_server_base_folder(tmp_path: Path) -> None:
    """Without base_dir, `python trial.py` is found in the server's base folder."""
    write_scripts(tmp_path)
    document = job_document("relative", tmp_path, limits={"max_trials": 1, "max_parallel": 1})
    storage = Storage("sqlite://")
    app = create_app(storage, token=TOKEN, base_dir=tmp_path)
    with Client(app, base_url="http://127.0.0.1") as client:
        response = client.post(
            "/api/jobs", json={"job_file": yaml.safe_dump(document)}, headers=auth()
        )
        assert response.status_code == 201, response.text
        assert wait_for_state(client, "relative")["state"] == "completed"


def test_bad_job_files_are_refused_with_every_problem(tmp_path: Path) -> None:
    """Invalid YAML, invalid fields, a taken name and a missing base folder get 4xx."""
    write_scripts(tmp_path)
    storage = Storage("sqlite://")
    app = create_app(storage, token=TOKEN, base_dir=tmp_path)
    client = Client(app, base_url="http://127.0.0.1")

    def post(text: str, **extra: object) -> tuple[int, str]:
        response = client.post("/api/jobs", json={"job_file": text, **extra}, headers=auth())
        return response.status_code, response.json()["detail"]

    status, detail = post("name: [unclosed")
    assert status == 400 and "line 1" in detail and "invalid YAML" in detail
    status, detail = post("- a list")
    assert status == 400 and "expected a mapping" in detail
    status, detail = post("# nothing\n")
    assert status == 400 and "empty" in detail
    broken = job_document("broken", tmp_path, strategy="nope", limits={"max_trials": 0})
    status, detail = post(yaml.safe_dump(broken))
    assert status == 400 and "2 problems" in detail and "strategy" in detail
    assert "limits.max_trials" in detail
    status, detail = post(yaml.safe_dump(job_document("ok", tmp_path)), base_dir="missing")
    assert status == 400 and "base_dir: folder not found" in detail
    storage.create_job(
        "taken",
        document={},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=1,
        output_dir=None,
    )
    status, detail = post(yaml.safe_dump(job_document("taken", tmp_path)))
    assert status == 409 and "already exists" in detail
    assert storage.list_jobs()[0].name == "taken" and len(storage.list_jobs()) == 1


def test_server_shutdown_stops_the_jobs_it_started(tmp_path: Path) -> None:
    """Jobs run by the server are stopped (not left running) when it shuts down."""
    write_scripts(tmp_path)
    document = job_document(
        "endless",
        tmp_path,
        command=[sys.executable, "slow.py"],
        parameters={"x": {"type": "float", "low": 0.0, "high": 1.0}},
        metrics=[{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}],
        limits={"max_trials": 1, "max_parallel": 1},
    )
    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    app = create_app(storage, token=TOKEN, base_dir=tmp_path, job_stop_timeout=20)
    with Client(app, base_url="http://127.0.0.1") as client:
        posted = client.post(
            "/api/jobs", json={"job_file": yaml.safe_dump(document)}, headers=auth()
        )
        assert posted.status_code == 201, posted.text
        deadline = time.time() + 30
        while storage.count_trials("endless")[TrialState.RUNNING] == 0:
            assert time.time() < deadline, "the trial never started"
            time.sleep(0.1)
    assert storage.get_job("endless").state is JobState.STOPPED
    assert storage.get_trial("endless", 0).state is TrialState.STOPPED
