"""The public surface: `__all__` is complete and `report` stays cheap to import."""

from __future__ import annotations

import subprocess
import sys
import types

import tuneforge


def test_every_name_in_all_is_importable() -> None:
    """Each name in tuneforge.__all__ resolves to an object."""
    for name in tuneforge.__all__:
        assert getattr(tuneforge, name) is not None, name


def test_all_lists_every_public_name() -> None:
    """Nothing public is reachable from tuneforge that __all__ does not list."""
    for name in tuneforge.__all__:
        getattr(tuneforge, name)  # load every lazy name first
    public = {
        name
        for name, value in vars(tuneforge).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} == set(tuneforge.__all__) - {"__version__"}


def test_report_does_not_import_the_heavy_modules() -> None:
    """`from tuneforge import report` inside a training script loads no numpy or SQLAlchemy."""
    code = (
        "import sys; from tuneforge import report; "
        "print(sorted(m for m in ('numpy', 'sqlalchemy', 'pandas', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
