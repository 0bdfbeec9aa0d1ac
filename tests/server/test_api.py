"""The JSON API over a real finished job (and a running one): reads, sorting, files, stops."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import RealJob, RunningJob, auth, make_client
from tuneforge.results import sort_frame, trials_frame
from tuneforge.storage import JobState, Storage
from tuneforge.trial import Observation, TrialState


def test_jobs_lists_the_finished_job_with_progress_and_best(
    finished_client: TestClient, finished_job: RealJob
) -> None:
    """GET /api/jobs shows the job's state, progress and best value as storage has them."""
    jobs = finished_client.get("/api/jobs").json()
    assert [j["name"] for j in jobs] == ["finished"]
    job = jobs[0]
    trials = finished_job.storage().trials("finished")
    best = min(trials, key=lambda t: t.value if t.value is not None else math.inf)
    assert job["state"] == "completed" and job["strategy"] == "sobol"
    assert (job["n_done"], job["max_trials"], job["n_trials"]) == (10, 10, 10)
    assert job["counts"]["completed"] == 10
    assert job["best_trial"] == best.number
    assert job["best_value"] == pytest.approx(best.value)
    assert job["duration"] > 0


def test_job_detail_holds_settings_and_the_best_trial(finished_client: TestClient) -> None:
    """GET /api/jobs/{job} gives the space, objective, strategy, limits and best trial."""
    job = finished_client.get("/api/jobs/finished").json()
    assert set(job["parameters"]) == {"x", "lr", "opt"}
    assert job["parameters"]["lr"]["log"] is True
    assert job["limits"] == {"max_trials": 10, "max_parallel": 2}
    assert (job["objective"], job["direction"]) == ("loss", "minimize")
    assert job["best"]["number"] == job["best_trial"]
    assert set(job["best"]["params"]) == {"x", "lr", "opt"}
    assert job["document"]["seed"] == 0


def test_trials_page_has_every_parameter_and_metric_column(finished_client: TestClient) -> None:
    """The default page lists trials in number order with parameter and metric names."""
    page = finished_client.get("/api/jobs/finished/trials").json()
    assert page["total"] == 10
    assert [t["number"] for t in page["trials"]] == list(range(10))
    assert page["params"] == ["lr", "opt", "x"]
    assert page["metrics"] == ["acc", "loss"]
    first = page["trials"][0]
    assert set(first["params"]) == {"lr", "opt", "x"}
    assert first["metrics"]["loss"] == pytest.approx(first["value"])
    assert first["state"] == "completed" and first["duration"] > 0


@pytest.mark.parametrize(
    ("key", "order"),
    [
        ("value", "asc"),
        ("value", "desc"),
        ("params.x", "asc"),
        ("params.lr", "desc"),
        ("params.opt", "asc"),
        ("metrics.acc", "desc"),
        ("duration", "asc"),
        ("number", "desc"),
    ],
)
def test_trials_sort_like_the_results_table(
    finished_client: TestClient, finished_job: RealJob, key: str, order: str
) -> None:
    """Every sort key orders the trials as tuneforge.results.sort_frame does."""
    page = finished_client.get(
        "/api/jobs/finished/trials", params={"sort": key, "order": order}
    ).json()
    frame = sort_frame(trials_frame(finished_job.storage().trials("finished")), key, order)

    def cell(trial: dict[str, object]) -> object:
        if key.startswith("params."):
            return trial["params"][key[7:]]  # type: ignore[index]
        if key.startswith("metrics."):
            return trial["metrics"][key[8:]]  # type: ignore[index]
        return trial[key]

    expected = list(frame[key])
    got = [cell(t) for t in page["trials"]]
    assert got == pytest.approx(expected) if key != "params.opt" else got == expected
    assert page["sort"] == key and page["order"] == order


def test_trials_pages_join_into_the_whole_sorted_table(finished_client: TestClient) -> None:
    """Pages of 3 (offset/limit) put together are the full sorted list, total stays 10."""
    full = finished_client.get("/api/jobs/finished/trials", params={"sort": "value"}).json()
    numbers = []
    for offset in range(0, 12, 3):
        page = finished_client.get(
            "/api/jobs/finished/trials",
            params={"sort": "value", "offset": offset, "limit": 3},
        ).json()
        assert page["total"] == 10 and page["offset"] == offset
        numbers += [t["number"] for t in page["trials"]]
    assert numbers == [t["number"] for t in full["trials"]]


def test_a_bare_parameter_name_sorts_by_that_parameter(finished_client: TestClient) -> None:
    """sort=x means params.x, as on the command line."""
    page = finished_client.get("/api/jobs/finished/trials", params={"sort": "x"}).json()
    assert page["sort"] == "params.x"
    xs = [t["params"]["x"] for t in page["trials"]]
    assert xs == sorted(xs)


def _mixed_storage() -> Storage:
    """A job whose trials are in every state, with NaN and infinite numbers."""
    storage = Storage("sqlite://")
    storage.create_job(
        "mixed",
        document={"parameters": {"a": {"type": "float", "low": 0, "high": 1}}},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=6,
        output_dir=None,
    )
    outcomes = [
        (TrialState.COMPLETED, 0.5),
        (TrialState.COMPLETED, math.inf),
        (TrialState.FAILED, None),
        (TrialState.STOPPED_EARLY, None),
        (TrialState.COMPLETED, 0.25),
    ]
    for number, (state, value) in enumerate(outcomes):
        storage.create_trial("mixed", {"a": number / 10})
        storage.start_trial("mixed", number, trial_dir=None, pid=None, time=100.0 + number)
        storage.add_observations(
            "mixed", number, [Observation("loss", math.nan if number == 3 else 1.0, 0, 101.0)]
        )
        storage.finish_trial(
            "mixed",
            number,
            state=state,
            value=value,
            reason="boom" if state is TrialState.FAILED else None,
            log_tail=None,
            time=102.0 + number,
        )
    storage.create_trial("mixed", {"a": 0.9}, continues=4)  # still pending; continues #4
    return storage


def test_state_filter_and_counts_cover_every_state() -> None:
    """?state= filters (repeated or comma-separated); counts and best ignore non-finite values."""
    client = make_client(_mixed_storage())
    job = client.get("/api/jobs/mixed").json()
    assert job["counts"]["completed"] == 3 and job["counts"]["pending"] == 1
    assert (job["best_trial"], job["best_value"]) == (4, 0.25)
    page = client.get("/api/jobs/mixed/trials", params={"state": "completed"}).json()
    assert [t["number"] for t in page["trials"]] == [0, 1, 4]
    both = client.get("/api/jobs/mixed/trials?state=failed,pending").json()
    assert [t["number"] for t in both["trials"]] == [2, 5]
    repeated = client.get("/api/jobs/mixed/trials?state=failed&state=stopped_early").json()
    assert repeated["states"] == ["failed", "stopped_early"] and repeated["total"] == 2


def test_non_finite_numbers_are_sent_as_null() -> None:
    """An infinite value and a NaN metric come back as JSON null, never as invalid JSON."""
    client = make_client(_mixed_storage())
    response = client.get("/api/jobs/mixed/trials", params={"sort": "value"})
    trials = json.loads(response.text)["trials"]
    by_number = {t["number"]: t for t in trials}
    assert by_number[1]["value"] is None
    assert by_number[3]["metrics"]["loss"] is None
    # Missing values sort last: the infinite value (stored as inf, sent as null) sorts high.
    assert [t["number"] for t in trials][:2] == [4, 0]
    series = client.get("/api/jobs/mixed/trials/3/metrics").json()
    assert series["series"]["loss"][0]["value"] is None


@pytest.mark.parametrize(
    ("method", "url", "status", "words"),
    [
        ("GET", "/api/jobs/nope", 404, "no job named 'nope'"),
        ("GET", "/api/jobs/finished/trials/99", 404, "no trial 99"),
        ("GET", "/api/jobs/finished/trials/-1", 422, "path parameter 'number'"),
        ("GET", "/api/jobs/finished/trials/99999999999999999999", 422, "less than or equal"),
        ("GET", "/api/jobs/finished/trials/abc", 422, "valid integer"),
        ("GET", "/api/jobs/finished/trials?sort=bogus", 400, "unknown key 'bogus'"),
        ("GET", "/api/jobs/finished/trials?sort=params.nope", 400, "params.x"),
        ("GET", "/api/jobs/finished/trials?state=done", 400, "unknown trial state 'done'"),
        ("GET", "/api/jobs/finished/trials?limit=0", 422, "query parameter 'limit'"),
        ("GET", "/api/jobs/finished/trials?limit=5000", 422, "less than or equal to 1000"),
        ("GET", "/api/jobs/finished/trials?offset=-3", 422, "query parameter 'offset'"),
        ("GET", "/api/jobs/finished/trials?order=up", 422, "'asc' or 'desc'"),
        ("GET", "/api/jobs/finished/charts/pie", 422, "'history'"),
        ("GET", "/api/jobs/finished/export?format=xml", 422, "'csv' or 'json'"),
        ("GET", "/api/jobs/finished/trials/0/log?limit=0", 422, "'limit'"),
        ("GET", "/api/jobs/finished/trials/0/files/nothing.bin", 404, "no file 'nothing.bin'"),
        ("POST", "/api/jobs/finished/stop", 409, "is completed, not running"),
        ("POST", "/api/jobs/finished/trials/0/stop", 409, "is completed, not running"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_clear_message(
    finished_client: TestClient, method: str, url: str, status: int, words: str
) -> None:
    """Bad input is answered with its 4xx status and a detail naming what was wrong."""
    response = finished_client.request(method, url, headers=auth())
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"job_file": 3}',
        "{}",
        '{"job_file": ""}',
        "[1, 2]",
    ],
)
def test_malformed_job_posts_get_422(finished_client: TestClient, body: str) -> None:
    """A body that is not the CreateJob shape is a 422 naming the field, never a 500."""
    response = finished_client.post(
        "/api/jobs",
        content=body,
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_trial_detail_has_parameters_metrics_and_timings(finished_client: TestClient) -> None:
    """GET a trial: its parameters, last metrics, state, times, folder and log size."""
    trial = finished_client.get("/api/jobs/finished/trials/2").json()
    assert trial["number"] == 2 and trial["state"] == "completed" and trial["active"] is False
    assert set(trial["metrics"]) == {"loss", "acc"}
    assert trial["finished_at"] > trial["started_at"]
    assert trial["log_size"] > 0 and trial["trial_dir"].endswith("trial-0002")
    assert trial["continues"] is None


def test_a_trial_names_the_trial_it_continues() -> None:
    """A trial that starts from another's checkpoint says which, in the list and alone."""
    client = make_client(_mixed_storage())
    listed = client.get("/api/jobs/mixed/trials").json()
    trials = listed["trials"] if isinstance(listed, dict) else listed
    assert {t["number"]: t["continues"] for t in trials} == {
        0: None, 1: None, 2: None, 3: None, 4: None, 5: 4,
    }  # fmt: skip
    assert client.get("/api/jobs/mixed/trials/5").json()["continues"] == 4


def test_metric_series_has_each_step(finished_client: TestClient) -> None:
    """The series endpoint returns every observation of every metric in step order."""
    series = finished_client.get("/api/jobs/finished/trials/0/metrics").json()["series"]
    loss = series["loss"]
    assert len(loss) == 5
    assert [p["step"] for p in loss] == sorted(p["step"] for p in loss)
    one = finished_client.get("/api/jobs/finished/trials/0/metrics?metric=acc").json()
    assert list(one["series"]) == ["acc"]


def test_log_ranges_read_bytes_from_an_offset_or_from_the_end(finished_client: TestClient) -> None:
    """?offset=&limit= reads a byte range; a negative offset counts back from the end."""
    whole = finished_client.get("/api/jobs/finished/trials/1/log").json()
    assert whole["text"].startswith("step=0 loss=") and whole["next_offset"] == whole["size"]
    head = finished_client.get("/api/jobs/finished/trials/1/log?offset=0&limit=6").json()
    assert head == {**head, "text": "step=0", "offset": 0, "next_offset": 6}
    rest = finished_client.get("/api/jobs/finished/trials/1/log?offset=6").json()
    assert head["text"] + rest["text"] == whole["text"]
    tail = finished_client.get("/api/jobs/finished/trials/1/log?offset=-5").json()
    assert tail["text"] == whole["text"][-5:]
    past = finished_client.get("/api/jobs/finished/trials/1/log?offset=999999").json()
    assert past["text"] == "" and past["offset"] == whole["size"]


def test_files_are_listed_and_downloadable(finished_client: TestClient) -> None:
    """The files endpoint lists the trial folder (subfolders too); each URL downloads it."""
    listing = finished_client.get("/api/jobs/finished/trials/0/files").json()
    paths = [f["path"] for f in listing["files"]]
    assert {"model.txt", "params.json", "trial.log", "sub/notes.txt"} <= set(paths)
    by_path = {f["path"]: f for f in listing["files"]}
    model = finished_client.get(by_path["model.txt"]["url"])
    assert model.status_code == 200 and model.content == b"weights"
    notes = finished_client.get(by_path["sub/notes.txt"]["url"])
    assert notes.content.decode("utf-8") == "café ✓"
    assert by_path["sub/notes.txt"]["size"] == len("café ✓".encode())


def test_export_gives_csv_and_json_of_every_trial(finished_client: TestClient) -> None:
    """Download CSV: one row per trial with parameter and metric columns; JSON too."""
    response = finished_client.get("/api/jobs/finished/export")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 10 and {"params.x", "params.lr", "metrics.acc"} <= set(rows[0])
    records = finished_client.get("/api/jobs/finished/export?format=json").json()
    assert len(records) == 10 and set(records[0]["params"]) == {"x", "lr", "opt"}


def test_archive_zips_every_trial_folder(finished_client: TestClient) -> None:
    """Download archive: a zip of all trial folders with trials.csv and job.json."""
    response = finished_client.get("/api/jobs/finished/archive")
    assert response.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert {"trials.csv", "job.json", "trial-0000/model.txt", "trial-0009/trial.log"} <= set(names)
    best = finished_client.get("/api/jobs/finished/archive?best=true")
    best_names = zipfile.ZipFile(io.BytesIO(best.content)).namelist()
    assert len({n.split("/")[0] for n in best_names if n.startswith("trial-")}) == 1


@pytest.mark.parametrize("chart", ["history", "parallel", "importance", "slices", "curves"])
def test_every_chart_of_a_finished_job_has_figures(finished_client: TestClient, chart: str) -> None:
    """Each chart endpoint returns Plotly figures for a job with 10 completed trials."""
    answer = finished_client.get(f"/api/jobs/finished/charts/{chart}").json()
    assert answer["name"] == chart and answer["figures"], answer["note"]
    for figure in answer["figures"]:
        assert figure["data"] and "layout" in figure
    if chart == "slices":
        assert len(answer["figures"]) == 3
    if chart == "importance":
        assert set(answer["figures"][0]["data"][0]["y"]) == {"x", "lr", "opt"}


def test_charts_of_a_job_without_completed_trials_explain_why_they_are_empty() -> None:
    """No figure, and a note, when nothing has completed (or too little for importance)."""
    storage = Storage("sqlite://")
    storage.create_job(
        "empty",
        document={},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=3,
        output_dir=None,
    )
    client = make_client(storage)
    for chart in ("history", "importance", "curves"):
        answer = client.get(f"/api/jobs/empty/charts/{chart}").json()
        assert answer["figures"] == [] and answer["note"]


def test_openapi_schema_documents_every_endpoint(finished_client: TestClient) -> None:
    """/api/openapi.json describes the jobs, trials, log, files, charts and stop routes."""
    schema = finished_client.get("/api/openapi.json").json()
    paths = set(schema["paths"])
    assert {
        "/api/jobs",
        "/api/jobs/{job}",
        "/api/jobs/{job}/stop",
        "/api/jobs/{job}/trials",
        "/api/jobs/{job}/export",
        "/api/jobs/{job}/archive",
        "/api/jobs/{job}/charts/{chart}",
        "/api/jobs/{job}/trials/{number}",
        "/api/jobs/{job}/trials/{number}/stop",
        "/api/jobs/{job}/trials/{number}/metrics",
        "/api/jobs/{job}/trials/{number}/log",
        "/api/jobs/{job}/trials/{number}/log/stream",
        "/api/jobs/{job}/trials/{number}/files",
        "/api/jobs/{job}/trials/{number}/files/{path}",
    } <= paths
    assert "post" in schema["paths"]["/api/jobs"]
    assert "TrialPageOut" in schema["components"]["schemas"]


def test_stop_job_reaches_a_controller_in_another_process(running_job: RunningJob) -> None:
    """POST /api/jobs/{job}/stop (with the token) stops a job run by `tuneforge run`."""
    storage = running_job.storage()
    client = make_client(storage)
    assert client.post("/api/jobs/live/stop").status_code == 401
    response = client.post("/api/jobs/live/stop", headers=auth())
    assert response.status_code == 200, response.text
    running_job.wait_for(lambda: storage.get_job("live").state is JobState.STOPPED)
    assert storage.get_trial("live", 0).state is TrialState.STOPPED
    assert client.post("/api/jobs/live/stop", headers=auth()).status_code == 409
    assert running_job.process.wait(timeout=20) == 0


def test_stop_trial_ends_only_that_trial(running_job: RunningJob) -> None:
    """POST .../trials/{n}/stop stops the running trial; the job then ends on its own."""
    storage = running_job.storage()
    client = make_client(storage)
    response = client.post("/api/jobs/live/trials/0/stop", headers=auth())
    assert response.status_code == 200 and response.json()["trial"] == 0
    running_job.wait_for(lambda: storage.get_trial("live", 0).state is TrialState.STOPPED)
    running_job.wait_for(lambda: storage.get_job("live").state is JobState.COMPLETED)


def test_concurrent_requests_for_one_chart_input_compute_it_once() -> None:
    """The derived-data cache computes a missing key once while other threads wait for it."""
    import threading
    import time as clock

    from tuneforge.server.context import Cache

    cache = Cache(size=2)
    calls: list[int] = []

    def slow() -> int:
        calls.append(1)
        clock.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42] * 4 and len(calls) == 1
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)  # evicts "k", the least recently used
    assert cache.get("k", lambda: 7) == 7
