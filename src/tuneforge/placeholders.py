"""``${name}`` placeholders in commands, environment values and template files.

Syntax: ``${name}`` is the value of a parameter or static value; ``${name:-text}`` uses
``text`` when ``name`` is inactive in this trial (a conditional parameter); ``$${`` writes
a literal ``${``. Filling is plain text substitution: values are never evaluated, and a
value that itself contains ``${...}`` is inserted literally, not filled again.

Example:
    >>> fill("--lr=${lr} --m=${momentum:-0}", {"lr": 0.1})
    '--lr=0.1 --m=0'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tuneforge.errors import TrialError

#: Placeholders every trial can use besides its parameters and static values;
#: ``resume_dir`` is the folder of the trial it continues, empty when it starts afresh.
BUILTIN_PLACEHOLDERS = ("trial_dir", "trial_number", "job_name", "resume_dir")

_PATTERN = re.compile(r"\$\$\{|\$\{([^}:]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Placeholder:
    name: str
    fallback: str | None


def find(text: str) -> list[Placeholder]:
    """Every placeholder in ``text``, in order; raises ``TrialError`` for a malformed one."""
    found = []
    for match in _PATTERN.finditer(text):
        if match.group(0) == "$${":
            continue
        name = match.group(1)
        if not _NAME.match(name):
            raise TrialError(f"malformed placeholder {match.group(0)!r}: expected ${{name}}.")
        found.append(Placeholder(name, match.group(2)))
    return found


def format_value(value: Any) -> str:
    """How a value appears in a command line: booleans as true/false, floats in full."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def fill(text: str, values: Mapping[str, Any]) -> str:
    """Replace every placeholder in ``text`` with its value from ``values``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, fallback = match.group(1), match.group(2)
        if name in values:
            return format_value(values[name])
        if fallback is not None:
            return fallback
        raise TrialError(
            f"placeholder ${{{name}}} has no value in this trial (an inactive parameter?); "
            f"write ${{{name}:-default}} to give it a fallback."
        )

    return _PATTERN.sub(replace, text)
