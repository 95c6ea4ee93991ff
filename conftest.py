"""Root conftest: plugins shared by the whole test suite."""

pytest_plugins = ["dovecote.testing.pytest_plugin", "dovecote.testing.fakes.fixtures"]
