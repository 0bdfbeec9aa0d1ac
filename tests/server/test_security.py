"""Security: tokens for actions and remote reads, the browser cookie, Host names, file paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.server.conftest import TOKEN, RealJob, auth, make_client
from tuneforge.cli import app as cli_app
from tuneforge.server import is_loopback
from tuneforge.server.files import FileAccessError, resolve_trial_file


def test_actions_without_the_token_get_401_and_a_wrong_token_403(
    finished_client: TestClient,
) -> None:
    """Stop needs the token: none -> 401 (with WWW-Authenticate), a wrong one -> 403."""
    none = finished_client.post("/api/jobs/finished/stop")
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == "Bearer"
    assert "needs the server's token" in none.json()["detail"]
    wrong = finished_client.post(
        "/api/jobs/finished/stop", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 403 and "does not match" in wrong.json()["detail"]
    basic = finished_client.post("/api/jobs/finished/stop", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401 and "Bearer <token>" in basic.json()["detail"]
    create = finished_client.post("/api/jobs", json={"job_file": "name: x"})
    assert create.status_code == 401


def test_the_token_works_as_bearer_header_or_query(finished_client: TestClient) -> None:
    """With the token (header or ?token=) the action passes auth (409: job is not running)."""
    assert finished_client.post("/api/jobs/finished/stop", headers=auth()).status_code == 409
    query = finished_client.post(f"/api/jobs/finished/stop?token={TOKEN}")
    assert query.status_code == 409


def test_reads_on_loopback_need_no_token(finished_client: TestClient) -> None:
    """A loopback server serves reads and pages without a token."""
    assert finished_client.get("/api/jobs").status_code == 200
    assert finished_client.get("/jobs/finished").status_code == 200


def test_a_page_opened_with_the_token_sets_a_cookie_and_drops_it_from_the_address(
    finished_client: TestClient,
) -> None:
    """/?token=T answers 303 to the same page without the token, setting an HttpOnly cookie."""
    response = finished_client.get(f"/jobs/finished?token={TOKEN}&x=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/jobs/finished?x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tuneforge_token_80=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    wrong = finished_client.get("/?token=nope", follow_redirects=False)
    assert wrong.status_code == 403 and "does not match" in wrong.text


def test_the_cookie_acts_only_with_the_dashboard_header(finished_client: TestClient) -> None:
    """A cookie alone cannot act (a cross-site form could send it); with the header it can."""
    finished_client.cookies.set("tuneforge_token_80", TOKEN)
    plain = finished_client.post("/api/jobs/finished/stop")
    assert plain.status_code == 403 and "X-Tuneforge-Action" in plain.json()["detail"]
    browser = finished_client.post("/api/jobs/finished/stop", headers={"X-Tuneforge-Action": "1"})
    assert browser.status_code == 409  # authorised; the job has simply ended
    finished_client.cookies.set("tuneforge_token_80", "wrong")
    bad = finished_client.post("/api/jobs/finished/stop", headers={"X-Tuneforge-Action": "1"})
    assert bad.status_code == 403


def test_a_remote_server_needs_the_token_for_reads_and_pages(finished_job: RealJob) -> None:
    """reads_need_token (non-loopback binds): every API read and page needs the token."""
    client = make_client(finished_job.storage(), reads_need_token=True, allowed_hosts=None)
    assert client.get("/api/jobs").status_code == 401
    assert client.get("/api/jobs", headers=auth()).status_code == 200
    page = client.get("/jobs/finished")
    assert page.status_code == 401 and "needs its token" in page.text
    opened = client.get(f"/jobs/finished?token={TOKEN}")  # follows the redirect, with the cookie
    assert opened.status_code == 200 and 'data-job="finished"' in opened.text
    assert client.get("/api/jobs/finished").status_code == 200  # the cookie now reads
    assert client.get("/static/vendor/plotly.min.js").status_code == 200  # scripts are public


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8080", 200),
        ("localhost:8080", 200),
        ("[::1]:8080", 200),
        ("localhost", 200),
        ("evil.example:8080", 400),
        ("127.0.0.1.evil.example", 400),
    ],
)
def test_a_loopback_server_answers_only_to_its_own_host_names(
    finished_client: TestClient, host: str, status: int
) -> None:
    """A DNS-rebinding page (Host: evil.example) is refused on a loopback server."""
    response = finished_client.get("/api/jobs", headers={"Host": host})
    assert response.status_code == status
    if status == 400:
        assert "Host header" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("..%2F..%2Ftuneforge.db", 400),
        ("sub/..%2F..%2Fjob.yaml", 400),
        ("%2Fetc%2Fpasswd", 400),
        ("sub%5C..%5C..%5Cjob.yaml", 400),
        ("model.txt%00.png", 400),
        ("outside-link", 404),
        ("outside-folder/secret.txt", 404),
        ("sub", 404),
        ("missing.txt", 404),
    ],
)
def test_file_downloads_never_leave_the_trial_folder(
    finished_client: TestClient, finished_job: RealJob, path: str, status: int
) -> None:
    """'..', absolute paths, backslashes, NUL and links pointing outside get 400/404."""
    folder = finished_job.folder / "runs" / "finished" / "trial-0003"
    secret = finished_job.folder / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    if not (folder / "outside-link").is_symlink():
        os.symlink(secret, folder / "outside-link")
        os.symlink(finished_job.folder, folder / "outside-folder")
    response = finished_client.get(f"/api/jobs/finished/trials/3/files/{path}")
    assert response.status_code == status, response.text
    assert b"TOP-SECRET-CONTENT" not in response.content
    assert response.json()["detail"]


def test_a_link_to_a_file_inside_the_folder_is_served_and_listed(
    finished_client: TestClient, finished_job: RealJob
) -> None:
    """A symbolic link that stays inside the trial folder is a file like any other."""
    folder = finished_job.folder / "runs" / "finished" / "trial-0004"
    if not (folder / "model-link").is_symlink():
        os.symlink(folder / "model.txt", folder / "model-link")
        os.symlink(finished_job.folder / "job.yaml", folder / "job-link")
    listing = finished_client.get("/api/jobs/finished/trials/4/files").json()
    paths = {f["path"] for f in listing["files"]}
    assert "model-link" in paths and "job-link" not in paths
    served = finished_client.get("/api/jobs/finished/trials/4/files/model-link")
    assert served.content == b"weights"


def test_resolve_trial_file_refuses_escapes(tmp_path: Path) -> None:
    """The path check itself: escapes raise FileAccessError with 400 or 404."""
    (tmp_path / "a.txt").write_text("a")
    assert resolve_trial_file(str(tmp_path), "a.txt") == (tmp_path / "a.txt").resolve()
    for bad, status in (("../x", 400), ("/etc/passwd", 400), ("", 400), ("a.txt/..", 400)):
        with pytest.raises(FileAccessError) as caught:
            resolve_trial_file(str(tmp_path), bad)
        assert caught.value.status == status
    with pytest.raises(FileAccessError, match="has not started"):
        resolve_trial_file(None, "a.txt")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    """Only localhost and loopback addresses count as loopback."""
    assert is_loopback(host) is expected


def test_serve_refuses_a_public_address_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tuneforge serve --host 0.0.0.0` without --token exits 2 explaining why."""
    monkeypatch.delenv("TUNEFORGE_TOKEN", raising=False)
    result = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--storage", "sqlite://"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output and "--token" in result.output
    bad_port = CliRunner().invoke(cli_app, ["serve", "--port", "70000", "--storage", "sqlite://"])
    assert bad_port.exit_code == 2 and "--port" in bad_port.output
