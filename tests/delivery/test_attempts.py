"""An attempt is spent when the request is made, not when the row is claimed.

A worker killed after sending 40 of the 100 deliveries it had claimed left
the other 60 untouched: they go back to the queue and are sent, even with
``DOVECOTE_MAX_ATTEMPTS = 1``; only a delivery whose request had started
(it may have reached the provider) is failed as "worker lost".

The worker is "killed" in process: the channel raises an exception that no
part of dovecote catches (as SIGKILL stops everything), in a test
transaction, so chunks are sent one after another in this thread and
outcomes are written after each chunk (``DOVECOTE_FLUSH_COUNT`` = the chunk).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from dovecote.delivery.recovery import recover
from dovecote.delivery.worker import deliver
from dovecote.models import Delivery
from dovecote.signals import post_deliver
from tests.delivery import channels
from tests.delivery.conftest import sent_ids


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing in dovecote catches it."""


@pytest.fixture
def killed_after(settings, monkeypatch):
    settings.DOVECOTE_MAX_ATTEMPTS = 1
    settings.DOVECOTE_SEND_CHUNK = 10
    settings.DOVECOTE_FLUSH_COUNT = 10
    settings.DOVECOTE_FLUSH_INTERVAL = 3600.0
    original = channels.RecordingChannel.send
    state = {"armed": True}

    def arm(requests: int, *, in_flight: bool):
        if in_flight:
            # Killed while the next chunk's requests are out: they reach
            # the provider, their answers never arrive.
            def send(self, deliveries):
                if state["armed"] and len(sent_ids()) >= requests:
                    original(self, deliveries)
                    raise WorkerKilled
                return original(self, deliveries)

            monkeypatch.setattr(channels.RecordingChannel, "send", send)
            return

        # Killed between chunks: right after the outcomes of the first
        # ``requests`` were written, before the next chunk starts.
        def on_outcome(**kwargs):
            if state["armed"] and len(sent_ids()) >= requests:
                raise WorkerKilled

        post_deliver.connect(on_outcome, weak=False, dispatch_uid="killed_after")
        disconnect.append(lambda: post_deliver.disconnect(dispatch_uid="killed_after"))

    def revive():
        state["armed"] = False
        Delivery.objects.filter(status="sending").update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )

    disconnect: list[Callable[[], object]] = []
    yield arm, revive
    for undo in disconnect:
        undo()


@pytest.mark.django_db
def test_a_killed_worker_leaves_unsent_rows_to_be_sent(make_deliveries, killed_after):
    arm, revive = killed_after
    rows = make_deliveries(100)
    arm(40, in_flight=False)
    with pytest.raises(WorkerKilled):
        deliver([d.pk for d in rows])
    assert len(sent_ids()) == 40
    assert Delivery.objects.filter(status="sending").count() == 60
    revive()
    result = recover(grace=0)
    assert len(result.taken_over) == 60 and result.failed == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert sorted(sent_ids()) == sorted(d.pk for d in rows)  # each once
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_a_request_in_flight_when_killed_spends_the_attempt(
    make_deliveries, killed_after
):
    arm, revive = killed_after
    rows = make_deliveries(100)
    arm(40, in_flight=True)
    with pytest.raises(WorkerKilled):
        deliver([d.pk for d in rows])
    in_flight = sent_ids()[40:]
    assert len(in_flight) == 10
    revive()
    result = recover(grace=0)
    # The ten whose requests went out may have been delivered: with one
    # attempt allowed they fail; the fifty never tried are sent.
    assert sorted(result.failed) == sorted(in_flight)
    failed = Delivery.objects.filter(status="failed")
    assert sorted(failed.values_list("pk", flat=True)) == sorted(in_flight)
    assert all("may have been sent" in d.last_error for d in failed)
    assert Delivery.objects.filter(status="sent").count() == 90
