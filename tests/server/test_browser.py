"""The dashboard in a real headless Chromium (Debian's chromium, driven by Playwright).

These open the pages of real jobs served by a real uvicorn server: sort the trial table,
see the charts render, open a trial, watch a running trial's log grow and click stop.
Without a `chromium` on PATH they skip, except in CI (``CI=true``), where they fail:
``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.conftest import TOKEN, RealJob, RunningJob, start_server
from tuneforge.storage import JobState, Storage
from tuneforge.trial import TrialState

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = (
            "chromium is not installed: the browser tests need Debian's chromium package "
            "(apt-get install -y chromium chromium-driver; .ci/run installs it)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records script errors (a test fails if any occurred)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


def column(page: Any, index: int) -> list[str]:
    texts: list[str] = page.locator(f"#trials tbody tr td:nth-child({index})").all_inner_texts()
    return texts


def test_job_page_sorts_the_table_renders_charts_and_opens_a_trial(
    page: Any, finished_job: RealJob
) -> None:
    """The finished job's page: sortable table, five charts, a trial page with log and files."""
    from playwright.sync_api import expect

    server = start_server(finished_job.storage())
    try:
        page.goto(f"{server.url}/jobs/finished?token={TOKEN}")
        assert page.url == f"{server.url}/jobs/finished"  # the token left the address
        rows = page.locator("#trials tbody tr")
        expect(rows).to_have_count(10)
        expect(page.locator("#job-state")).to_have_text("completed")
        expect(page.locator("#page-info")).to_have_text("1–10 of 10")
        # Sorted by the objective (loss, minimized) by default.
        losses = [float(v) for v in column(page, 3)]
        assert losses == sorted(losses)

        header = page.locator('#trials th[data-key="params.x"]')
        header.click()
        expect(header).to_have_class("sorted")
        xs = [float(v) for v in column(page, 6)]
        assert xs == sorted(xs)
        page.locator('#trials th[data-key="params.x"]').click()
        expect(page.locator('#trials th[data-key="params.x"] .arrow')).to_have_text(" ▼")
        xs = [float(v) for v in column(page, 6)]
        assert xs == sorted(xs, reverse=True)

        for chart in ("history", "importance", "parallel", "curves"):
            expect(page.locator(f"#chart-{chart} .main-svg").first).to_be_visible()
        expect(page.locator("#chart-slices .chart")).to_have_count(3)
        expect(page.locator("#chart-slices .main-svg").first).to_be_visible()
        expect(page.locator("#best .best-value")).to_contain_text("loss =")

        page.select_option("#state-filter", "failed")
        expect(page.locator("#page-info")).to_have_text("0–0 of 0")
        page.select_option("#state-filter", "")
        expect(rows).to_have_count(10)

        first = page.locator("#trials tbody tr").first
        number = first.get_attribute("data-number")
        first.locator("a").click()
        page.wait_for_url(f"**/jobs/finished/trials/{number}")
        expect(page.locator("#trial-state")).to_have_text("completed")
        expect(page.locator("#log")).to_contain_text("loss=")
        expect(page.locator("#params")).to_contain_text("opt")
        expect(page.locator("#files a", has_text="model.txt")).to_be_visible()
        expect(page.locator("#chart-series .main-svg").first).to_be_visible()
        expect(page.locator("#stop-trial")).to_be_hidden()
    finally:
        server.stop()


def test_a_running_trial_log_grows_live_and_its_stop_button_stops_it(
    page: Any, running_job: RunningJob
) -> None:
    """The trial page tails the log as the trial prints; two clicks on stop end the trial."""
    from playwright.sync_api import expect

    storage = running_job.storage()
    server = start_server(storage)
    try:
        page.goto(f"{server.url}/jobs/live/trials/0?token={TOKEN}")
        expect(page.locator("#trial-state")).to_have_text("running")
        expect(page.locator("#log-live")).to_be_visible()
        expect(page.locator("#log")).to_contain_text("tick 1 ")
        size = len(page.locator("#log").inner_text())
        page.wait_for_function(
            "size => document.getElementById('log').textContent.length > size + 100", arg=size
        )
        button = page.locator("#stop-trial")
        button.click()
        expect(button).to_have_text("Click again to stop the trial")
        button.click()
        expect(page.locator("#trial-state")).to_have_text("stopped")
        expect(page.locator("#log-live")).to_be_hidden()
        assert storage.get_trial("live", 0).state is TrialState.STOPPED
    finally:
        server.stop()


def test_the_stop_job_button_stops_a_job_run_elsewhere(page: Any, running_job: RunningJob) -> None:
    """The job page's stop button (two clicks) stops a job run by another process."""
    from playwright.sync_api import expect

    storage = running_job.storage()
    server = start_server(storage)
    try:
        page.goto(f"{server.url}/?token={TOKEN}")
        expect(page.locator('#jobs tr[data-job="live"] .badge')).to_have_text("running")
        page.locator('#jobs a[href="/jobs/live"]').click()
        button = page.locator("#stop-job")
        expect(button).to_be_visible()
        button.click()
        button.click()
        expect(page.locator("#message")).to_contain_text("stop requested")
        expect(page.locator("#job-state")).to_have_text("stopped", timeout=30_000)
        assert storage.get_job("live").state is JobState.STOPPED
    finally:
        server.stop()


def test_without_the_token_a_stop_click_explains_how_to_get_it(
    page: Any, running_job: RunningJob
) -> None:
    """Opened without ?token=, the dashboard reads fine and a stop says what is missing."""
    from playwright.sync_api import expect

    storage = running_job.storage()
    server = start_server(storage)
    try:
        page.goto(f"{server.url}/jobs/live")
        button = page.locator("#stop-job")
        button.click()
        button.click()
        expect(page.locator("#message")).to_contain_text("needs the server's token")
        assert storage.get_job("live").state is JobState.RUNNING
    finally:
        server.stop()


def test_a_trial_page_names_the_trial_it_continues(page: Any, tmp_path: Any) -> None:
    """A promotion that started from another trial's checkpoint says which on its page."""
    from playwright.sync_api import expect

    storage = Storage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    storage.create_job(
        "promoted",
        document={"parameters": {"x": {"type": "float", "low": 0, "high": 1}}},
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="hyperband",
        max_trials=2,
        output_dir=None,
    )
    for number, (epochs, continues) in enumerate([(3, None), (9, 0)]):
        storage.create_trial("promoted", {"x": 0.5, "epochs": epochs}, continues=continues)
        storage.start_trial("promoted", number, trial_dir=None, pid=None, time=100.0 + number)
        storage.finish_trial(
            "promoted", number, state=TrialState.COMPLETED, value=0.3, reason=None,
            log_tail=None, time=101.0 + number,
        )  # fmt: skip
    server = start_server(storage)
    try:
        page.goto(f"{server.url}/jobs/promoted/trials/1?token={TOKEN}")
        expect(page.locator("#trial-state")).to_have_text("completed")
        expect(page.locator("#timings")).to_contain_text("continuestrial 0")
        page.goto(f"{server.url}/jobs/promoted/trials/0")
        expect(page.locator("#trial-state")).to_have_text("completed")
        expect(page.locator("#timings")).not_to_contain_text("continues")
    finally:
        server.stop()
        storage.close()
