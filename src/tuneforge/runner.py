"""Run one trial of a command job: folder, templates, argv, env, process group, log, metrics.

:func:`run_trial` prepares the trial folder (``params.json`` and filled templates), starts
the command without a shell in a process group of its own, streams its merged
stdout/stderr to ``trial.log`` while reading metrics from it and from ``report.jsonl``
(written by :func:`tuneforge.report`), and ends the whole group on a timeout or a stop
request. Whatever happens, it returns a :class:`~tuneforge.events.TrialOutcome` rather
than raising: a broken trial is a result to record, not a reason to end the job.

Parameter values are data: they are substituted into argv items, env values and
template text, never parsed by a shell or evaluated, so ``a; rm -rf ~`` reaches the
script as one literal argument.

Limits a misbehaving command cannot get around: ``trial.log`` stops growing at
``max_log_bytes`` (the output is still read, for metrics and so that the command never
blocks on a full pipe, and its last lines are written when the trial ends); at most
:data:`MAX_OBSERVATIONS` observations per attempt are recorded (the last value of each
metric always is); and when the command ends, its process group is killed and any process
it started elsewhere (``setsid``) that still carries the trial's environment is ended.

A job with a :class:`~tuneforge.retry.RetryPolicy` runs a failed trial again, in the same
folder, when the failure is one the policy names; each new attempt is announced with a
:class:`~tuneforge.retry.TrialRetried` event and appends to ``trial.log``.

Files in the trial folder::

    params.json     the job, trial number, parameters and static values (and
                    ``resume_dir``, the folder of the trial it continues, if any)
    trial.log       everything the command printed (stdout and stderr, merged)
    metrics.jsonl   one line per observation read: {"metric", "value", "step", "time"}
    report.jsonl    lines appended by tuneforge.report() in the script

``metrics.jsonl`` and ``report.jsonl`` hold the last attempt's lines only.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any

from tuneforge.errors import TrialError, TuneforgeError
from tuneforge.events import MetricObserved, StopSignal, TrialEvent, TrialOutcome, TrialStarted
from tuneforge.metrics import MetricDefinition, MetricReader
from tuneforge.placeholders import fill, format_value
from tuneforge.processes import (
    end_processes,
    find_trial_processes,
    fork_count,
    process_start,
    started_nothing,
)
from tuneforge.retry import RetryPolicy, TrialRetried
from tuneforge.trial import Observation, TrialState

PARAMS_FILE = "params.json"
LOG_FILE = "trial.log"
METRICS_FILE = "metrics.jsonl"
REPORT_FILE = "report.jsonl"
#: Set, in a trial that continues an earlier one, to that trial's folder.
RESUME_DIR_VARIABLE = "TUNEFORGE_RESUME_DIR"
_RESERVED = frozenset({PARAMS_FILE, LOG_FILE, METRICS_FILE, REPORT_FILE})

#: Lines of output kept for the outcome's ``log_tail``.
LOG_TAIL_LINES = 20
#: Bytes of one output line parsed for metrics; longer lines are logged whole, parsed cut.
MAX_LINE_BYTES = 64 * 1024
#: Default size at which ``trial.log`` stops growing (``limits.max_log_bytes``).
DEFAULT_MAX_LOG_BYTES = 100 * 1024 * 1024
#: Observations recorded per attempt; past it only each metric's last value is.
MAX_OBSERVATIONS = 100_000
_TAIL_LINE_CHARS = 1000
_READ_BYTES = 64 * 1024
_REPORT_READ_BYTES = 1024 * 1024
_POLL = 0.1  # how often a running trial's report file, stop signal and timeout are checked
_FAST_POLL = 0.02  # while ending a trial, so it ends promptly
# After the group is killed, its output pipe normally closes at once; a process that left
# the group (setsid) could hold it open forever, so stop waiting after this long.
_DRAIN_SECONDS = 1.0
# How long a process left outside the group gets between SIGTERM and SIGKILL.
_ESCAPED_GRACE = 1.0
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_ENV_NAME = re.compile(r"[^A-Za-z0-9]")


def trial_folder(output_dir: str, number: int) -> str:
    """The folder of trial ``number`` in a job's output folder (``trial-0007``)."""
    return os.path.join(output_dir, f"trial-{number:04d}")


@dataclass(frozen=True)
class TemplateSpec:
    """A template file filled with the trial's values and written into its folder."""

    source: str  # absolute path of the template
    target: str  # path relative to the trial folder


@dataclass(frozen=True)
class RunSpec:
    """Everything one trial needs; plain picklable data, so it can travel to a remote worker."""

    job_name: str
    number: int
    params: Mapping[str, Any]  # the trial's active parameters
    static: Mapping[str, Any]
    command: tuple[str, ...]  # argv with placeholders, already split; never run by a shell
    trial_dir: str  # absolute
    workdir: str  # may hold placeholders, e.g. ${trial_dir}; "" runs in the current folder
    env: Mapping[str, str] = field(default_factory=dict)  # values may hold placeholders
    templates: tuple[TemplateSpec, ...] = ()
    metrics: tuple[MetricDefinition, ...] = ()
    objective: str = "objective"
    timeout: float | None = None  # seconds
    stop_grace: float = 5.0  # seconds between SIGTERM and SIGKILL
    retry: RetryPolicy | None = None  # which failed attempts run again
    max_log_bytes: int | None = DEFAULT_MAX_LOG_BYTES  # None: trial.log grows without limit
    # The folder of the earlier trial this one continues (a Hyperband promotion), whose
    # checkpoint the command may load: ${resume_dir} and $TUNEFORGE_RESUME_DIR.
    resume_dir: str | None = None


def run_trial(spec: RunSpec, emit: Callable[[TrialEvent], None], stop: StopSignal) -> TrialOutcome:
    """Run ``spec``'s command to the end, emitting events as it goes, and say how it ended.

    Emits :class:`TrialStarted` once the process runs (:class:`TrialRetried` for each new
    attempt) and :class:`MetricObserved` for each observation as it is read. The outcome is
    COMPLETED with the objective's last value when the command exits 0 after reporting a
    finite objective; FAILED with a reason otherwise (including a trial that could not be
    prepared or started); or the state and reason ``stop`` asked for.
    """
    trial_dir = os.path.abspath(spec.trial_dir)
    try:
        argv, cwd, env = _prepare(spec, trial_dir)
    except TuneforgeError as exc:
        return TrialOutcome(TrialState.FAILED, reason=str(exc))
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in a path, say
        return TrialOutcome(
            TrialState.FAILED, reason=f"could not prepare trial folder {trial_dir!r}: {exc}"
        )
    attempts = spec.retry.max_attempts if spec.retry is not None else 1
    note: str | None = None
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            for name in (METRICS_FILE, REPORT_FILE):  # they hold the last attempt's lines
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(trial_dir, name))
        outcome, retryable = _attempt(spec, trial_dir, argv, cwd, env, emit, stop, attempt, note)
        if retryable is None or attempts == 1:
            return outcome
        if attempt == attempts:
            return replace(
                outcome, reason=f"{outcome.reason} (attempt {attempt} of {attempts}; {retryable})"
            )
        note = (
            f"attempt {attempt} of {attempts} failed ({outcome.reason}) and is retried: {retryable}"
        )
        assert spec.retry is not None  # attempts > 1
        if spec.retry.delay > 0 and stop.wait(spec.retry.delay):
            return TrialOutcome(
                stop.state, reason=stop.reason, log_tail=outcome.log_tail, metrics=outcome.metrics
            )
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns


def _attempt(
    spec: RunSpec,
    trial_dir: str,
    argv: list[str],
    cwd: str | None,
    env: dict[str, str],
    emit: Callable[[TrialEvent], None],
    stop: StopSignal,
    attempt: int,
    note: str | None,
) -> tuple[TrialOutcome, str | None]:
    """Run the command once; the outcome, and why it may be retried (``None``: it may not)."""
    reader = MetricReader(spec.metrics, spec.objective)
    try:
        session = _Session(
            spec.number,
            trial_dir,
            reader,
            emit,
            max_log_bytes=spec.max_log_bytes,
            retry_regex=spec.retry.compiled() if spec.retry is not None else None,
        )
    except OSError as exc:
        reason = f"could not open the log in trial folder {trial_dir!r}: {_describe(exc)}"
        return TrialOutcome(TrialState.FAILED, reason=reason), None
    try:
        if note is not None:
            session.note(note)
        if stop.is_set():
            return _stopped(stop, reader, session), None
        forks_before = fork_count()
        try:
            process = subprocess.Popen(
                argv,
                shell=False,
                cwd=cwd,
                env={**env, "TUNEFORGE_ATTEMPT": str(attempt)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so ending it ends its children
                close_fds=True,
            )
        except (OSError, ValueError) as exc:
            reason = f"could not start {argv[0]!r}: {_describe(exc)}"
            session.note(reason)
            outcome = TrialOutcome(
                TrialState.FAILED,
                reason=reason,
                log_tail=session.log_tail(),
                metrics=reader.last_values(),
            )
            return outcome, None
        try:
            launch = _Launch(forks_before, process_start(process.pid))
            now = time.time()
            if attempt == 1:
                emit(TrialStarted(spec.number, now, trial_dir, process.pid))
            else:
                emit(TrialRetried(spec.number, now, trial_dir, process.pid, attempt, note or ""))
            ending = _supervise(process, session, spec, stop, launch)
        finally:
            if process.returncode is None:  # emit raised, or a bug: leave nothing running
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        session.finish()
        outcome = _outcome(spec, stop, ending, process.returncode, reader, session)
        retryable = None
        if spec.retry is not None and outcome.state is TrialState.FAILED and ending is None:
            retryable = spec.retry.reason(
                returncode=process.returncode, matched_line=session.retry_match
            )
        return outcome, retryable
    finally:
        session.close()


# --- preparing the trial folder, argv and environment ---------------------------------------


def _prepare(spec: RunSpec, trial_dir: str) -> tuple[list[str], str | None, dict[str, str]]:
    """Fill every placeholder and write the trial folder, or raise before anything runs."""
    values: dict[str, Any] = {
        **spec.static,
        **spec.params,
        "trial_dir": trial_dir,
        "trial_number": spec.number,
        "job_name": spec.job_name,
        "resume_dir": spec.resume_dir or "",
    }
    targets = [_template_target(trial_dir, t.target) for t in spec.templates]
    if not spec.command:
        raise TrialError("the command is empty; give the program to run and its arguments.")
    argv = [fill(str(item), values) for item in spec.command]
    cwd = fill(spec.workdir, values) or None
    env = _environment(spec, trial_dir, values)
    MetricReader(spec.metrics, spec.objective)  # a bad definition fails before anything runs
    _reset_folder(trial_dir)
    document = {
        "job": spec.job_name,
        "trial": spec.number,
        "params": dict(spec.params),
        "static": dict(spec.static),
    }
    if spec.resume_dir:
        document["resume_dir"] = spec.resume_dir
    with open(os.path.join(trial_dir, PARAMS_FILE), "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, default=_plain)
        out.write("\n")
    for template, target in zip(spec.templates, targets, strict=True):
        _write_template(template.source, target, values)
    # Checked after the templates, which may create the working directory.
    if cwd is not None and not os.path.isdir(cwd):
        raise TrialError(f"working directory {cwd!r} does not exist or is not a folder.")
    return argv, cwd, env


def _template_target(trial_dir: str, target: str) -> str:
    """The absolute path of a template's target, which must lie inside the trial folder."""
    if not target or os.path.isabs(target) or "\0" in target:
        raise TrialError(
            f"template target {target!r} must be a path relative to the trial folder, "
            f"e.g. 'config.yaml'."
        )
    path = os.path.normpath(os.path.join(trial_dir, target))
    if not path.startswith(trial_dir.rstrip(os.sep) + os.sep):
        raise TrialError(
            f"template target {target!r} points outside the trial folder {trial_dir!r}; "
            f"use a relative path without '..'."
        )
    if os.path.relpath(path, trial_dir) in _RESERVED:
        raise TrialError(
            f"template target {target!r} would overwrite a file tuneforge writes "
            f"({', '.join(sorted(_RESERVED))}); choose another name."
        )
    return path


def _reset_folder(trial_dir: str) -> None:
    """Create the trial folder, or empty the one an interrupted attempt left behind."""
    if os.path.lexists(trial_dir) and not os.path.isdir(trial_dir):
        raise TrialError(f"trial folder {trial_dir!r} exists and is not a folder.")
    if not os.path.isdir(trial_dir):
        os.makedirs(trial_dir)
        return
    entries = os.listdir(trial_dir)
    # Refuse to empty a folder tuneforge did not make: a wrong output path must not cost data.
    if entries and PARAMS_FILE not in entries:
        raise TrialError(
            f"trial folder {trial_dir!r} already holds files and no {PARAMS_FILE}, so it is "
            f"not an earlier attempt of this trial; move them away or choose another folder."
        )
    for entry in entries:
        path = os.path.join(trial_dir, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _write_template(source: str, target: str, values: Mapping[str, Any]) -> None:
    try:
        # newline="" keeps the template's line endings as they are.
        with open(source, encoding="utf-8", newline="") as file:
            text = file.read()
    except UnicodeDecodeError:
        raise TrialError(f"template {source!r} is not UTF-8 text.") from None
    except OSError as exc:
        raise TrialError(f"cannot read template {source!r}: {_describe(exc)}.") from None
    try:
        filled = fill(text, values)
    except TrialError as exc:
        raise TrialError(f"template {source!r}: {exc}") from None
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") as out:
        out.write(filled)
    shutil.copymode(source, target)  # an executable template stays executable


def _environment(spec: RunSpec, trial_dir: str, values: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # so Python scripts print lines as they go, not at exit
    env.update({str(name): fill(str(value), values) for name, value in spec.env.items()})
    for name, value in {**spec.static, **spec.params}.items():
        env["TUNEFORGE_PARAM_" + _ENV_NAME.sub("_", name).upper()] = format_value(value)
    env["TUNEFORGE_TRIAL_ID"] = str(spec.number)
    env["TUNEFORGE_TRIAL_DIR"] = trial_dir
    env["TUNEFORGE_JOB_NAME"] = spec.job_name
    env["TUNEFORGE_REPORT"] = os.path.join(trial_dir, REPORT_FILE)
    env.pop(RESUME_DIR_VARIABLE, None)  # never inherited from the controller's environment
    if spec.resume_dir:
        env[RESUME_DIR_VARIABLE] = spec.resume_dir
    return env


def _plain(value: Any) -> Any:
    """JSON fallback for numpy scalars and other values a strategy may hand over."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


# --- watching the process ----------------------------------------------------------------


class _Session:
    """One attempt's output: the log file (capped), the tail, line splitting and metric sinks."""

    def __init__(
        self,
        number: int,
        trial_dir: str,
        reader: MetricReader,
        emit: Callable[[TrialEvent], None],
        *,
        max_log_bytes: int | None = DEFAULT_MAX_LOG_BYTES,
        retry_regex: re.Pattern[str] | None = None,
    ) -> None:
        self.number = number
        self.reader = reader
        self.emit = emit
        self.report_path = os.path.join(trial_dir, REPORT_FILE)
        self.log: IO[bytes] = open(os.path.join(trial_dir, LOG_FILE), "ab")  # noqa: SIM115
        try:
            self.metrics: IO[str] = open(  # noqa: SIM115
                os.path.join(trial_dir, METRICS_FILE), "a", encoding="utf-8"
            )
        except OSError:
            self.log.close()
            raise
        self.tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.max_log_bytes = max_log_bytes
        self.retry_regex = retry_regex
        self.retry_match: str | None = None  # the first output line retry_regex matched
        self.logged = 0  # bytes of output written to the log by this attempt
        self.unlogged = 0  # bytes of output past max_log_bytes, read but not written
        self.n_observations = 0
        self._dropped: dict[str, Observation] = {}  # past MAX_OBSERVATIONS: the last of each
        self.n_dropped = 0
        self._pending = bytearray()
        self._discarding = False  # inside an over-long line, after its first MAX_LINE_BYTES
        self._after_cr = False
        self._report_offset = 0
        self._report_pending = b""
        self._closed = False

    def output(self, data: bytes) -> None:
        """Log a chunk of the command's output and read every line it completes.

        A carriage return ends a line too, so metrics printed between progress-bar
        updates are still read.
        """
        self._write_log(data)
        self._split(data, note=False)

    def end_output(self) -> None:
        """Read the last line when the output ended without a line break."""
        if self._pending:
            self._line(bytes(self._pending), note=False)
            self._pending.clear()

    def note(self, message: str) -> None:
        """A line of tuneforge's own in the log, e.g. why the command did not start.

        Notes are few and short, so they are written past ``max_log_bytes`` too.
        """
        self.end_output()
        data = f"[tuneforge] {message}\n".encode()
        self.log.write(data)
        self.log.flush()
        self._split(data, note=True)

    def log_tail(self) -> str:
        return "\n".join(self.tail)

    def poll_report(self, *, final: bool = False) -> None:
        """Read the lines ``report()`` appended since the last poll."""
        while True:
            try:
                with open(self.report_path, "rb") as file:
                    file.seek(self._report_offset)
                    data = file.read(_REPORT_READ_BYTES)
            except OSError:  # not written yet (or unreadable): nothing to read
                return
            self._report_offset += len(data)
            lines = (self._report_pending + data).split(b"\n")
            # A line still being written waits for its end; an endless one is dropped.
            self._report_pending = lines.pop()
            if len(self._report_pending) > MAX_LINE_BYTES:
                self._report_pending = b""
                self.reader.n_ignored += 1
            for raw in lines:
                if raw.strip():
                    self._record(self.reader.feed_report(raw.decode("utf-8", "replace")))
            if not final or not data:
                break
        if final and self._report_pending.strip():
            self._record(self.reader.feed_report(self._report_pending.decode("utf-8", "replace")))
            self._report_pending = b""

    def finish(self) -> None:
        """Once the output has ended: record each metric's last value if the cap held it back."""
        if not self._dropped:
            return
        dropped, self._dropped = self._dropped, {}
        for observation in dropped.values():
            self._write_observation(observation)
        self.note(
            f"{self.n_dropped} observations past the first {MAX_OBSERVATIONS} were not recorded "
            f"(the last value of each metric was)"
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.unlogged:
                lines = "".join(f"{line}\n" for line in self.tail)
                self.log.write(
                    f"[tuneforge] {self.unlogged} more bytes of output were read but not written "
                    f"(limits.max_log_bytes is {self.max_log_bytes}); the last {len(self.tail)} "
                    f"lines were:\n{lines}".encode()
                )
        finally:
            self.log.close()
            self.metrics.close()

    def _write_log(self, data: bytes) -> None:
        cap = self.max_log_bytes
        if cap is None or self.logged + len(data) <= cap:
            self.log.write(data)
            self.logged += len(data)
            self.log.flush()
            return
        room = max(0, cap - self.logged)
        if room:
            self.log.write(data[:room])
            self.logged += room
        if not self.unlogged:
            self.log.write(
                f"\n[tuneforge] trial.log reached limits.max_log_bytes ({cap} bytes): the rest "
                f"of the output is read for metrics but not written; its last lines follow at "
                f"the end.\n".encode()
            )
        self.unlogged += len(data) - room
        self.log.flush()

    def _split(self, data: bytes, *, note: bool) -> None:
        start = 0
        for brk in _LINE_BREAK.finditer(data):
            piece = data[start : brk.start()]
            start = brk.end()
            after_cr, self._after_cr = self._after_cr, brk.group() == b"\r"
            # A "\r" on an empty line shows nothing, and "\r" ending one chunk with "\n"
            # starting the next are one line break: neither makes a line.
            if not piece and not self._pending and (self._after_cr or after_cr):
                continue
            self._take(piece, complete=True, note=note)
        if start < len(data):
            self._after_cr = False
            self._take(data[start:], complete=False, note=note)

    def _take(self, piece: bytes, *, complete: bool, note: bool) -> None:
        if self._discarding:
            self._discarding = not complete
            return
        self._pending += piece
        if complete:
            self._line(bytes(self._pending), note=note)
            self._pending.clear()
        elif len(self._pending) >= MAX_LINE_BYTES:
            # Memory stays bounded whatever the command prints: parse the start, skip the rest.
            self._line(bytes(self._pending), note=note)
            self._pending.clear()
            self._discarding = True

    def _line(self, raw: bytes, *, note: bool) -> None:
        text = raw[:MAX_LINE_BYTES].decode("utf-8", "replace")
        if len(text) > _TAIL_LINE_CHARS:
            self.tail.append(text[:_TAIL_LINE_CHARS] + " [...]")
        else:
            self.tail.append(text)
        if note:
            return
        if (
            self.retry_regex is not None
            and self.retry_match is None
            and self.retry_regex.search(text)
        ):
            self.retry_match = text
        self._record(self.reader.feed_line(text))

    def _record(self, observations: list[Observation]) -> None:
        for observation in observations:
            if self.n_observations >= MAX_OBSERVATIONS:
                self._dropped[observation.metric] = observation
                self.n_dropped += 1
                continue
            self.n_observations += 1
            self._write_observation(observation)

    def _write_observation(self, observation: Observation) -> None:
        record = {
            "metric": observation.metric,
            "value": observation.value,
            "step": observation.step,
            "time": observation.time,
        }
        self.metrics.write(json.dumps(record) + "\n")
        self.metrics.flush()
        self.emit(MetricObserved(self.number, observation))


@dataclass(frozen=True)
class _Launch:
    """What is known of the command's start, to tell which processes can be its descendants."""

    forks_before: int | None  # the machine's fork count just before it started
    start: int | None  # its start time: its descendants start at or after it


def _supervise(
    process: subprocess.Popen[bytes],
    session: _Session,
    spec: RunSpec,
    stop: StopSignal,
    launch: _Launch,
) -> str | None:
    """Pump output until the process ends; return "timeout" or "stop" if tuneforge ended it.

    The main process is only reaped after its group has been killed: until then its
    zombie keeps the process group id from being reused, so the kill cannot hit strangers.
    """
    assert process.stdout is not None
    watch = _Watch(process.stdout.fileno(), process.pid)
    pgid = process.pid
    deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
    ending: str | None = None
    terminated_at: float | None = None
    next_report = 0.0
    try:
        while True:
            watch.wait(session, _POLL if ending is None and not watch.eof else _FAST_POLL)
            now = time.monotonic()
            if now >= next_report:
                session.poll_report()
                next_report = now + _POLL
            if ending is None:
                if stop.is_set():
                    ending = "stop"
                elif deadline is not None and now >= deadline:
                    ending = "timeout"
                if ending is not None:
                    _signal_group(pgid, signal.SIGTERM)
                    terminated_at = now
            if _has_exited(process.pid):
                break
            if terminated_at is not None and now - terminated_at >= spec.stop_grace:
                break
        # Whatever is left of the group: the main process after its grace period, or
        # children it left behind (reparented, but still in the group).
        _signal_group(pgid, signal.SIGKILL)
        process.wait()
        _end_escaped(spec, session, pgid, launch)
        give_up = time.monotonic() + _DRAIN_SECONDS
        while not watch.eof and time.monotonic() < give_up:
            watch.wait(session, _FAST_POLL)
        session.end_output()
        session.poll_report(final=True)
    finally:
        watch.close()
    return ending


class _Watch:
    """Waits for the command's output, or for its exit once its output has ended.

    The command's end is seen through a pidfd (Linux 5.3+) as soon as it happens, which
    does not reap it; without pidfds the caller finds out on its next check, after the
    wait.
    """

    def __init__(self, fd: int, pid: int) -> None:
        self.fd = fd
        self.eof = False
        self.poller = select.poll()
        self.poller.register(fd, select.POLLIN)
        self.pidfd: int | None = None
        if hasattr(os, "pidfd_open"):
            with contextlib.suppress(OSError):  # an older kernel: no pidfds
                self.pidfd = os.pidfd_open(pid)
                self.poller.register(self.pidfd, select.POLLIN)

    def wait(self, session: _Session, seconds: float) -> None:
        """Wait up to ``seconds``, passing what the command printed meanwhile to ``session``."""
        if self.eof and self.pidfd is None:
            time.sleep(seconds)
            return
        for fd, _ in self.poller.poll(seconds * 1000):
            if fd == self.fd:
                data = os.read(fd, _READ_BYTES)
                if data:
                    session.output(data)
                else:
                    self.eof = True
                    self.poller.unregister(fd)
            else:  # the pidfd: the command has ended, and stays ended
                self.poller.unregister(fd)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _end_escaped(spec: RunSpec, session: _Session, pgid: int, launch: _Launch) -> None:
    """End the processes the command started outside its group that carry its environment.

    Only processes that started with or after the command are looked at, and none at all
    when the machine created no process but the command's since it started.
    """
    if started_nothing(launch.forks_before):
        return
    trial_dir = os.path.abspath(spec.trial_dir)
    found = find_trial_processes(spec.job_name, trial_dirs=[trial_dir], since=launch.start)
    escaped = [p for p in found if p.pgid != pgid]  # the group itself was just SIGKILLed
    if not escaped:
        return
    ended = end_processes(escaped, grace=_ESCAPED_GRACE)
    if ended:
        pids = ", ".join(str(p.pid) for p in ended)
        session.note(f"ended {len(ended)} process(es) the trial left running (pid {pids})")


def _has_exited(pid: int) -> bool:
    """Whether the process has exited, without reaping it (WNOWAIT)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # ProcessLookupError: the group is already gone.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# --- the outcome -------------------------------------------------------------------------


def _outcome(
    spec: RunSpec,
    stop: StopSignal,
    ending: str | None,
    returncode: int | None,
    reader: MetricReader,
    session: _Session,
) -> TrialOutcome:
    metrics = reader.last_values()
    tail = session.log_tail()
    if ending == "stop":
        return _stopped(stop, reader, session)
    if ending == "timeout":
        assert spec.timeout is not None
        reason = f"timed out after {_seconds(spec.timeout)}s"
    elif returncode is not None and returncode < 0:
        reason = f"killed by signal {_signal_name(-returncode)}"
    elif returncode:
        reason = f"exit code {returncode}"
    elif reader.smac_failed:
        reason = f"SMAC result status {reader.smac_status}"
    elif spec.objective not in metrics:
        reason = f"objective {spec.objective!r} was never reported"
    elif not math.isfinite(metrics[spec.objective]):
        reason = f"objective {spec.objective!r} is {metrics[spec.objective]}"
    else:
        return TrialOutcome(
            TrialState.COMPLETED, value=metrics[spec.objective], log_tail=tail, metrics=metrics
        )
    return TrialOutcome(TrialState.FAILED, reason=reason, log_tail=tail, metrics=metrics)


def _stopped(stop: StopSignal, reader: MetricReader, session: _Session) -> TrialOutcome:
    """The outcome the stop signal asked for, with the objective's last finite value if any."""
    metrics = reader.last_values()
    value = metrics.get(reader.objective)
    return TrialOutcome(
        stop.state,
        value=value if value is not None and math.isfinite(value) else None,
        reason=stop.reason,
        log_tail=session.log_tail(),
        metrics=metrics,
    )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"number {number}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
