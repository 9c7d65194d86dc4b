"""Root pytest configuration: shared fixture plugins."""

pytest_plugins = ["tests.support.fixtures"]
