"""Runs each trial as a task on a Dask cluster (``executor: dask://HOST:PORT``).

The controller stays where it is and keeps writing storage; only the trials move. Each
submitted ``work`` (a picklable ``functools.partial(run_trial, spec)``, or an in-process
objective) becomes one Dask task, ``tuneforge-<job>-<token>-<number>-<n>``, which runs
it on a worker thread. The pieces that cross the network, all through the scheduler:

* **events** (``TrialStarted``, ``MetricObserved`` and last ``TrialFinished``) go
  worker -> controller through one ``distributed.Queue`` per executor, batched every
  0.1 s (a start and the finish at once), as pickled bytes so that the scheduler only
  stores them. The task's result holds the outcome too, for when the last batch cannot be
  sent; ``poll`` checks which futures are done *before* it drains the queue, so a done
  task's events are all there;
* **stop requests** (``tuneforge stop``, early stopping, Ctrl-C) go controller -> worker
  through one ``distributed.Variable`` per trial, which a thread beside the trial waits on
  and turns into the trial's local ``StopSignal``: the runner then ends the trial's
  process group on that machine;
* **lost workers**: a task whose worker died is failed ("lost worker ...") rather than run
  again behind the controller's back. With the scheduler's default
  ``distributed.scheduler.allowed-failures`` (3) Dask reschedules such a task, so each
  task first records its worker in the scheduler's metadata; a second attempt finds it
  and returns FAILED at once. With ``allowed-failures: 0`` the future errs with
  ``KilledWorker`` and is failed the same way. Either way the trial's own processes do
  not outlive their worker: a watchdog (a tiny Python process in a session of its own)
  holds a pipe from the worker and ends the trial's process group when the pipe closes
  without a word;
* **placement**: trials are long tasks, and Dask's default queuing
  (``distributed.scheduler.worker-saturation: 1.1``) hands a worker of one thread a
  second task while its first still runs, so a trial could wait a whole trial's time
  behind another while a worker idles (measured: one trial in 32 started a full round
  late in two of seven 8-worker runs). On connecting, the executor sets the scheduler's
  saturation to 1.0 (one task per thread, the rest queued on the scheduler) when it is
  higher, and logs it; a scheduler without queuing (``inf``) is left alone;
* **a controller that died** (SIGKILL) leaves its tasks running on the workers: the next
  controller of the job (``resume``) has each worker end them (:meth:`end_orphans`).

Trial folders are created by the runner on the worker, at the path the controller chose
(``output_dir``), so on several machines that folder is either on each worker's local disk
or a shared folder; the job's folder (command, templates, workdir) must exist at the same
path on every worker. Scheduler, workers and controller need the same Python environment
with tuneforge installed, as Dask itself requires.

Example:
    >>> executor = DaskExecutor("dask://127.0.0.1:8786", name="digits")  # doctest: +SKIP
    >>> limits = JobLimits(max_trials=40, max_parallel=8)  # doctest: +SKIP
    >>> controller = Controller(..., executor=executor, limits=limits)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import math
import pickle
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tuneforge.errors import ConfigError, TuneforgeError
from tuneforge.events import StopSignal, TrialEvent, TrialFinished, TrialOutcome, TrialStarted
from tuneforge.executors.base import Executor, Work
from tuneforge.trial import Trial, TrialState

logger = logging.getLogger("tuneforge.executors.dask")

if TYPE_CHECKING:  # distributed is an optional dependency (the ``cluster`` extra)
    from distributed import Client


@contextlib.contextmanager
def _logged(what: str, level: int = logging.DEBUG) -> Iterator[None]:
    """Go on when ``what`` fails (Dask raises many kinds when a peer is gone), but log why."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the caller goes on without it
        logger.log(level, "could not %s: %s: %s", what, type(exc).__name__, exc)


#: The job file's spelling of a scheduler address; Dask's own schemes are accepted too.
DASK_SCHEME = "dask://"
_DASK_SCHEMES = ("tcp://", "tls://", "ucx://", "inproc://", "ws://", "wss://")
_FLUSH_SECONDS = 0.1  # how often a remote trial sends its buffered events
_STOP_WAIT_SECONDS = 1.0  # one long-poll of a trial's stop variable
_WAIT_SECONDS = 0.2  # the longest wait for events inside poll()
_SHUTDOWN_SECONDS = 30.0
_INSTALL_HINT = "install the cluster extra: pip install 'tuneforge[cluster]'"

# Ends the process group argv[1] unless a line arrives on stdin first. The worker holds the
# other end of the pipe: it writes a line once the trial ended normally; if the worker
# dies, the pipe closes with no line and the group is ended (SIGTERM, then SIGKILL).
_WATCHDOG = """
import os, signal, sys, time
group = int(sys.argv[1])
if sys.stdin.buffer.readline():
    sys.exit(0)
for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
    try:
        os.killpg(group, sig)
    except (ProcessLookupError, PermissionError):
        sys.exit(0)
    time.sleep(grace)
"""


def is_dask_address(target: str) -> bool:
    """Whether ``target`` names a Dask scheduler (``dask://``, ``tcp://``, ``tls://`` ...)."""
    return target.startswith((DASK_SCHEME, *_DASK_SCHEMES))


def scheduler_address(target: str) -> str:
    """The address Dask connects to: ``dask://host:8786`` becomes ``tcp://host:8786``.

    Example:
        >>> scheduler_address("dask://10.0.0.5:8786")
        'tcp://10.0.0.5:8786'
    """
    if target.startswith(DASK_SCHEME):
        rest = target[len(DASK_SCHEME) :].strip("/")
        if not rest:
            raise ConfigError(
                f"executor: the Dask address {target!r} names no scheduler; "
                "expected e.g. 'dask://scheduler-host:8786'."
            )
        return "tcp://" + rest
    if target.startswith(_DASK_SCHEMES):
        return target
    raise ConfigError(
        f"executor: expected 'local' or a Dask scheduler address such as "
        f"'dask://scheduler-host:8786', got {target!r}."
    )


def make_executor(target: str | Executor | Client | None, *, name: str = "trial") -> Executor:
    """The executor a job file's ``executor:`` (or ``optimize(executor=...)``) asks for.

    ``None`` or ``"local"`` gives threads in this process; ``"dask://HOST:PORT"`` (or a
    ``tcp://`` address, or a ``distributed.Client``) gives a :class:`DaskExecutor`; an
    ``Executor`` is used as it is.
    """
    if target is None or (isinstance(target, str) and target.strip() == "local"):
        from tuneforge.executors.local import LocalExecutor

        return LocalExecutor()
    if isinstance(target, Executor):
        return target
    if isinstance(target, str) and not is_dask_address(target):
        scheduler_address(target)  # raises the ConfigError that says what is valid
    return DaskExecutor(target, name=name)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f"executor: running trials on Dask needs the 'distributed' package ({exc}); "
            f"{_INSTALL_HINT}."
        ) from None
    return distributed


class DaskExecutor(Executor):
    """Runs each trial as a Dask task, one task per trial, on whichever worker is free.

    ``cluster`` is a scheduler address (``dask://host:8786``, ``tcp://...``) or a
    ``distributed.Client`` (from a ``LocalCluster``, dask-jobqueue's ``SLURMCluster``,
    dask-kubernetes...). A client passed in stays open; one made from an address is
    closed by :meth:`shutdown`. ``name`` (the job's) only labels the tasks on the
    dashboard. The controller's ``max_parallel`` bounds how many trials are submitted at
    once; Dask runs as many of them as its workers have threads.
    """

    def __init__(
        self, cluster: str | Client, *, name: str = "trial", connect_timeout: float = 30.0
    ) -> None:
        distributed = _import_distributed()
        self._distributed = distributed
        if isinstance(cluster, str):
            address = scheduler_address(cluster)
            try:
                self._client: Any = distributed.Client(
                    address, timeout=connect_timeout, set_as_default=False
                )
            except (OSError, TimeoutError) as exc:
                raise TuneforgeError(
                    f"cannot reach the Dask scheduler at {address} ({exc}); start one with "
                    f"'dask scheduler' and workers with 'dask worker {address}', or check "
                    f"the executor: line of the job file."
                ) from None
            self._owns_client = True
        else:
            self._client = cluster
            self._owns_client = False
        self.name = name
        self._token = uuid.uuid4().hex[:12]
        self._prefix = f"tuneforge-{name}-{self._token}"
        self._queue = distributed.Queue(f"{self._prefix}-events", client=self._client)
        # Import the runner on the workers now rather than in the first trials' time.
        with _logged("import the runner on the Dask workers ahead of the first trials"):
            self._client.run(_warm_up)
        # An old scheduler without queuing is left as it is.
        with _logged("set the Dask scheduler's worker-saturation to 1.0"):
            before = self._client.run_on_scheduler(_one_task_per_thread)
            if before is not None:
                logger.info(
                    "set the Dask scheduler's worker-saturation from %s to 1.0, so that "
                    "no trial waits behind another on a busy worker",
                    before,
                )
        self._futures: dict[int, Any] = {}  # distributed.Future, untyped
        self._waiting: list[TrialEvent] = []  # drained while waiting, returned next
        self._tags: dict[int, str] = {}  # trial number -> its submission's tag
        self._submitted = 0

    @property
    def client(self) -> Client:
        """The Dask client trials are submitted through."""
        client: Client = self._client
        return client

    # -- the Executor interface ----------------------------------------------------------
    def submit(self, number: int, work: Work) -> None:
        # Every submission gets names of its own: a trial run again (a rerun) must not
        # meet its earlier task's key, stop request or attempt record.
        self._submitted += 1
        tag = self._tags[number] = f"{number}-{self._submitted}"
        future = self._client.submit(
            _run_remote,
            work,
            number,
            self._queue.name,
            self._variable_name("stop", number),
            [self._prefix, "attempt", tag],
            key=f"{self._prefix}-{tag}",
            pure=False,
        )
        self._futures[number] = future

    def stop(self, number: int, reason: str, state: TrialState = TrialState.STOPPED) -> None:
        if number not in self._futures:
            return
        variable = self._distributed.Variable(
            self._variable_name("stop", number), client=self._client
        )
        # A scheduler that is gone fails the trial anyway.
        with _logged(f"send the stop request of trial {number} to its worker", logging.WARNING):
            variable.set((reason, state.value))

    def poll(self, timeout: float) -> list[TrialEvent]:
        deadline = time.monotonic() + timeout
        while True:
            # Done futures first, then the queue: a task sends its last events and its
            # TrialFinished before it returns, so a done future's events are all there.
            done = [number for number, future in self._futures.items() if future.done()]
            # Events just waited for are all there is to report unless a task ended since:
            # only then can its last events still be in the queue (one round trip saved).
            arrived = self._waiting if self._waiting and not done else self._waiting + self._drain()
            events: list[TrialEvent] = []
            for event in arrived:
                if isinstance(event, TrialFinished):
                    if event.number not in self._futures:
                        continue  # already reported, e.g. as lost
                    self._release(event.number)
                events.append(event)
            self._waiting = []
            # A task that ended without sending its TrialFinished: lost, cancelled, or it
            # could not be run at all.
            events.extend(self._finished(number) for number in done if number in self._futures)
            if events:
                return events
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            self._waiting = self._drain(wait=min(remaining, _WAIT_SECONDS))

    @property
    def running(self) -> set[int]:
        return set(self._futures)

    def end_orphans(
        self, job_name: str, output_dir: str | None, trials: Sequence[Trial]
    ) -> list[tuple[int | None, str]]:
        """End, on every worker, the job's trial processes a dead controller left running.

        A controller killed with SIGKILL leaves its tasks running on the workers (a Python
        thread cannot be cancelled); each worker ends their processes as the local
        executor would on its own machine, so the resumed job does not run them twice.
        """
        try:
            found = self._client.run(_end_orphans_here, job_name, output_dir, list(trials))
        except Exception as exc:  # noqa: BLE001 - resuming must not fail on this
            logger.debug("looking for left-over trial processes failed", exc_info=True)
            return [(None, f"could not look for left-over trial processes on the workers: {exc}")]
        ended: dict[int | None, str] = {}
        for worker, reports in sorted(found.items()):
            for number, message in reports:  # workers of one machine find the same ones
                ended.setdefault(number, f"{message} (worker {worker})")
        return list(ended.items())

    def shutdown(self) -> None:
        """Stop what still runs (INTERRUPTED), wait for it a while, then let go of Dask."""
        try:
            if self._futures:
                for number in list(self._futures):
                    self.stop(number, "the executor shut down", TrialState.INTERRUPTED)
                with _logged("wait for the running trials' tasks to end"):
                    self._distributed.wait(list(self._futures.values()), timeout=_SHUTDOWN_SECONDS)
                for number in list(self._futures):
                    future = self._futures.pop(number)
                    with _logged(f"cancel the task of trial {number}"):
                        future.cancel()
                    self._forget(number)
        finally:
            # What the scheduler kept for this executor.
            with _logged("remove the event queue and attempt records from the scheduler"):
                self._queue.close()
                self._client.set_metadata([self._prefix], None)
            if self._owns_client:
                with _logged("close the Dask client"):
                    self._client.close()

    # -- helpers -------------------------------------------------------------------------
    def _variable_name(self, kind: str, number: int) -> str:
        return f"{self._prefix}-{kind}-{self._tags[number]}"

    def _drain(self, wait: float | None = None) -> list[TrialEvent]:
        """Events waiting in the queue; with ``wait``, block that long for the first batch."""
        batches: list[Any] = []
        try:
            if wait is not None:
                try:
                    batches.append(self._queue.get(timeout=wait))
                except TimeoutError:
                    return []
            batches.extend(self._queue.get(batch=True))
        except Exception as exc:  # noqa: BLE001 - a lost scheduler shows as failed futures instead
            logger.debug("could not read trial events from the scheduler: %s", exc)
            if wait is not None:
                time.sleep(wait)
        events: list[TrialEvent] = []
        for batch in batches:
            events.extend(pickle.loads(batch))
        return events

    def _finished(self, number: int) -> TrialFinished:
        outcome = _outcome_of(self._futures[number], self._distributed)
        self._release(number)
        return TrialFinished(number, time.time(), outcome)

    def _release(self, number: int) -> None:
        future = self._futures.pop(number)
        with _logged(f"release the task of trial {number}"):
            future.release()
        self._forget(number)

    def _forget(self, number: int) -> None:
        variable = self._distributed.Variable(
            self._variable_name("stop", number), client=self._client
        )
        with _logged(f"delete the stop variable of trial {number}"):
            variable.delete()
        del self._tags[number]


def _outcome_of(future: Any, distributed: Any) -> TrialOutcome:
    """How a trial ended, from its (done) future: its result, or why Dask failed it."""
    status = future.status
    if status == "finished":
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - e.g. the result could not be fetched
            logger.debug("could not fetch a trial's outcome from Dask", exc_info=True)
            return TrialOutcome(TrialState.FAILED, reason=f"could not fetch the outcome: {exc}")
        if isinstance(result, TrialOutcome):
            return result
        return TrialOutcome(TrialState.FAILED, reason=f"the task returned {result!r}")
    if status == "error":
        error = future.exception()
        if isinstance(error, distributed.KilledWorker):
            return TrialOutcome(
                TrialState.FAILED,
                reason=f"lost worker: the Dask worker running the trial died ({error})",
            )
        tail = "".join(traceback.format_exception(type(error), error, future.traceback()))
        return TrialOutcome(
            TrialState.FAILED,
            reason=f"the Dask task failed: {type(error).__name__}: {error}",
            log_tail="\n".join(tail.splitlines()[-20:]),
        )
    return TrialOutcome(
        TrialState.FAILED,
        reason=f"the Dask scheduler lost the trial's task (status {status}); is it still up?",
    )


# --- on the worker ---------------------------------------------------------------------


def _one_task_per_thread(dask_scheduler: Any) -> float | None:
    """Run by ``Client.run_on_scheduler``: lower a finite worker-saturation above 1.0 to
    1.0; returns the value it replaced, or None when it changed nothing."""
    saturation = float(dask_scheduler.WORKER_SATURATION)
    if math.isinf(saturation) or saturation <= 1.0:
        return None
    dask_scheduler.WORKER_SATURATION = 1.0
    return saturation


def _warm_up() -> None:
    """Run by ``Client.run`` on each worker: import what every trial needs."""
    import tuneforge.runner  # noqa: F401


def _end_orphans_here(
    job_name: str, output_dir: str | None, trials: list[Trial]
) -> list[tuple[int | None, str]]:
    """Run by ``Client.run`` on each worker: the local executor's search, on that machine."""
    from tuneforge.executors.local import LocalExecutor

    return LocalExecutor().end_orphans(job_name, output_dir, trials)


def _run_remote(
    work: Work, number: int, queue_name: str, stop_name: str, attempt_key: list[str]
) -> TrialOutcome:
    """The Dask task: run one trial on this worker, forwarding its events and stops."""
    distributed = _import_distributed()
    worker = distributed.get_worker().address
    client = distributed.get_client()
    previous = client.get_metadata(attempt_key, default=None)
    if previous is not None:
        # Dask re-ran the task because its worker died: the trial is lost, not retried
        # silently (its first attempt's metrics are already recorded).
        return TrialOutcome(
            TrialState.FAILED,
            reason=f"lost worker {previous}: the Dask worker running the trial died",
        )
    client.set_metadata(attempt_key, worker)

    # The queue is opened by the first batch sent (the trial's start), so that its round
    # trip to the scheduler comes after the trial's process started, not before.
    forwarder = _Forwarder(lambda: distributed.Queue(queue_name, client=client))
    signal = StopSignal()
    finished = threading.Event()
    watcher = threading.Thread(
        target=_watch_stop,
        args=(distributed.Variable(stop_name, client=client), signal, finished),
        name=f"tuneforge-stop-{number}",
        daemon=True,
    )
    watcher.start()
    try:
        outcome = work(forwarder.emit, signal)
    except BaseException as exc:  # noqa: BLE001 - a broken trial must not end the job
        outcome = TrialOutcome(
            TrialState.FAILED,
            reason=f"{type(exc).__name__}: {exc}",
            log_tail="".join(traceback.format_exc().splitlines(True)[-20:]),
        )
    finally:
        finished.set()
    # The outcome travels with the last events, so the controller hears of it at once;
    # the task's result is the fallback if this last batch cannot be sent.
    forwarder.emit(TrialFinished(number, time.time(), outcome))
    forwarder.close()
    return outcome


def _watch_stop(variable: Any, signal: StopSignal, finished: threading.Event) -> None:
    """Wait on the trial's stop variable; turn a request into the local ``StopSignal``."""
    while not finished.is_set():
        try:
            reason, state = variable.get(timeout=_STOP_WAIT_SECONDS)
        except TimeoutError:
            continue
        except Exception as exc:  # noqa: BLE001 - the scheduler is gone; the trial runs out alone
            logger.debug("could not wait for a stop request: %s", exc)
            finished.wait(_STOP_WAIT_SECONDS)
            continue
        signal.request(str(reason), TrialState(state))
        return


class _Forwarder:
    """Buffers a remote trial's events and sends them in batches; guards its processes."""

    def __init__(self, open_queue: Callable[[], Any]) -> None:
        self._open_queue = open_queue
        self._queue: Any = None
        self._buffer: list[TrialEvent] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._loop, name="tuneforge-events", daemon=True)
        self._thread.start()

    def emit(self, event: TrialEvent) -> None:
        with self._lock:
            self._buffer.append(event)
        if isinstance(event, TrialStarted):
            if event.pid is not None:
                self._watchdog = _start_watchdog(event.pid)
            self.flush()  # a started trial shows as running at once

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
            if batch:
                if self._queue is None:
                    self._queue = self._open_queue()
                # Sent under the lock, so batches arrive in the order they were made.
                self._queue.put(pickle.dumps(batch))

    def close(self) -> None:
        """Send what is left (the task's result carries the outcome if that fails)."""
        self._closed.set()
        self._thread.join()
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - the controller falls back on the task's result
            logger.warning("could not send a trial's last events (its result has them): %s", exc)
        finally:
            if self._watchdog is not None:
                _disarm(self._watchdog)

    def _loop(self) -> None:
        while not self._closed.wait(_FLUSH_SECONDS):
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - retried at the next flush, and at close
                logger.debug("could not send a trial's events (retried): %s", exc)


def _start_watchdog(pgid: int) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(pgid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives a kill of the worker's process group
            close_fds=True,
        )
    except OSError:
        return None


def _disarm(watchdog: subprocess.Popen[bytes]) -> None:
    """Tell the watchdog the trial ended normally, so it exits without ending anything."""
    if watchdog.stdin is not None:
        with contextlib.suppress(OSError):
            watchdog.stdin.write(b"done\n")
            watchdog.stdin.close()
    try:
        watchdog.wait(timeout=5)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()
