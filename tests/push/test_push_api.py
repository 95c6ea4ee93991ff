"""dovecote.push: the message, send_push, routing by platform, dev backends."""

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured

import dovecote.push
from dovecote.exceptions import (
    InvalidAddress,
    PayloadTooLarge,
    PermanentDeliveryError,
)
from dovecote.push import PushMessage, PushTarget, get_connection, send_push
from dovecote.push.backends.base import display_target
from dovecote.push.backends.platforms import backend_path
from dovecote.push.signals import post_send
from dovecote.testing import LOCMEM_BACKENDS, Outbox, locmem_backends, reset_outboxes
from tests.push.keys import APNS_TOKEN, FCM_TOKEN, subscription_keys, webpush_target

LOCMEM = "dovecote.push.backends.locmem.PushBackend"
APNS = PushTarget("apns", token=APNS_TOKEN, app="com.example.app")
FCM = PushTarget("fcm", token=FCM_TOKEN)


@pytest.fixture
def received():
    calls = []

    def receiver(**kwargs):
        calls.append(kwargs)

    post_send.connect(receiver)
    yield calls
    post_send.disconnect(receiver)


def test_send_push_reaches_every_platform_through_its_backend(received):
    web = webpush_target()
    assert send_push("Hi", "There", [web, APNS, FCM], url="https://x.example/") == 1
    # One part per platform reaches the locmem outbox, one signal per message.
    assert len(dovecote.push.outbox) == 3
    assert {m.recipients[0].platform for m in dovecote.push.outbox} == {
        "webpush",
        "apns",
        "fcm",
    }
    assert len(received) == 1
    assert received[0]["sender"] is PushMessage


def test_results_are_per_target_in_order():
    web = webpush_target()
    message = PushMessage("Hi", "There", [FCM, web, APNS])
    assert message.send() == 1
    assert [r.recipient for r in message.results] == [
        FCM_TOKEN,
        web.endpoint,
        APNS_TOKEN,
    ]
    assert all(r.status == "sent" for r in message.results)


def test_subscriptions_are_read_as_webpush_targets():
    _key, p256dh, auth = subscription_keys()
    sub = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/x",
        "keys": {"p256dh": p256dh, "auth": auth},
    }
    message = PushMessage("Hi", "", [sub])
    assert message.recipients[0].platform == "webpush"


def test_get_connection_picks_the_platform_backend(settings):
    settings.PUSH_BACKENDS = {"apns": "dovecote.push.backends.dummy.PushBackend"}
    connection = get_connection(platform="apns")
    assert connection.provider_name == "dummy"
    with pytest.raises(ImproperlyConfigured, match=r'PUSH_BACKENDS\["fcm"\]'):
        get_connection(platform="fcm")
    with pytest.raises(ValueError, match="Unknown push platform"):
        get_connection(platform="gcm")
    assert get_connection(LOCMEM).provider_name == "locmem"


def test_default_backends_are_the_providers(settings):
    del settings.PUSH_BACKENDS
    from dovecote.conf import setting

    assert setting("PUSH_BACKENDS") == {
        "webpush": "dovecote.push.backends.webpush.PushBackend",
        "fcm": "dovecote.push.backends.fcm.PushBackend",
        "apns": "dovecote.push.backends.apns.PushBackend",
    }


def test_unknown_keyword_is_refused():
    with pytest.raises(TypeError, match="bakends"):
        get_connection(bakends={})


def test_an_invalid_target_never_stops_the_others(received):
    bad = PushTarget("apns", token="not-hex")
    message = PushMessage("Hi", "", [bad, FCM])
    with pytest.raises(InvalidAddress, match="hexadecimal"):
        message.send()
    assert [(r.recipient, r.status) for r in message.results] == [
        ("not-hex", "invalid"),
        (FCM_TOKEN, "sent"),
    ]
    assert len(received) == 1
    assert PushMessage("Hi", "", [bad, FCM]).send(fail_silently=True) == 1


def test_oversize_payload_raises_before_any_backend_call():
    message = PushMessage("Hi", "x" * 3990, [webpush_target()])
    assert message.payload_size("webpush") > 3993
    with pytest.raises(PayloadTooLarge, match="at most 3,993"):
        message.send(fail_silently=True)
    assert dovecote.push.outbox == []


def test_payload_limits_per_platform():
    # Web Push's limit is lower: 4,000 bytes of body fit APNs' 4,096 only.
    message = PushMessage("", "x" * 4000, [APNS])
    with pytest.raises(PayloadTooLarge):
        message.check("webpush")
    message.check("apns")
    message.check("fcm")
    message.body = "x" * 4100
    with pytest.raises(PayloadTooLarge, match="apns"):
        message.check("apns")
    with pytest.raises(PayloadTooLarge, match="fcm"):
        message.check("fcm")


def test_oversize_on_a_connection_fails_that_platform_only():
    message = PushMessage("", "é" * 2020, [webpush_target(), APNS])
    with pytest.raises(PermanentDeliveryError, match="payload"):
        get_connection(LOCMEM).send_messages([message])
    statuses = {r.error_code or r.status for r in message.results}
    assert statuses == {"payload_too_large", "sent"}


def test_payloads_per_platform():
    message = PushMessage(
        "Title",
        "Body",
        url="https://example.com/a",
        icon="/icon.png",
        data={"n": 1, "s": "x"},
        collapse_key="news",
    )
    assert message.payload("webpush") == {
        "title": "Title",
        "body": "Body",
        "url": "https://example.com/a",
        "icon": "/icon.png",
        "data": {"n": 1, "s": "x"},
        "tag": "news",
    }
    assert message.payload("fcm") == {
        "notification": {"title": "Title", "body": "Body"},
        "data": {
            "n": "1",
            "s": "x",
            "url": "https://example.com/a",
            "icon": "/icon.png",
        },
    }
    assert message.payload("apns") == {
        "aps": {"alert": {"title": "Title", "body": "Body"}},
        "n": 1,
        "s": "x",
        "url": "https://example.com/a",
    }
    assert json.loads(message.payload_bytes("apns")) == message.payload("apns")
    silent = PushMessage(data={"k": "v"})
    assert silent.apns_push_type == "background"
    assert silent.payload("apns") == {"aps": {"content-available": 1}, "k": "v"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"urgency": "urgent"}, "urgency"),
        ({"ttl": -1}, "ttl"),
        ({"push_type": "loud"}, "push_type"),
    ],
)
def test_bad_message_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PushMessage("Hi", **kwargs)


def test_recipients_must_be_a_list():
    with pytest.raises(TypeError, match="list or tuple"):
        PushMessage("Hi", "", APNS)  # type: ignore[arg-type]


def test_reserved_data_keys_and_bad_topics_are_clear_errors():
    with pytest.raises(ValueError, match="reserves the data key 'from'"):
        PushMessage("Hi", data={"from": "x"}).check("fcm")
    with pytest.raises(ValueError, match='reserves the key "aps"'):
        PushMessage("Hi", data={"aps": {}}).check("apns")
    with pytest.raises(ValueError, match="Topic"):
        PushMessage("Hi", collapse_key="a" * 33).check("webpush")
    PushMessage("Hi", collapse_key="a" * 33).check("fcm")
    with pytest.raises(ValueError, match="64 bytes"):
        PushMessage("Hi", collapse_key="é" * 33).check("apns")


def test_no_recipients_sends_nothing(received):
    assert PushMessage("Hi").send() == 0
    assert received == []


def test_console_backend_writes_a_record_per_target():
    stream = io.StringIO()
    web = webpush_target()
    connection = get_connection(
        "dovecote.push.backends.console.PushBackend", stream=stream
    )
    message = PushMessage("Hi", "There", [web, APNS])
    assert connection.send_messages([message]) == 1
    text = stream.getvalue()
    assert "platform: webpush\nto: https://fcm.googleapis.com/fcm/…\n" in text
    assert f"platform: apns\nto: {APNS_TOKEN[:8]}…" in text
    assert '{"title":"Hi","body":"There"}' in text
    assert web.endpoint not in text


def test_file_backend_writes_the_records(tmp_path, settings):
    settings.PUSH_FILE_PATH = str(tmp_path)
    with get_connection("dovecote.push.backends.filebased.PushBackend") as conn:
        conn.send_messages([PushMessage("Hi", "There", [FCM])])
    (log,) = tmp_path.iterdir()
    assert "platform: fcm" in log.read_text()


def test_dummy_backend_reports_sent():
    message = PushMessage("Hi", "", [FCM])
    assert get_connection("dovecote.push.backends.dummy.PushBackend").send_messages(
        [message]
    )
    assert message.results[0].status == "sent"
    assert dovecote.push.outbox == []


def test_connection_reused_across_platforms_and_closed():
    with get_connection() as connection:
        connection.send_messages([PushMessage("a", "", [FCM, APNS])])
        connection.send_messages([PushMessage("b", "", [FCM])])
    assert len(dovecote.push.outbox) == 3


def test_display_target_hides_secrets():
    assert display_target("https://fcm.googleapis.com/fcm/send/secret") == (
        "https://fcm.googleapis.com/fcm/…"
    )
    assert display_target(APNS_TOKEN) == "aaaaaaaa…aaaa"
    assert display_target("short") == "short"


def test_testing_kit_switches_push_to_locmem(settings):
    assert set(LOCMEM_BACKENDS["PUSH_BACKENDS"].values()) == {LOCMEM}
    del settings.PUSH_BACKENDS  # the providers, by default
    assert backend_path("fcm") == "dovecote.push.backends.fcm.PushBackend"
    with locmem_backends():
        assert backend_path("fcm") == LOCMEM
        send_push("Hi", "", [FCM])
    assert len(Outbox().push) == 1
    reset_outboxes()
    assert Outbox().push == []
