"""System checks of the Celery set-up (dovecote.E070-E076)."""

from __future__ import annotations

import sys

import pytest

from dovecote.checks_celery import check_celery
from tests.celery_backend.test_backend import celery_tasks


def ids(settings, app: str, **options) -> list[str | None]:
    settings.TASKS = celery_tasks(f"tests.celery_backend.apps.{app}", **options)
    return [m.id for m in check_celery()]


def test_a_sound_set_up_passes(settings):
    settings.DOVECOTE_LEASE_SECONDS = 300
    assert ids(settings, "amqp") == []
    assert ids(settings, "redis") == []
    assert ids(settings, "memory") == []


def test_quiet_without_a_celery_backend(settings):
    assert check_celery() == []  # tests.settings: the immediate backend


def test_celery_missing(settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "celery", None)
    assert ids(settings, "amqp") == ["dovecote.E070"]


def test_app_option_wrong(settings):
    assert ids(settings, "not_an_app") == ["dovecote.E071"]
    assert ids(settings, "amqp", colour="blue") == ["dovecote.E071"]


def test_annotations_that_ack_early_are_an_error(settings):
    assert ids(settings, "annotated") == ["dovecote.E073"]


def test_prefetching_is_an_error(settings):
    assert ids(settings, "prefetching") == ["dovecote.E074"]


def test_redis_visibility_timeout_against_eta_cap_and_lease(settings):
    settings.DOVECOTE_LEASE_SECONDS = 300
    settings.DOVECOTE_CELERY_MAX_ETA = 900
    assert ids(settings, "redis_short") == ["dovecote.E075"]  # 600 <= 1200
    settings.DOVECOTE_CELERY_MAX_ETA = 200
    assert ids(settings, "redis_short") == []  # 600 > 500


@pytest.mark.parametrize(
    ("cap", "timeout", "found"),
    [(900, None, []), (1500, None, ["dovecote.E076"]), (1500, 3600, [])],
)
def test_rabbitmq_consumer_timeout_against_eta_cap_and_lease(
    settings, cap, timeout, found
):
    settings.DOVECOTE_LEASE_SECONDS = 300
    settings.DOVECOTE_CELERY_MAX_ETA = cap
    options = {} if timeout is None else {"consumer_timeout": timeout}
    assert ids(settings, "amqp", **options) == found


def test_messages_say_what_to_do(settings):
    settings.TASKS = celery_tasks("tests.celery_backend.apps.prefetching")
    [message] = check_celery()
    assert "CELERY_WORKER_PREFETCH_MULTIPLIER = 1" in str(message.hint)
