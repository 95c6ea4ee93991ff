"""``post_send`` is sent once per message, by the backend, whoever calls it.

django-sms sends it from ``Message.send()`` only, so a direct
``get_connection().send_messages([...])`` sends none; dovecote's transport
base sends it after every ``send_messages`` call (``sender`` is the
message's class, ``instance`` the message, as in django-sms).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dovecote import chat, sms
from dovecote.chat.signals import post_send as chat_post_send
from dovecote.delivery.worker import deliver
from dovecote.exceptions import InvalidAddress
from dovecote.models import Delivery
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.backends.locmem import SmsBackend as LocmemSmsBackend
from dovecote.sms.signals import post_send

LOCMEM = "dovecote.sms.backends.locmem.SmsBackend"
UK = "+441134960000"
UK_OTHER = "+441134960999"
HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"


@pytest.fixture
def received() -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def receiver(**kwargs: Any) -> None:
        calls.append(kwargs)

    post_send.connect(receiver)
    chat_post_send.connect(receiver)
    yield calls
    post_send.disconnect(receiver)
    chat_post_send.disconnect(receiver)


def test_send_messages_on_a_connection_sends_it_per_message(received):
    first = sms.Message("one", recipients=[UK])
    second = sms.Message("two", recipients=[UK_OTHER])
    assert sms.get_connection(LOCMEM).send_messages([first, second]) == 2
    assert [c["instance"] for c in received] == [first, second]
    assert {c["sender"] for c in received} == {sms.Message}


def test_message_send_sends_it_once(received):
    message = sms.Message("hi", recipients=[UK, UK_OTHER])
    assert message.send() == 1
    assert [(c["sender"], c["instance"]) for c in received] == [(sms.Message, message)]


def test_a_message_that_reached_no_one_sends_none(received):
    # A blank number: the one thing the development backends refuse (they
    # keep any other number as given, as django-sms's did).
    message = sms.Message("hi", recipients=[" "])
    assert message.send(fail_silently=True) == 0
    with pytest.raises(InvalidAddress):
        sms.Message("hi", recipients=[" "]).send()
    assert received == []


def test_subclass_calling_super_sends_it_once(received):
    class Counting(LocmemSmsBackend):
        calls = 0

        def send_messages(self, messages):
            type(self).calls += 1
            return super().send_messages(messages)

    message = sms.Message("hi", recipients=[UK])
    assert Counting().send_messages([message]) == 1
    assert Counting.calls == 1
    assert [c["instance"] for c in received] == [message]


def test_django_sms_style_backend_without_results_still_sends_it(received):
    # A custom backend as django-sms documents it: no per-recipient results.
    class Minimal(BaseSmsBackend):
        provider_name = "minimal"

        def send_messages(self, messages):
            return len(messages)

    message = sms.Message("hi", recipients=[UK], connection=Minimal())
    assert message.send() == 1
    assert [c["instance"] for c in received] == [message]


def test_chat_backend_sends_chat_post_send(received):
    message = chat.ChatMessage("hi", [HOOK])
    connection = chat.get_connection("dovecote.chat.backends.locmem.ChatBackend")
    assert connection.send_messages([message]) == 1
    assert [(c["sender"], c["instance"]) for c in received] == [
        (chat.ChatMessage, message)
    ]


@pytest.mark.django_db
def test_worker_sends_it_once_per_delivered_message(settings, received):
    settings.SMS_BACKEND = LOCMEM
    rows = Delivery.objects.bulk_create(
        Delivery(
            notification="post-send-test",
            channel="sms",
            recipient=f"sms:{i}",
            address=number,
            body=f"hello {i}",
        )
        for i, number in enumerate([UK, UK_OTHER])
    )
    deliver([d.pk for d in rows])
    assert sorted(c["instance"].recipients[0] for c in received) == [UK, UK_OTHER]
    assert {c["sender"] for c in received} == {sms.Message}


@pytest.mark.parametrize("kind", ["locmem", "dummy"])
def test_a_message_without_recipients_sends_none(received, kind):
    # docs/sms.md: sent "once for each message that reached a recipient".
    empty = sms.Message("no one", recipients=[])
    reached = sms.Message("someone", recipients=[UK])
    connection = sms.get_connection(f"dovecote.sms.backends.{kind}.SmsBackend")
    connection.send_messages([empty, reached])
    assert [c["instance"] for c in received] == [reached]


@pytest.mark.parametrize("kind", ["locmem", "dummy"])
def test_a_chat_message_without_recipients_sends_none(received, kind):
    message = chat.ChatMessage("no one", [])
    chat.get_connection(f"dovecote.chat.backends.{kind}.ChatBackend").send_messages(
        [message]
    )
    assert received == []
