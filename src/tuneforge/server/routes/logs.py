"""Routes of a trial's log: a byte range of it, and a live server-sent-events stream.

The stream is async (it waits between looks at a growing log); its storage and file reads
run in a worker thread, since they block.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from tuneforge.server.context import ApiContext, Context, TrialNumber
from tuneforge.server.files import LogDecoder, log_path, log_size, read_log
from tuneforge.server.schemas import LogOut

#: Largest log chunk one request may ask for (bytes).
MAX_LOG_CHUNK = 4 * 1024 * 1024
_STREAM_CHUNK = 256 * 1024
_STREAM_POLL = 0.25  # seconds between looks at a live log with nothing new
_HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet stream
_OFFSET = Annotated[int, Query(ge=-(2**62), le=2**62)]

router = APIRouter()


@router.get(
    "/jobs/{job}/trials/{number}/log",
    response_model=LogOut,
    summary="A byte range of the trial's log (a negative offset counts from the end)",
)
def trial_log(
    ctx: Context,
    job: str,
    number: TrialNumber,
    offset: _OFFSET = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_CHUNK)] = 256 * 1024,
) -> LogOut:
    trial = ctx.storage.get_trial(job, number)
    chunk = read_log(trial.trial_dir, offset, limit)
    return LogOut(
        offset=chunk.offset,
        next_offset=chunk.next_offset,
        size=chunk.size,
        text=chunk.text,
        active=trial.state.is_active(),
    )


@router.get(
    "/jobs/{job}/trials/{number}/log/stream",
    summary="The trial's log as server-sent events, live while it runs",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def trial_log_stream(
    ctx: Context, request: Request, job: str, number: TrialNumber, offset: _OFFSET = 0
) -> StreamingResponse:
    trial = await anyio.to_thread.run_sync(ctx.storage.get_trial, job, number)
    resumed = request.headers.get("last-event-id", "")
    if resumed.isdigit():
        offset = int(resumed)  # EventSource reconnects where it left off
    if offset < 0:
        offset = max(0, log_size(trial.trial_dir) + offset)
    return StreamingResponse(
        _log_events(ctx, request, job, number, offset),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _log_events(
    ctx: ApiContext, request: Request, job: str, number: int, offset: int
) -> AsyncIterator[str]:
    """``log`` events with new text (``id`` is the offset to resume at), then ``end``.

    A ``reset`` event says the log started over (the trial runs again after a resume).
    """
    position = offset
    decoder = LogDecoder()
    quiet_since = time.monotonic()
    yield "retry: 1000\n\n"
    while True:
        if await request.is_disconnected():
            return
        # Look at the state before reading: a trial seen finished has written all its log.
        trial = await anyio.to_thread.run_sync(ctx.storage.get_trial, job, number)
        if position > log_size(trial.trial_dir):
            # The log shrank: the trial was reset and runs again (a resumed job). Start over.
            position, decoder = 0, LogDecoder()
            yield "event: reset\ndata: {}\n\n"
        data = await anyio.to_thread.run_sync(_read_bytes, trial.trial_dir, position)
        if data:
            position += len(data)
            text = decoder.feed(data)
            if text:
                payload = json.dumps({"text": text, "offset": position})
                yield f"id: {position}\nevent: log\ndata: {payload}\n\n"
            quiet_since = time.monotonic()
            continue
        if not trial.state.is_active():
            payload = json.dumps({"state": trial.state.value, "reason": trial.reason})
            yield f"event: end\ndata: {payload}\n\n"
            return
        if time.monotonic() - quiet_since > _HEARTBEAT:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await anyio.sleep(_STREAM_POLL)


def _read_bytes(trial_dir: str | None, position: int) -> bytes:
    path = log_path(trial_dir)
    if path is None:
        return b""
    try:
        with path.open("rb") as handle:
            handle.seek(position)
            return handle.read(_STREAM_CHUNK)
    except OSError:
        return b""
