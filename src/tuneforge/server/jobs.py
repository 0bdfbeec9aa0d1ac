"""Jobs started from the dashboard: a posted job file, run in a thread of the server process.

The job is launched as ``tuneforge run`` launches it (:func:`tuneforge.launch.launch_job`:
checked, built, then recorded) and writes to the server's storage, so it shows up like any
other job and ``tuneforge stop`` or the stop button steer it.

Paths: relative paths in the job file (``workdir``, templates, ``parameters_file``,
``design``) and the default trial folders (``runs/<name>``, or a relative ``output_dir``)
start at the base folder: the request's ``base_dir`` if given, else the server's base
folder (the folder ``tuneforge serve`` was started in). A job file's ``storage:`` field is
ignored: the job goes to the storage the server reads, or the dashboard could not show it.

When the server shuts down, the jobs it runs are asked to stop (their running trials end as
``stopped``) and it waits a little for them; ``tuneforge resume JOB`` continues one later.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

from tuneforge.controller import Controller
from tuneforge.errors import ConfigError, TuneforgeError
from tuneforge.jobfile import job_from_document, parse_yaml
from tuneforge.launch import launch_job
from tuneforge.storage import JobRecord, JobState, Storage

_log = logging.getLogger(__name__)


class JobLauncher:
    """Starts posted job files in background threads and stops them when the server ends."""

    def __init__(self, storage: Storage, base_dir: str | Path) -> None:
        self.storage = storage
        self.base_dir = Path(base_dir).expanduser().resolve()
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, job_file: str, base_dir: str | None = None) -> JobRecord:
        """Check the job file, build its controller, record the job (``JobExistsError`` if
        the name is taken) and start it."""
        base = self._base(base_dir)
        document = parse_yaml(job_file, "job_file")
        if document is None:
            raise ConfigError(
                "job_file: the job file is empty; expected YAML with at least name, command, "
                "parameters and objective."
            )
        spec = job_from_document(document, base, source="job_file")
        launched = launch_job(spec, self.storage, base_dir=base)
        thread = threading.Thread(
            target=self._run, args=(launched.controller,), name=f"tuneforge-job-{spec.name}"
        )
        thread.daemon = True  # a hard exit must not hang on it; shutdown() stops it cleanly
        with self._lock:
            self._threads[spec.name] = thread
        thread.start()
        return launched.record

    @property
    def running(self) -> list[str]:
        with self._lock:
            return [name for name, thread in self._threads.items() if thread.is_alive()]

    def shutdown(self, timeout: float = 10.0) -> None:
        """Ask every job this server runs to stop, and wait up to ``timeout`` seconds."""
        names = self.running
        for name in names:
            try:
                self.storage.request_stop(name)
            except TuneforgeError as exc:
                _log.warning("could not stop job %r: %s", name, exc)
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout / max(1, len(threads)))

    def _base(self, base_dir: str | None) -> Path:
        if base_dir is None or base_dir == "":
            return self.base_dir
        folder = (self.base_dir / Path(base_dir).expanduser()).resolve()
        if not folder.is_dir():
            raise ConfigError(
                f"base_dir: folder not found, got {base_dir!r}; relative folders start at "
                f"the server's base folder ({self.base_dir})."
            )
        return folder

    def _run(self, controller: Controller) -> None:
        name = controller.job_name
        try:
            controller.run()
        except Exception as exc:  # the thread has no caller: record the failure instead
            _log.exception("job %r failed in the dashboard's thread", name)
            with contextlib.suppress(TuneforgeError):
                self.storage.set_job_state(
                    name, JobState.FAILED, f"the dashboard could not run it: {exc}"
                )
        finally:
            with self._lock:
                self._threads.pop(name, None)
