"""Early-stopping rules: read a running trial's objective curve, say stop or go on.

A rule sees the trial's progress and every other trial's, never processes or storage,
so it is tested on scripted curves. The controller asks it after each new observation of
the objective and ends the trial (state ``STOPPED_EARLY``) when it says stop.

To add a rule, write one module in ``tuneforge/stopping/`` (or any installed package,
through the ``tuneforge.stopping`` entry point group)::

    @register("my-rule")
    class MyRule(StoppingRule):
        def __init__(self, direction: str, *, patience: int = 3) -> None: ...
        def decide(self, trial, history) -> Decision: ...
"""

from __future__ import annotations

import abc
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from tuneforge.errors import ConfigError
from tuneforge.registry import Registry
from tuneforge.trial import Direction, TrialState


@dataclass(frozen=True)
class TrialProgress:
    """A trial's objective curve so far: ``(step, value)`` pairs in the order they arrived."""

    number: int
    state: TrialState
    series: tuple[tuple[int, float], ...]

    @property
    def last_step(self) -> int | None:
        return self.series[-1][0] if self.series else None

    def values_until(self, step: int) -> list[float]:
        """Finite values observed at steps <= ``step``."""
        return [v for s, v in self.series if s <= step and math.isfinite(v)]


@dataclass(frozen=True)
class Decision:
    stop: bool
    reason: str | None = None


CONTINUE = Decision(False)


class StoppingRule(abc.ABC):
    """Decides whether a running trial should stop now.

    An implementation must take ``direction`` plus its own keyword-only options, and
    implement ``decide``: given the trial whose objective just got a new observation and
    the other trials (any state), return ``Decision(stop, reason)``. It must not keep
    state that the trials do not hold, so a resumed job decides as the first run would.
    """

    name: ClassVar[str] = ""

    def __init__(self, direction: str) -> None:
        try:
            self.direction = Direction.parse(direction)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @abc.abstractmethod
    def decide(self, trial: TrialProgress, history: Sequence[TrialProgress]) -> Decision:
        """Stop ``trial`` now, or let it go on."""

    def is_worse(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly worse than ``b`` in this rule's direction."""
        return self.direction.is_better(b, a)

    def best_of(self, values: Sequence[float]) -> float:
        return max(values) if self.direction is Direction.MAXIMIZE else min(values)


RuleClass = TypeVar("RuleClass", bound=type[StoppingRule])
#: Names users write that mean a registered rule.
ALIASES = {"auto": "median"}
#: Every rule by name: this package's modules and the ``tuneforge.stopping`` entry points;
#: ``off`` is no rule but a valid setting.
RULES: Registry[StoppingRule] = Registry(
    StoppingRule,
    field="early_stopping",
    kind="rule",
    group="tuneforge.stopping",
    package="tuneforge.stopping",
    aliases=ALIASES,
    reserved=("off",),
)


def register(name: str) -> Callable[[RuleClass], RuleClass]:
    """Class decorator that makes a rule available under ``name``."""
    return RULES.register(name)


def available_rules() -> list[str]:
    return RULES.names()


def rule_options(name: str) -> dict[str, Any]:
    """The options a rule accepts, with their defaults."""
    return {
        p.name: p.default
        for p in inspect.signature(RULES.get(name).__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def make_stopping_rule(
    name: str, direction: str, options: Mapping[str, Any] | None = None
) -> StoppingRule | None:
    """Build a rule by name (``off`` gives ``None``), checking its options."""
    options = dict(options or {})
    if name == "off":
        if options:
            raise ConfigError("early_stopping: 'off' takes no options.")
        return None
    cls = RULES.get(name)
    accepted = rule_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"early_stopping: rule {name!r} has no option(s) {unknown}; its options: "
            f"{', '.join(sorted(accepted)) or 'none'}."
        )
    return cls(direction, **options)


def rule_from_setting(setting: Any, direction: str) -> StoppingRule | None:
    """Build the rule a user wrote: ``"off"``, ``"auto"``, ``"asha"`` (``False``/``None`` are
    off), or a mapping ``{"rule": "asha", "reduction_factor": 3, ...}`` with its options.

    Example:
        >>> type(rule_from_setting({"rule": "asha", "min_resource": 2}, "minimize")).__name__
        'ASHARule'
    """
    if setting is None or setting is False:
        return None
    if isinstance(setting, Mapping):
        if "rule" not in setting:
            raise ConfigError(
                f"early_stopping: a mapping needs 'rule' (one of {', '.join(available_rules())}), "
                f"got {dict(setting)!r}."
            )
        options = {str(k): v for k, v in setting.items() if k != "rule"}
        name = setting["rule"]
    else:
        name, options = setting, {}
    if not isinstance(name, str):
        raise ConfigError(
            f"early_stopping: expected one of {', '.join(available_rules())} or a mapping with "
            f"'rule', got {setting!r}."
        )
    return make_stopping_rule(name.strip().lower(), direction, options)


def check_int(rule: str, name: str, value: Any, minimum: int) -> int:
    """Validate an integer option with an error in scikit-learn's form."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"early_stopping.{name}: the {name!r} option of {rule} must be an int in the range "
            f"[{minimum}, inf). Got {value!r} instead."
        )
    return value
