"""Plugin registries: names to classes, errors that list the valid names, entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuneforge.errors import ConfigError
from tuneforge.registry import Registry


class Plugin:
    name = ""


def make_registry(group: str = "tuneforge.tests.none") -> Registry[Plugin]:
    return Registry(
        Plugin,
        field="plugin",
        kind="plugin",
        group=group,
        aliases={"quick": "fast"},
        reserved=("off",),
    )


def install(site: Path, module: str, code: str, entry_points: str) -> None:
    """Write a module and a distribution advertising ``entry_points`` into ``site``."""
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_register_names_the_class() -> None:
    """A registered class is found under its name and knows that name."""
    plugins = make_registry()

    @plugins.register("fast")
    class Fast(Plugin):
        pass

    assert plugins.get("fast") is Fast and Fast.name == "fast"
    assert "fast" in plugins and "slow" not in plugins


def test_unknown_name_lists_the_valid_names() -> None:
    """An unknown name is a ConfigError naming the field and every valid name, sorted."""
    plugins = make_registry()
    plugins.register("fast")(type("Fast", (Plugin,), {}))
    plugins.register("careful")(type("Careful", (Plugin,), {}))
    with pytest.raises(ConfigError) as info:
        plugins.get("slow")
    assert str(info.value) == (
        "plugin: unknown plugin 'slow'; expected one of careful, fast, off, quick."
    )


def test_aliases_and_reserved_names() -> None:
    """An alias finds the class it names; a reserved name is listed but has no class."""
    plugins = make_registry()
    fast = plugins.register("fast")(type("Fast", (Plugin,), {}))
    assert plugins.get("quick") is fast
    assert plugins.names() == ["fast", "off", "quick"]
    assert "off" not in plugins
    with pytest.raises(ConfigError, match="unknown plugin 'off'"):
        plugins.get("off")


def test_register_refuses_a_class_of_another_family() -> None:
    """Only subclasses of the registry's base class can be registered."""
    with pytest.raises(TypeError, match="'odd': Odd must subclass Plugin"):
        make_registry().register("odd")(type("Odd", (), {}))


def test_an_entry_point_naming_a_class_registers_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed distribution's entry point that names a class registers it under its name."""
    install(
        tmp_path,
        "tuneforge_plugin_class",
        """
        from tests.test_registry import Plugin

        class Remote(Plugin):
            pass
        """,
        """
        [tuneforge.tests.plugins]
        remote = tuneforge_plugin_class:Remote
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = make_registry(group="tuneforge.tests.plugins")
    assert plugins.get("remote").__name__ == "Remote"
    assert plugins.get("remote").name == "remote"
    assert "remote" in plugins.names()


def test_installed_strategy_and_rule_are_usable_by_name(tmp_path: Path) -> None:
    """A package with tuneforge.strategies and tuneforge.stopping entry points needs no import."""
    install(
        tmp_path,
        "tuneforge_plugin_module",
        """
        from tuneforge.stopping import CONTINUE, StoppingRule, register as register_rule
        from tuneforge.strategies import Strategy, register

        @register("constant")
        class Constant(Strategy):
            def ask(self):
                return self.space.default()

        @register_rule("never")
        class Never(StoppingRule):
            def decide(self, trial, history):
                return CONTINUE
        """,
        """
        [tuneforge.strategies]
        constant = tuneforge_plugin_module

        [tuneforge.stopping]
        never = tuneforge_plugin_module
        """,
    )
    script = textwrap.dedent(
        """
        from tuneforge.space import Float, SearchSpace
        from tuneforge.stopping import available_rules, make_stopping_rule
        from tuneforge.strategies import available_strategies, make_strategy

        space = SearchSpace({"x": Float(0.0, 1.0)})
        print(make_strategy("constant", space).ask())
        print(type(make_stopping_rule("never", "maximize")).__name__)
        print("constant" in available_strategies(), "never" in available_rules())
        """
    )
    path = os.pathsep.join([str(tmp_path), *sys.path])
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["{'x': 0.5}", "Never", "True True"]
