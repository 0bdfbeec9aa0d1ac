"""Contract test suites that authors of strategies (and later other plugins) reuse.

These modules import pytest: use them from tests only. See
:mod:`tuneforge.testing.strategies` for the strategy contract.
"""
