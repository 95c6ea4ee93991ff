"""A large fan-out is planned, rendered, written and enqueued chunk by chunk."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import dovecote.sms
from dovecote import Notification, Recipient, register, send_notification
from dovecote.delivery.recovery import recover
from dovecote.exceptions import InvalidAddress, RenderError
from dovecote.models import Address, Delivery, Dispatch
from dovecote.notifications import planning, results
from dovecote.notifications.registry import unregister
from tests.settings import TASKS_MODULE


class FanoutChunks(Notification):
    name = "failover-fanout"
    display_name = "Fan-out in chunks"
    channels = ["sms"]


@pytest.fixture(autouse=True)
def _registered():
    # Registered only while this module's tests run, so other tests'
    # listings of types (preference centre, previews) do not see it.
    register(FanoutChunks)
    yield
    unregister(FanoutChunks)


class Bomb:
    """A context value whose ``explode`` raises, as a broken template would."""

    def explode(self):
        raise ValueError("the last chunk cannot be rendered")


def people(n, *, last_name=""):
    found = [
        Recipient(phone=f"+4411349{i:05d}", name=f"p{i}", email=f"p{i}@example.com")
        for i in range(n)
    ]
    if last_name:
        found[-1].name = last_name
    return found


@pytest.fixture
def chunk_size(monkeypatch):
    def set_size(n):
        monkeypatch.setattr(results, "CHUNK_SIZE", n)

    set_size(10)
    return set_size


@pytest.mark.django_db
def test_each_chunk_is_enqueued_on_commit_on_its_own(
    chunk_size, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = send_notification(
            "failover-fanout", people(35), channels=["sms", "email"]
        )
        assert Delivery.objects.count() == 70
    # 10 + 10 + 10 + 5 recipients, two channels each.
    assert len(callbacks) == 4
    assert len(result) == 70
    assert len(result.queued) == 35
    assert result.reasons() == {"channel_not_enabled": 35}
    assert sorted(m.recipients[0] for m in dovecote.sms.outbox) == sorted(
        p.phone for p in people(35)
    )
    assert set(Delivery.objects.filter(channel="sms").values_list("status")) == {
        ("sent",)
    }


@pytest.mark.django_db(transaction=True)
def test_a_committed_large_send_reports_what_was_sent(chunk_size):
    result = send_notification("failover-fanout", people(25, last_name="Zoe"))
    assert [e.status for e in result] == ["sent"] * 25
    assert len(result.sent) == 25
    (zoe,) = result.for_recipient(
        Recipient(phone="+441134900024", name="Zoe", email="p24@example.com")
    )
    assert zoe.address == "+441134900024"
    assert result.for_recipient("+441134900003")[0].recipient.name == "p3"
    assert len(dovecote.sms.outbox) == 25


@pytest.mark.django_db(transaction=True)
def test_entries_hold_ids_and_load_rows_on_demand(chunk_size):
    result = send_notification("failover-fanout", people(25))
    assert all(e._delivery is None for e in result)
    first = result[0]
    assert first.delivery_id == Delivery.objects.order_by("pk")[0].pk
    row = first.delivery
    assert row is not None
    assert row.body == "Hi p0"
    with CaptureQueriesContext(connection) as ctx:
        rows = result.deliveries
    # One query per chunk of CHUNK_SIZE ids; the first one is loaded already.
    assert len(ctx.captured_queries) == 3
    assert [row.pk for row in rows] == [e.delivery_id for e in result]


@pytest.mark.django_db(transaction=True)
def test_render_error_in_the_last_chunk_writes_and_enqueues_nothing(chunk_size):
    with pytest.raises(RenderError, match="failover-fanout"):
        send_notification(
            "failover-fanout", people(25, last_name="boom"), {"bomb": Bomb()}
        )
    assert Delivery.objects.count() == 0
    assert Dispatch.objects.count() == 0
    assert dovecote.sms.outbox == []


@pytest.mark.django_db
def test_render_error_inside_the_callers_transaction_enqueues_nothing(
    chunk_size, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            Address.objects.count()  # the caller's own work
            with pytest.raises(RenderError):
                send_notification(
                    "failover-fanout", people(25, last_name="boom"), {"bomb": Bomb()}
                )
        assert Delivery.objects.count() == 0
    assert callbacks == []
    assert dovecote.sms.outbox == []


@pytest.mark.django_db(transaction=True)
def test_invalid_address_in_the_last_chunk_writes_nothing(chunk_size):
    recipients = [*people(24), Recipient(phone="12", name="bad")]
    with pytest.raises(InvalidAddress, match="bad"):
        send_notification("failover-fanout", recipients)
    assert Delivery.objects.count() == 0
    assert dovecote.sms.outbox == []


def make_users(n, prefix):
    users = User.objects.bulk_create(
        [
            User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com")
            for i in range(n)
        ]
    )
    Address.objects.bulk_create(
        [
            Address(user=u, protocol="sms", address=f"+4411349{i:05d}")
            for i, u in enumerate(users)
        ]
    )
    return users


def reads(recipients):
    with CaptureQueriesContext(connection) as ctx:
        result = send_notification("failover-fanout", recipients)
    selects = [q for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    return result, len(selects)


@pytest.mark.django_db
def test_reads_grow_per_chunk_not_per_recipient(chunk_size):
    chunk_size(20)
    make_users(80, "u")
    users = User.objects.filter(username__startswith="u").order_by("pk")
    reads(users[:1])  # warm caches (the current Site)
    _, one = reads(users[:20])
    _, two = reads(users[:40])
    result, four = reads(users)
    assert four - two == 2 * (two - one)
    assert 0 < two - one <= 6  # addresses, preferences, groups, suppressions
    assert len(result.queued) == 80
    assert len(result) == 80


@pytest.mark.django_db
def test_users_of_a_large_send_are_loaded_once_per_chunk(chunk_size):
    users = make_users(25, "v")
    result = send_notification(
        "failover-fanout", User.objects.filter(username__startswith="v").order_by("pk")
    )
    assert all(e._recipient is None for e in result)  # pks only
    assert result.for_recipient(users[7])[0].address == "+441134900007"
    with CaptureQueriesContext(connection) as ctx:
        loaded = [e.user for e in result]
    assert len(ctx.captured_queries) == 3  # 25 users, 10 a query
    assert loaded == users


@pytest.mark.django_db
def test_users_of_a_small_send_stay_in_the_result(chunk_size):
    users = make_users(5, "w")
    result = send_notification("failover-fanout", users)
    with CaptureQueriesContext(connection) as ctx:
        assert [e.recipient for e in result] == users
    assert ctx.captured_queries == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sweep", ["recover", "dovecote_requeue"])
def test_send_at_waits_for_the_sweep_with_the_immediate_backend(chunk_size, sweep):
    chunk_size(2)
    later = timezone.now() + datetime.timedelta(hours=1)
    result = send_notification("failover-fanout", people(5), send_at=later)
    assert [e.status for e in result] == ["queued"] * 5
    assert set(Delivery.objects.values_list("available_at", flat=True)) == {later}

    def run_sweep():
        if sweep == "recover":
            recover(grace=0)
        else:
            call_command("dovecote_requeue", "--grace", "0", verbosity=0)

    run_sweep()
    assert dovecote.sms.outbox == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"queued"}

    # The clock moves: the rows come due.
    Delivery.objects.update(available_at=timezone.now() - datetime.timedelta(seconds=1))
    run_sweep()
    assert len(dovecote.sms.outbox) == 5
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    run_sweep()
    assert len(dovecote.sms.outbox) == 5  # once


@pytest.mark.django_db(transaction=True)
def test_send_at_is_passed_to_a_backend_that_can_defer(chunk_size, settings):
    from dovecote.delivery.tasks import backend

    settings.TASKS = {
        "default": {"BACKEND": f"{TASKS_MODULE}.backends.dummy.DummyBackend"}
    }
    backend().clear()
    later = timezone.now() + datetime.timedelta(hours=1)
    send_notification("failover-fanout", people(15), send_at=later)
    enqueued = backend().results
    assert [r.task.run_after for r in enqueued] == [later, later]
    assert sorted(pk for r in enqueued for pk in r.args[0]) == sorted(
        Delivery.objects.values_list("pk", flat=True)
    )


# atomic=False: each chunk commits and is sent as soon as it is written -----


@pytest.fixture
def small_first_chunk(monkeypatch):
    monkeypatch.setattr(planning, "FIRST_CHUNK_SIZE", 3)


@pytest.mark.django_db(transaction=True)
def test_atomic_false_sends_each_chunk_before_the_next_is_rendered(
    chunk_size, small_first_chunk, monkeypatch
):
    seen = {}

    def get_context(self, recipient, context):
        # What had gone out when this recipient's message was rendered.
        seen[recipient.name] = len(dovecote.sms.outbox)
        return context

    monkeypatch.setattr(FanoutChunks, "get_context", get_context)
    result = send_notification("failover-fanout", people(25), atomic=False)
    # Chunks of 3, 6, 10 and 6: each rendered after the ones before it were sent.
    assert [seen[f"p{i}"] for i in (0, 2, 3, 8, 9, 18, 19, 24)] == [
        0, 0, 3, 3, 9, 9, 19, 19,
    ]  # fmt: skip
    assert [e.status for e in result] == ["sent"] * 25
    assert Dispatch.objects.count() == 1
    assert len(dovecote.sms.outbox) == 25


@pytest.mark.django_db(transaction=True)
def test_atomic_false_error_in_a_later_chunk_keeps_the_chunks_before_it(
    chunk_size, small_first_chunk
):
    with pytest.raises(RenderError, match="failover-fanout"):
        send_notification(
            "failover-fanout",
            people(25, last_name="boom"),
            {"bomb": Bomb()},
            atomic=False,
        )
    # 3 + 6 + 10 were committed and sent; the chunk with the error is not.
    assert Delivery.objects.count() == 19
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert len(dovecote.sms.outbox) == 19
    assert Dispatch.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_atomic_false_error_in_the_first_chunk_writes_nothing(
    chunk_size, small_first_chunk
):
    with pytest.raises(RenderError):
        send_notification(
            "failover-fanout",
            people(2, last_name="boom"),
            {"bomb": Bomb()},
            atomic=False,
        )
    assert Delivery.objects.count() == 0
    assert Dispatch.objects.count() == 0


@pytest.mark.django_db
def test_atomic_false_inside_the_callers_transaction_is_all_or_nothing(
    chunk_size, small_first_chunk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic(), pytest.raises(RenderError):
            send_notification(
                "failover-fanout",
                people(25, last_name="boom"),
                {"bomb": Bomb()},
                atomic=False,
            )
        assert Delivery.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_atomic_false_refuses_an_idempotency_key():
    with pytest.raises(ValueError, match="idempotency_key needs atomic=True"):
        send_notification(
            "failover-fanout", people(2), idempotency_key="k1", atomic=False
        )
    assert Dispatch.objects.count() == 0
