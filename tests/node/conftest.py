"""The bundle world fixture, for tests that need real cases in several states."""

from tests.bundles.conftest import bw  # noqa: F401
