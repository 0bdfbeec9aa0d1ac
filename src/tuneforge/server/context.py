"""What every API route needs, handed to it by FastAPI: the storage, its queries, a cache.

``create_app`` keeps one :class:`ApiContext` (and the token guard) in ``app.state``; a
route takes it as a parameter of type :data:`Context`, and a route that changes
something lists :func:`check_write` in its dependencies. Route modules thus hold plain
functions, not closures over the app.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi import Path as PathParam

from tuneforge.server.jobs import JobLauncher
from tuneforge.server.security import TokenGuard
from tuneforge.storage import Storage
from tuneforge.storage.queries import DashboardQueries

T = TypeVar("T")


class Cache:
    """A small thread-safe LRU for derived data keyed by the storage's fingerprint.

    Concurrent requests for one missing key compute it once (the page asks for five charts
    at once, and each needs the same trial points): the others wait for that result.
    """

    def __init__(self, size: int = 64) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]  # type: ignore[no-any-return]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:  # computed by the request we waited for
                    return self._items[key]  # type: ignore[no-any-return]
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._computing.pop(key, None)
                raise
            with self._lock:
                self._items[key] = value
                self._computing.pop(key, None)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
        return value


@dataclass
class ApiContext:
    """The storage the API reads and writes, and what it derives from it."""

    storage: Storage
    launcher: JobLauncher
    guard: TokenGuard
    queries: DashboardQueries = field(init=False)
    cache: Cache = field(default_factory=Cache)

    def __post_init__(self) -> None:
        self.queries = DashboardQueries(self.storage)


def api_context(request: Request) -> ApiContext:
    """The app's context (a FastAPI dependency)."""
    context: ApiContext = request.app.state.api
    return context


def check_read(request: Request) -> None:
    """Refuse a read without the token when the server needs it for reads (a dependency)."""
    api_context(request).guard.check_read(request)


def check_write(request: Request) -> None:
    """Refuse an action without the token (a dependency of every route that changes state)."""
    api_context(request).guard.check_write(request)


Context = Annotated[ApiContext, Depends(api_context)]
TrialNumber = Annotated[int, PathParam(ge=0, le=2**31 - 1, description="The trial's number.")]
