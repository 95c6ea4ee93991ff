"""dovecote.W023: SQLite shared by several processes needs immediate
transactions and a busy timeout (docs/delivery.md, "SQLite with several
workers"); without them ``send_notification`` fails with "database is
locked" while a worker writes.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from dovecote.dbchecks import check_sqlite_concurrency
from tests.settings import TASKS_MODULE

DB_BACKEND = "django_tasks_db.DatabaseBackend"
IMMEDIATE = f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"
SAFE = {"timeout": 20, "transaction_mode": "IMMEDIATE"}


@pytest.fixture
def database(monkeypatch):
    """Make the default database look like an SQLite one with ``options``."""

    def configure(options, engine="django.db.backends.sqlite3"):
        monkeypatch.setitem(connection.settings_dict, "ENGINE", engine)
        monkeypatch.setitem(connection.settings_dict, "OPTIONS", dict(options))

    return configure


def ids(messages):
    return [m.id for m in messages]


@pytest.mark.parametrize(
    ("options", "missing"),
    [
        ({}, ["'transaction_mode': 'IMMEDIATE'", "'timeout'"]),
        ({"timeout": 20}, ["'transaction_mode': 'IMMEDIATE'"]),
        ({"transaction_mode": "IMMEDIATE"}, ["'timeout'"]),
        ({"timeout": 20, "transaction_mode": "DEFERRED"}, ["'IMMEDIATE'"]),
    ],
)
def test_a_worker_backend_on_sqlite_without_options_warns(
    settings, database, options, missing
):
    settings.TASKS = {"default": {"BACKEND": DB_BACKEND}}
    database(options)
    (warning,) = check_sqlite_concurrency()
    assert warning.id == "dovecote.W023"
    for text in missing:
        assert text in warning.msg + (warning.hint or "")
    assert DB_BACKEND in warning.msg


def test_sqlite_with_immediate_transactions_and_a_timeout_is_quiet(settings, database):
    settings.TASKS = {"default": {"BACKEND": DB_BACKEND}}
    database({**SAFE, "transaction_mode": "immediate"})
    assert check_sqlite_concurrency() == []


def test_the_in_process_backend_on_sqlite_is_quiet(settings, database):
    # One process writes (the web server's, tasks run in it): the default.
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    database({})
    assert check_sqlite_concurrency() == []


def test_another_database_is_quiet(settings, database):
    settings.TASKS = {"default": {"BACKEND": DB_BACKEND}}
    database({}, engine="django.db.backends.postgresql")
    assert check_sqlite_concurrency() == []


@pytest.mark.django_db
def test_the_worker_command_warns_on_sqlite_without_options(settings, database):
    # A dovecote_worker runs beside the web server's process, whatever the
    # task backend.
    settings.TASKS = {"default": {"BACKEND": IMMEDIATE}}
    database({})
    err = StringIO()
    call_command("dovecote_worker", "--exit-when-idle", "--interval", "0", stderr=err)
    assert "dovecote.W023" in err.getvalue()
    database(SAFE)
    err = StringIO()
    call_command("dovecote_worker", "--exit-when-idle", "--interval", "0", stderr=err)
    assert "dovecote.W023" not in err.getvalue()
