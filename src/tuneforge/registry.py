"""Name → class registries for plugins: strategies and stopping rules.

A registry finds its classes in three places, the first time it is asked: the modules of
its own package (each decorates its classes with ``register``), and the installed
packages that advertise an entry point in its group. An entry point may name a module
(importing it registers its classes) or a class (registered under the entry point's name)::

    [project.entry-points."tuneforge.strategies"]
    my-search = "my_package.search:MySearch"

Looking up an unknown name raises a ``ConfigError`` that names the field and lists the
valid names, as every error from a job file does.

Example:
    >>> class Plugin:
    ...     name = ""
    >>> plugins: Registry[Plugin] = Registry(
    ...     Plugin, field="plugin", kind="plugin", group="example.plugins"
    ... )
    >>> @plugins.register("fast")
    ... class Fast(Plugin):
    ...     pass
    >>> plugins.get("fast") is Fast, Fast.name, plugins.names()
    (True, 'fast', ['fast'])
    >>> plugins.get("slow")
    Traceback (most recent call last):
    ...
    tuneforge.errors.ConfigError: plugin: unknown plugin 'slow'; expected one of fast.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from tuneforge.errors import ConfigError

P = TypeVar("P")
C = TypeVar("C", bound=type[Any])


class Registry(Generic[P]):
    """The classes of one plugin family (subclasses of ``base``) by name.

    Args:
        base: the class every plugin subclasses; ``register`` refuses others.
        field: the job-file field an unknown name is reported under (``strategy``).
        kind: what one plugin is called in messages (``strategy``, ``rule``).
        group: the entry point group installed packages register plugins in.
        package: the package whose modules (all but ``base``) hold the built-in plugins.
        aliases: other names users may write for a registered one (``auto`` → ``median``).
        reserved: names the caller handles without a class (stopping's ``off``); they are
            listed among the valid names, never looked up.
    """

    def __init__(
        self,
        base: type,
        *,
        field: str,
        kind: str,
        group: str,
        package: str | None = None,
        aliases: Mapping[str, str] | None = None,
        reserved: tuple[str, ...] = (),
    ) -> None:
        self.base = base
        self.field = field
        self.kind = kind
        self.group = group
        self.package = package
        self.aliases = dict(aliases or {})
        self.reserved = reserved
        #: The registered classes by name; tests may patch an entry in for a while.
        self.classes: dict[str, type[P]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator that makes a plugin available under ``name`` (and sets its ``name``)."""

        def decorate(cls: C) -> C:
            if self.base not in cls.__mro__:
                raise TypeError(
                    f"{self.kind} {name!r}: {cls.__qualname__} must subclass "
                    f"{self.base.__qualname__}."
                )
            cls.name = name
            self.classes[name] = cls
            return cls

        return decorate

    def load(self) -> None:
        """Import the built-in modules and the installed plugins, once."""
        if self._loaded:
            return
        if self.package is not None:
            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                if module.name != "base":
                    importlib.import_module(f"{self.package}.{module.name}")
        for entry in entry_points(group=self.group):
            loaded = entry.load()
            known = loaded in self.classes.values()
            if isinstance(loaded, type) and self.base in loaded.__mro__ and not known:
                self.register(entry.name)(loaded)
        self._loaded = True

    def names(self) -> list[str]:
        """Every name a user may write, sorted: registered, aliases and reserved."""
        self.load()
        return sorted({*self.classes, *self.aliases, *self.reserved})

    def __contains__(self, name: object) -> bool:
        self.load()
        return isinstance(name, str) and self.aliases.get(name, name) in self.classes

    def get(self, name: str) -> type[P]:
        """The class registered as ``name`` (or the name it aliases); ``ConfigError`` if none."""
        self.load()
        try:
            return self.classes[self.aliases.get(name, name)]
        except KeyError:
            raise ConfigError(
                f"{self.field}: unknown {self.kind} {name!r}; expected one of "
                f"{', '.join(self.names())}."
            ) from None
