"""Outcomes are written as they arrive, and a failed outcome write is retried.

Deterministic: the channel's second chunk waits on a threading.Event that
the test sets only after it has seen the first chunk's rows ``sent`` in the
database; the database error is injected into the first outcome write (an
``execute_wrapper`` that fails the UPDATE writing ``sent``), not timed.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection

from dovecote.delivery.worker import deliver
from dovecote.models import Delivery
from tests.delivery import channels
from tests.delivery.conftest import sent_ids

pytestmark = pytest.mark.django_db(transaction=True)

#: A generous bound on waiting for a state (never a duration asserted).
BOUND = 60.0


@pytest.fixture
def gated(settings):
    settings.DOVECOTE_CHANNELS = [
        {
            "BACKEND": "tests.delivery.channels.GatedChannel",
            # One lane: the second chunk starts after the first is sent.
            "OPTIONS": {"parallel_sends": 1, "send_timeout": 5.0},
        }
    ]
    settings.DOVECOTE_SEND_CHUNK = 3
    channels.reset_gate()
    yield
    channels.GatedChannel.release.set()  # never leave a sender waiting
    channels.reset_gate()


def statuses(pks):
    return list(
        Delivery.objects.filter(pk__in=pks)
        .order_by("pk")
        .values_list("status", flat=True)
    )


def wait_for(predicate, what: str):
    deadline = time.monotonic() + BOUND
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_first_chunks_rows_are_sent_while_the_second_chunk_is_sending(
    gated, make_deliveries
):
    rows = make_deliveries(6, channel="gated")
    ids = [d.pk for d in rows]
    errors: list[BaseException] = []

    def work():
        try:
            deliver(ids)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert channels.GatedChannel.second_entered.wait(BOUND), "no second chunk"
        first, second = channels.sent_batches[0], sorted(set(ids) - set(sent_ids()))
        assert len(first) == 3 and len(second) == 3
        # The second chunk is held in send(): the first chunk's outcomes
        # must reach the database without waiting for it.
        wait_for(lambda: statuses(first) == ["sent"] * 3, "the first chunk sent")
        assert statuses(second) == ["sending"] * 3
    finally:
        channels.GatedChannel.release.set()
        worker.join(BOUND)
    assert not worker.is_alive() and not errors, errors
    assert statuses(ids) == ["sent"] * 6
    assert sorted(sent_ids()) == sorted(ids)  # each handed to the channel once


class FailFirstOutcomeWrite:
    """Fail the first UPDATE that writes ``sent`` to deliveries, once."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, list[object]]] = []

    def __call__(self, execute, sql, params, many, context):
        rows = list(params or ()) if many else [params or ()]
        if (
            not self.failed
            and sql.lstrip().upper().startswith("UPDATE")
            and "dovecote_delivery" in sql
            and "sent_at" in sql
            and any("sent" in [str(value) for value in row] for row in rows)
        ):
            self.failed.append((sql, rows))
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


def test_a_failed_outcome_write_is_retried_and_nothing_is_sent_twice(
    make_deliveries, caplog
):
    rows = make_deliveries(5)
    ids = [d.pk for d in rows]
    fail = FailFirstOutcomeWrite()
    with (
        caplog.at_level("WARNING", "dovecote.delivery"),
        connection.execute_wrapper(fail),
    ):
        claimed = deliver(ids)
    assert sorted(d.pk for d in claimed) == ids
    # The statement that failed was the outcome write...
    ((sql, rows_written),) = fail.failed
    assert "sent_at" in sql and "provider_message_id" in sql
    assert len(rows_written) == 5  # the whole group's outcomes, in one write
    assert any(
        "database error while writing 5 outcomes" in r.getMessage()
        for r in caplog.records
    )
    # ...and its retry wrote every outcome, with nothing sent again.
    assert statuses(ids) == ["sent"] * 5
    assert sorted(sent_ids()) == ids
    assert set(
        Delivery.objects.filter(pk__in=ids).values_list(
            "provider_message_id", flat=True
        )
    ) == {f"m{pk}" for pk in ids}
