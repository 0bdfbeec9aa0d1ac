"""The live log: server-sent events over a real HTTP connection while a real trial runs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx

from tests.server.conftest import RealJob, RunningJob, start_server
from tuneforge.storage import JobState


def events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, object], str | None]]:
    """(event, data, id) for each server-sent event of a line stream."""
    kind, data, ident = "message", "", None
    for line in lines:
        if line == "":
            if data:
                yield kind, json.loads(data), ident
            kind, data, ident = "message", "", None
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line.startswith("id: "):
            ident = line[4:]


def test_the_log_stream_grows_while_the_trial_runs_and_ends_when_it_stops(
    running_job: RunningJob,
) -> None:
    """Log events arrive as the trial prints; a stop ends the stream with an end event."""
    storage = running_job.storage()
    server = start_server(storage)
    try:
        url = f"{server.url}/api/jobs/live/trials/0/log/stream"
        seen: list[tuple[str, dict[str, object], str | None]] = []
        with httpx.stream("GET", url, timeout=30) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for event in events(response.iter_lines()):
                seen.append(event)
                logs = [e for e in seen if e[0] == "log"]
                if len(logs) == 3:
                    storage.request_stop("live", 0)
                if event[0] == "end":
                    break
        logs = [e for e in seen if e[0] == "log"]
        offsets = [int(str(data["offset"])) for _, data, _ in logs]
        assert len(logs) >= 3 and offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
        assert [ident for _, _, ident in logs] == [str(o) for o in offsets]
        text = "".join(str(data["text"]) for _, data, _ in logs)
        assert text.startswith("tick 0 ") and "tick 3 " in text
        assert seen[-1][0] == "end" and seen[-1][1]["state"] == "stopped"
        running_job.wait_for(lambda: storage.get_job("live").state is not JobState.RUNNING)
    finally:
        server.stop()


def test_a_stream_of_a_finished_trial_sends_the_rest_and_ends(finished_job: RealJob) -> None:
    """From an offset (or Last-Event-ID) the stream sends the remaining log, then end."""
    server = start_server(finished_job.storage())
    try:
        url = f"{server.url}/api/jobs/finished/trials/0/log/stream"
        whole = (finished_job.folder / "runs/finished/trial-0000/trial.log").read_text()
        with httpx.stream("GET", url, params={"offset": 7}, timeout=30) as response:
            got = list(events(response.iter_lines()))
        assert "".join(str(d["text"]) for k, d, _ in got if k == "log") == whole[7:]
        assert got[-1][0] == "end" and got[-1][1]["state"] == "completed"
        resumed = httpx.get(url, headers={"Last-Event-ID": str(len(whole) - 4)}, timeout=30)
        texts = [d["text"] for k, d, _ in events(iter(resumed.text.splitlines())) if k == "log"]
        assert texts == [whole[-4:]]
        restarted = httpx.get(url, params={"offset": len(whole) + 100}, timeout=30)
        kinds = [k for k, _, _ in events(iter(restarted.text.splitlines() + [""]))]
        assert kinds == ["reset", "log", "end"]  # a log that shrank is sent again from 0
        missing = httpx.get(f"{server.url}/api/jobs/finished/trials/77/log/stream", timeout=30)
        assert missing.status_code == 404
    finally:
        server.stop()
