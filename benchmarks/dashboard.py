"""Dashboard speed with a 10,000-trial job: the job page, the trials API, the charts.

Run from the repository root (takes about a minute)::

    python benchmarks/dashboard.py [--trials 10000] [--repeat 20] [--browser]

It builds a finished job in a temporary SQLite file (4 parameters, one conditional; a
10-step learning curve of the objective per trial, shorter for trials stopped early; a
second metric; a few failures), serves it with uvicorn on a loopback port, and times real
HTTP requests with httpx: the median and 95th percentile over ``--repeat`` requests after
one warm-up request. "cold" rows time the first request after a write to the storage
(the dashboard caches derived data until anything is written, so while a job runs every
refresh is a cold one). ``--browser`` also opens the job page in headless Chromium (needs
the ``chromium`` command) and times it until the table shows and until every chart is
drawn. Results are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa
import uvicorn

from tuneforge.server import create_app
from tuneforge.storage import Storage
from tuneforge.storage.models import EventRow, JobRow, MetricValueRow, TrialParamRow, TrialRow
from tuneforge.trial import Observation, TrialState

JOB = "bench-10k"


def build_job(url: str, n_trials: int, seed: int = 0) -> None:
    """A finished job with ``n_trials`` trials, written in bulk (storage's own tables)."""
    storage = Storage(url)
    storage.create_job(
        JOB,
        document={
            "name": JOB,
            "parameters": {
                "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
                "batch_size": {"type": "int", "low": 16, "high": 512, "log": True},
                "optimizer": {"type": "categorical", "values": ["sgd", "adam", "rmsprop"]},
                "momentum": {
                    "type": "float",
                    "low": 0.0,
                    "high": 0.99,
                    "when": {"optimizer": "sgd"},
                },
            },
            "objective": {"metric": "loss", "direction": "minimize"},
            "strategy": "random",
            "early_stopping": "auto",
            "limits": {"max_trials": n_trials, "max_parallel": 8},
        },
        base_dir=".",
        objective="loss",
        direction="minimize",
        strategy="random",
        max_trials=n_trials,
        output_dir=None,
    )
    storage.close()
    rng = np.random.default_rng(seed)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        job_id = connection.execute(sa.select(JobRow.id).where(JobRow.name == JOB)).scalar_one()
        trials, params, values, events = [], [], [], []
        start = time.time() - n_trials * 10.0
        for number in range(n_trials):
            trial_id = number + 1
            lr = float(10 ** rng.uniform(-5, 0))
            batch = int(2 ** rng.uniform(4, 9))
            optimizer = str(rng.choice(["sgd", "adam", "rmsprop"]))
            final = (math.log10(lr) + 2.5) ** 2 / 10 + rng.normal(0, 0.05) ** 2 + 0.1
            roll = rng.uniform()
            state = (
                TrialState.FAILED
                if roll < 0.02
                else TrialState.STOPPED_EARLY
                if roll < 0.3
                else TrialState.COMPLETED
            )
            steps = 0 if state is TrialState.FAILED else (3 if roll < 0.3 else 10)
            began = start + number * 10.0
            trials.append(
                {
                    "id": trial_id,
                    "job_id": job_id,
                    "number": number,
                    "state": state.value,
                    "value": final if state is TrialState.COMPLETED else None,
                    "reason": "exit code 1" if state is TrialState.FAILED else None,
                    "trial_dir": None,
                    "created_at": began,
                    "started_at": began,
                    "finished_at": began + 5 + steps,
                    "stop_requested": False,
                    "origin": "strategy",
                }
            )
            chosen = {"lr": lr, "batch_size": batch, "optimizer": optimizer}
            if optimizer == "sgd":
                chosen["momentum"] = float(rng.uniform(0, 0.99))
            params += [
                {"trial_id": trial_id, "name": k, "value": json.dumps(v)} for k, v in chosen.items()
            ]
            for step in range(steps):
                curve = final + 1.0 / (step + 1) - 0.1
                values.append(
                    {
                        "trial_id": trial_id,
                        "metric": "loss",
                        "step": step,
                        "value": curve,
                        "time": began + step,
                    }
                )
            if steps:
                values.append(
                    {
                        "trial_id": trial_id,
                        "metric": "accuracy",
                        "step": 0,
                        "value": 1 - final / 2,
                        "time": began + steps,
                    }
                )
            events.append(
                {
                    "job_id": job_id,
                    "trial_id": trial_id,
                    "time": began + 5 + steps,
                    "kind": "trial_finished",
                    "message": f"trial {number} {state.value}",
                }
            )
        connection.execute(sa.insert(TrialRow), trials)
        connection.execute(sa.insert(TrialParamRow), params)
        connection.execute(sa.insert(MetricValueRow), values)
        connection.execute(sa.insert(EventRow), events)
        connection.execute(
            sa.update(JobRow)
            .where(JobRow.id == job_id)
            .values(state="completed", finished_at=time.time(), reason="max_trials reached")
        )
    engine.dispose()


def serve(storage: Storage) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(storage, token="bench")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def timed(client: httpx.Client, path: str, repeat: int, before: Callable[[], None] | None) -> str:
    """'median / p95 ms' of ``repeat`` GETs of ``path`` after one warm-up."""
    client.get(path).raise_for_status()
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        began = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    samples.sort()
    p95 = samples[min(len(samples) - 1, math.ceil(0.95 * len(samples)) - 1)]
    return f"{statistics.median(samples):.0f} / {p95:.0f}"


def browser_timings(base: str, repeat: int) -> list[tuple[str, str]]:
    """Headless Chromium opening the job page: until the table shows, until charts are drawn."""
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        return [("browser timings", "skipped: no chromium on PATH")]
    table, charts = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for attempt in range(min(repeat, 5) + 1):  # the first fills the browser's cache
            began = time.perf_counter()
            page.goto(f"{base}/jobs/{JOB}")
            page.wait_for_function(
                "document.querySelectorAll('#trials tbody tr').length === 50", timeout=60_000
            )
            shown = time.perf_counter()
            for chart in ("history", "importance", "parallel", "curves", "slices"):
                page.wait_for_selector(f"#chart-{chart} .main-svg", timeout=60_000)
            drawn = time.perf_counter()
            if attempt:
                table.append((shown - began) * 1000)
                charts.append((drawn - began) * 1000)
        browser.close()
    return [
        ("browser: job page until the table shows", f"{statistics.median(table):.0f} (median)"),
        (
            "browser: job page until every chart is drawn",
            f"{statistics.median(charts):.0f} (median)",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--browser", action="store_true", help="also time the page in headless Chromium"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        began = time.perf_counter()
        build_job(url, args.trials)
        print(
            f"built a {args.trials}-trial job in {time.perf_counter() - began:.1f}s",
            file=sys.stderr,
        )
        storage = Storage(url)
        base, server, thread = serve(storage)
        writes = [0]

        def write() -> None:
            """Record a metric value and an event: invalidates every cached view, as a running
            job does each time a trial reports or changes state."""
            writes[0] += 1
            storage.add_observations(JOB, 0, [Observation("loss", 1.0, 100 + writes[0], 0.0)])
            storage.request_stop(JOB, 0)  # records an event, as a trial's state change does

        api = f"/api/jobs/{JOB}"
        rows = [
            ("job page (HTML)", f"/jobs/{JOB}", None),
            ("job API (settings, counts, best)", api, None),
            ("jobs list API", "/api/jobs", None),
            ("trials API, sorted by value, 50 rows", f"{api}/trials?sort=value", None),
            ("trials API, cold", f"{api}/trials?sort=value", write),
            (
                "trials API, by params.lr desc, rows 5000-5099",
                f"{api}/trials?sort=params.lr&order=desc&offset=5000&limit=100",
                None,
            ),
            ("trials API, by params.lr, cold", f"{api}/trials?sort=params.lr", write),
            ("trials API, by metrics.accuracy, cold", f"{api}/trials?sort=metrics.accuracy", write),
            ("trials API, state=failed", f"{api}/trials?state=failed", None),
            ("trial API", f"{api}/trials/1234", None),
        ]
        for chart in ("history", "parallel", "importance", "slices", "curves"):
            rows.append((f"chart {chart}, cached", f"{api}/charts/{chart}", None))
            rows.append((f"chart {chart}, cold", f"{api}/charts/{chart}", write))
        print(f"| request ({args.trials:,} trials) | median / p95 ms |")
        print("|---|---|")
        with httpx.Client(base_url=base, timeout=60) as client:
            for label, path, before in rows:
                repeat = args.repeat if before is None or "chart" not in label else 5
                print(f"| {label} | {timed(client, path, repeat, before)} |", flush=True)
            if args.browser:
                for label, figure in browser_timings(base, args.repeat):
                    print(f"| {label} | {figure} |", flush=True)
        server.should_exit = True
        thread.join(10)
        storage.close()


if __name__ == "__main__":
    main()
