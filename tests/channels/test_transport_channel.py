"""TransportChannel: a channel on a transport package is its message shape."""

from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from dovecote import chat
from dovecote.channels import Outcome, Rendered, TransportChannel
from dovecote.channels.transport import delivery_idempotency_key
from dovecote.failures import FailureKind
from dovecote.models import Delivery

HOOK = "https://hooks.slack.com/services/T000/B000/XXXX"
LOCMEM = "dovecote.chat.backends.locmem.ChatBackend"
SLACK = "dovecote.chat.backends.slack.ChatBackend"


class ShoutChannel(TransportChannel):
    """Only the message shape: upper-case text through dovecote.chat."""

    name = "shout"
    protocol = "slack-webhook"
    transport = chat
    backend_setting = "CHAT_BACKEND"
    timeout_setting = "CHAT_TIMEOUT"
    concurrency_setting = "CHAT_CONCURRENCY"

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        return Rendered(body="hi")

    def build_message(self, delivery: Any, connection: Any) -> chat.ChatMessage:
        return chat.ChatMessage(
            delivery.body.upper(), [delivery.address], connection=connection
        )


def delivery(pk: int, address: str = HOOK) -> Delivery:
    return Delivery(
        pk=pk, body=f"hello {pk}", address=address, created_at=timezone.now()
    )


@override_settings(CHAT_BACKEND=LOCMEM)
def test_a_batch_goes_out_in_one_call_with_delivery_metadata():
    chat.outbox.clear()
    deliveries = [delivery(1), delivery(2)]
    outcomes = ShoutChannel().send_batch(deliveries, LOCMEM)
    assert [o.is_sent for o in outcomes] == [True, True]
    assert [o.backend for o in outcomes] == [LOCMEM, LOCMEM]
    assert [m.text for m in chat.outbox] == ["HELLO 1", "HELLO 2"]
    assert [m.metadata["delivery_id"] for m in chat.outbox] == [1, 2]
    assert chat.outbox[0].metadata["idempotency_key"] == delivery_idempotency_key(
        deliveries[0]
    )


def test_settings_name_the_default_backend_timeout_and_concurrency():
    channel = ShoutChannel()
    with override_settings(CHAT_BACKEND=SLACK, CHAT_TIMEOUT=3, CHAT_CONCURRENCY=7):
        assert channel.default_backend() == SLACK
        assert channel.backend_paths() == [SLACK]
        assert channel.send_timeout() == 3.0
        # A pooled HTTP backend bounds its requests in flight ...
        assert channel.backend_concurrency() == 7
    with override_settings(CHAT_BACKEND=LOCMEM, CHAT_CONCURRENCY=7):
        # ... a development backend does not.
        assert channel.backend_concurrency() is None
    assert ShoutChannel(send_timeout=1.5).send_timeout() == 1.5


def test_a_channel_without_a_transport_says_what_is_missing():
    class Bare(TransportChannel):
        name = "bare"
        backend_setting = "CHAT_BACKEND"

    with pytest.raises(NotImplementedError, match="Bare must set 'transport'"):
        Bare().send_batch([delivery(1)], LOCMEM)


def test_a_channel_without_build_message_says_so():
    class NoShape(TransportChannel):
        name = "no-shape"
        transport = chat

    with pytest.raises(NotImplementedError, match="NoShape must implement build_m"):
        NoShape().send_batch([delivery(1)], LOCMEM)


@pytest.mark.parametrize(
    ("kind", "is_transient", "may_fail_over"),
    [
        (FailureKind.TRANSIENT, True, True),
        (FailureKind.PROVIDER, False, True),
        (FailureKind.PERMANENT, False, False),
    ],
)
def test_an_outcome_derives_its_flags_from_its_failure_kind(
    kind, is_transient, may_fail_over
):
    outcome = Outcome.failure(1, kind, "boom", retry_after=30)
    assert (outcome.kind, outcome.is_transient, outcome.may_fail_over) == (
        kind,
        is_transient,
        may_fail_over,
    )
    # Only a transient failure asks to wait before a retry.
    assert outcome.retry_after == (30 if is_transient else None)


def test_a_sent_outcome_has_no_failure_kind():
    outcome = Outcome.sent(1, provider_message_id="m1")
    assert (outcome.is_sent, outcome.kind, outcome.may_fail_over) == (True, None, False)
    with pytest.raises(ValueError, match="no FailureKind"):
        Outcome(1, "sent", kind=FailureKind.TRANSIENT)


def test_a_failed_outcome_without_a_kind_is_permanent():
    assert Outcome(1, "failed").kind is FailureKind.PERMANENT
    with pytest.raises(ValueError, match="not 'queued'"):
        Outcome(1, "queued")
