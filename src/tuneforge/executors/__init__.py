"""Executors: where trials run (``local`` threads and subprocesses; Dask later)."""

from tuneforge.executors.base import Emit, Executor, Work
from tuneforge.executors.local import LocalExecutor

__all__ = ["Emit", "Executor", "LocalExecutor", "Work"]
