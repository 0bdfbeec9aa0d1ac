"""The controller: the loop that runs a job's trials, and the parts it is made of.

* :mod:`~tuneforge.controller.loop`: :class:`Controller`, the loop itself (ask, submit,
  record, stop requests, early stopping, limits, Ctrl-C and storage failures);
* :mod:`~tuneforge.controller.coordination`: who runs the job beside this controller: the
  job's lease held alone (:class:`LeasedJob`), or a job shared by several (:class:`SharedJob`,
  ``--join``), and where new trials come from;
* :mod:`~tuneforge.controller.recovery`: taking over what dead controllers left;
* :mod:`~tuneforge.controller.curves`: the learning curves the early-stopping rule reads;
* :mod:`~tuneforge.controller.progress`: the counts of ended trials, as :class:`Progress`;
* :mod:`~tuneforge.controller.settings`: :class:`JobLimits` and :class:`ControllerSettings`.

:mod:`tuneforge.launch` builds a controller from a job file's spec or an in-process
objective; the crash-recovery guarantees are in ``docs/reliability.md``.
"""

from tuneforge.controller.coordination import Coordination, LeasedJob, SharedJob
from tuneforge.controller.loop import Controller, MakeWork
from tuneforge.controller.progress import Progress
from tuneforge.controller.settings import ControllerSettings, JobLimits

__all__ = [
    "Controller",
    "ControllerSettings",
    "Coordination",
    "JobLimits",
    "LeasedJob",
    "MakeWork",
    "Progress",
    "SharedJob",
]
