"""Early-stopping rules (``off``, ``auto``/``median``, ``asha``) behind one small interface."""

from tuneforge.stopping.base import (
    CONTINUE,
    RULES,
    Decision,
    StoppingRule,
    TrialProgress,
    available_rules,
    make_stopping_rule,
    register,
    rule_from_setting,
)

__all__ = [
    "CONTINUE",
    "RULES",
    "Decision",
    "StoppingRule",
    "TrialProgress",
    "available_rules",
    "make_stopping_rule",
    "register",
    "rule_from_setting",
]
