"""Search strategies behind one ask/tell interface; look them up by name with ``make_strategy``."""

from tuneforge.strategies.base import (
    STRATEGIES,
    Config,
    Strategy,
    available_strategies,
    make_strategy,
    register,
    strategy_class,
    strategy_options,
)

__all__ = [
    "STRATEGIES",
    "Config",
    "Strategy",
    "available_strategies",
    "make_strategy",
    "register",
    "strategy_class",
    "strategy_options",
]
