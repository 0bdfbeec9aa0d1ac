"""Retrying failed trials: which failures a job retries, and the event that records an attempt.

A job's ``retry:`` section names the failures worth another try: exit codes (a process
killed by signal N matches ``128 + N``, the shell's convention, so ``137`` is SIGKILL, the
out-of-memory killer's signal) and a regular expression searched in every line the trial
prints (``out of memory|CUDA OOM``). A retried trial keeps its number, configuration and
folder; it counts once toward ``max_trials`` and, if its last attempt fails, once toward
``max_failures``. A trial that timed out or was stopped is never retried.

The runner decides and runs the attempts (it sees the exit code and every line); each
new attempt is announced with :class:`~tuneforge.events.TrialRetried` (one of the trial
events, defined with them and re-exported here), which says why the previous attempt is
retried and which the controller records in storage.

Example:
    >>> policy = RetryPolicy(max_retries=2, exit_codes=(137,))
    >>> policy.reason(returncode=-9, matched_line=None)
    'killed by signal SIGKILL (exit code 137 is in retry.exit_codes)'
    >>> policy.reason(returncode=1, matched_line=None) is None
    True
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

from tuneforge.events import TrialRetried

__all__ = ["RetryPolicy", "TrialRetried"]

#: Characters of a matching log line quoted in the retry reason.
_QUOTED_CHARS = 200


@dataclass(frozen=True)
class RetryPolicy:
    """Which failed attempts of a trial are run again, and how many times at most."""

    max_retries: int = 1
    exit_codes: tuple[int, ...] = ()
    log_regex: str | None = None
    delay: float = 0.0  # seconds between a failed attempt and the next

    @property
    def max_attempts(self) -> int:
        return 1 + max(0, self.max_retries)

    def compiled(self) -> re.Pattern[str] | None:
        return None if self.log_regex is None else re.compile(self.log_regex)

    def reason(self, *, returncode: int | None, matched_line: str | None) -> str | None:
        """Why an attempt that ended with ``returncode`` is retryable, or ``None`` if it is not.

        ``matched_line`` is the first line of the attempt's output that matched
        ``log_regex`` (``None`` when none did).
        """
        if returncode is not None and returncode > 0 and returncode in self.exit_codes:
            return f"exit code {returncode} is in retry.exit_codes"
        if returncode is not None and returncode < 0 and 128 - returncode in self.exit_codes:
            return (
                f"killed by signal {_signal_name(-returncode)} (exit code {128 - returncode} "
                f"is in retry.exit_codes)"
            )
        if matched_line is not None:
            shown = matched_line.strip()
            if len(shown) > _QUOTED_CHARS:
                shown = shown[:_QUOTED_CHARS] + " [...]"
            return f"the log matched retry.log_regex: {shown!r}"
        return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"number {number}"
