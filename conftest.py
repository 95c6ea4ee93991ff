"""Root conftest: plugins shared by the whole test suite, and test selection.

``DOVECOTE_DB_TESTS_ONLY=1`` keeps only the tests that touch the database
(the ``db``/``transactional_db`` fixtures, a ``django_db`` or ``database``
marker, a ``postgres`` marker, or a Django ``TransactionTestCase``); the
others deselected. ``scripts/test.sh`` runs everything on SQLite, then only
these on PostgreSQL: a test that touches no database would only repeat.

Tests marked ``celery`` (real brokers, several prefork workers, minutes of
faults) run in the PostgreSQL pass only: on SQLite they are deselected,
not skipped, since a second run per stack would repeat them for nothing.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["dovecote.testing.pytest_plugin", "dovecote.testing.fakes.fixtures"]

DB_FIXTURES = frozenset({"db", "transactional_db", "django_db_setup", "live_server"})
DB_MARKERS = ("django_db", "database", "postgres")


def touches_database(item: pytest.Item) -> bool:
    """Return True if ``item`` uses the test database (see the module doc)."""
    if DB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    if any(item.get_closest_marker(name) for name in DB_MARKERS):
        return True
    cls = getattr(item, "cls", None)
    if cls is not None:
        from django.test import TransactionTestCase

        return issubclass(cls, TransactionTestCase)
    return False


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Deselect what this pass does not run (see the module docstring)."""
    on_postgres = os.environ.get("DOVECOTE_TEST_DB") == "postgres"
    db_only = os.environ.get("DOVECOTE_DB_TESTS_ONLY") == "1"

    def runs_here(item: pytest.Item) -> bool:
        if item.get_closest_marker("celery") and not on_postgres:
            return False
        return touches_database(item) if db_only else True

    keep = [item for item in items if runs_here(item)]
    dropped = [item for item in items if not runs_here(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
