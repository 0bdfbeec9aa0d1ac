"""tuneforge: hyperparameter tuning jobs for any training command.

The public surface is re-exported here. Heavy modules load on first use, so
``from tuneforge import report`` inside a training script stays cheap.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from tuneforge.errors import (
    ConfigError,
    JobExistsError,
    NotFoundError,
    SpaceError,
    StorageError,
    TrialError,
    TuneforgeError,
)
from tuneforge.report import report

__version__ = "0.1.0"

_LAZY = {
    "optimize": "tuneforge.optimize",
    "OptimizeResult": "tuneforge.optimize",
    "RunningTrial": "tuneforge.optimize",
    "Float": "tuneforge.space",
    "Int": "tuneforge.space",
    "Categorical": "tuneforge.space",
    "SearchSpace": "tuneforge.space",
    "Trial": "tuneforge.trial",
    "TrialState": "tuneforge.trial",
    "Observation": "tuneforge.trial",
    "Strategy": "tuneforge.strategies",
    "register": "tuneforge.strategies",
    "Storage": "tuneforge.storage",
    "load_job_file": "tuneforge.jobfile",
    "load_space_file": "tuneforge.space",
}

if _typing.TYPE_CHECKING:
    from tuneforge.jobfile import load_job_file
    from tuneforge.optimize import OptimizeResult, RunningTrial, optimize
    from tuneforge.space import Categorical, Float, Int, SearchSpace, load_space_file
    from tuneforge.storage import Storage
    from tuneforge.strategies import Strategy, register
    from tuneforge.trial import Observation, Trial, TrialState


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tuneforge' has no attribute {name!r}")
    loaded = _importlib.import_module(module)
    # Importing a submodule binds it as an attribute of this package, which would hide a
    # function of the same name (tuneforge.optimize): bind every lazy name it provides.
    for lazy, source in _LAZY.items():
        if source == module:
            globals()[lazy] = getattr(loaded, lazy)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Categorical",
    "ConfigError",
    "Float",
    "Int",
    "JobExistsError",
    "NotFoundError",
    "Observation",
    "OptimizeResult",
    "RunningTrial",
    "SearchSpace",
    "SpaceError",
    "Storage",
    "StorageError",
    "Strategy",
    "Trial",
    "TrialError",
    "TrialState",
    "TuneforgeError",
    "__version__",
    "load_job_file",
    "load_space_file",
    "optimize",
    "register",
    "report",
]
