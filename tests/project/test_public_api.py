"""Guard the public names of the transports (as httpx guards its __all__)."""

import importlib

import pytest

import dovecote
import dovecote.chat
import dovecote.push
import dovecote.sms


def test_dovecote_all():
    # A change here is a change of the public API (docs/design): on purpose.
    assert sorted(dovecote.__all__) == [
        "Notification",
        "Recipient",
        "Step",
        "explain_notification",
        "pause_notifications",
        "register",
        "resume_notifications",
        "send_notification",
        "set_delivery_window",
        "set_frequency",
    ]


def test_sms_all():
    assert sorted(dovecote.sms.__all__) == [
        "BaseSmsBackend",
        "Message",
        "get_connection",
        "outbox",
        "send_sms",
    ]


def test_chat_all():
    assert sorted(dovecote.chat.__all__) == [
        "BaseChatBackend",
        "ChatMessage",
        "get_connection",
        "outbox",
        "send_chat",
    ]


def test_push_all():
    assert sorted(dovecote.push.__all__) == [
        "BasePushBackend",
        "PLATFORMS",
        "PushMessage",
        "PushTarget",
        "get_connection",
        "outbox",
        "register_device",
        "send_push",
        "unregister_device",
        "validate_target",
    ]


def test_tracking_all():
    tracking = importlib.import_module("dovecote.tracking")
    assert sorted(tracking.__all__) == [
        "STOP_KEYWORDS",
        "StatusReport",
        "TrackingStatus",
        "report",
        "report_inbound",
    ]
    for name in tracking.__all__:
        assert hasattr(tracking, name), name
    assert [str(s) for s in tracking.TrackingStatus] == [
        "queued",
        "sent",
        "delivered",
        "deferred",
        "bounced",
        "complained",
        "unsubscribed",
        "undelivered",
        "failed",
        "opened",
        "clicked",
    ]


@pytest.mark.parametrize(
    "module", [dovecote, dovecote.sms, dovecote.chat, dovecote.push]
)
def test_all_names_exist(module):
    for name in module.__all__:
        assert hasattr(module, name), name
        assert name in dir(module), name


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("dovecote.sms", ["send_sms", "get_connection", "Message", "outbox"]),
        ("dovecote.sms.signals", ["post_send"]),
        ("dovecote.sms.utils", ["message_from_bytes", "message_from_binary_file"]),
        ("dovecote.sms.backends.base", ["BaseSmsBackend"]),
        ("dovecote.sms.backends.console", ["SmsBackend"]),
        ("dovecote.sms.backends.filebased", ["SmsBackend"]),
        ("dovecote.sms.backends.locmem", ["SmsBackend"]),
        ("dovecote.sms.backends.dummy", ["SmsBackend"]),
        (
            "dovecote.sms.phonenumbers",
            ["normalize_number", "normalize_originator", "encoding_info", "is_gsm7"],
        ),
        ("dovecote.chat.signals", ["post_send"]),
        ("dovecote.chat.validation", ["validate_webhook_url", "redact_webhook_url"]),
        ("dovecote.chat.backends.console", ["ChatBackend"]),
        ("dovecote.chat.backends.filebased", ["ChatBackend"]),
        ("dovecote.chat.backends.locmem", ["ChatBackend"]),
        ("dovecote.chat.backends.dummy", ["ChatBackend"]),
        ("dovecote.push.signals", ["post_send"]),
        ("dovecote.push.backends.base", ["BasePushBackend"]),
        ("dovecote.push.backends.console", ["PushBackend"]),
        ("dovecote.push.backends.filebased", ["PushBackend"]),
        ("dovecote.push.backends.locmem", ["PushBackend"]),
        ("dovecote.push.backends.dummy", ["PushBackend"]),
    ],
)
def test_django_sms_and_dovecote_names_exist(module, names):
    imported = importlib.import_module(module)
    for name in names:
        assert hasattr(imported, name), f"{module}.{name}"


def test_django_sms_signatures_keep_positional_order():
    import inspect

    assert list(inspect.signature(dovecote.sms.send_sms).parameters) == [
        "body",
        "originator",
        "recipients",
        "fail_silently",
        "connection",
    ]
    message = inspect.signature(dovecote.sms.Message).parameters.values()
    assert [p.name for p in message if p.kind != p.KEYWORD_ONLY] == [
        "body",
        "originator",
        "recipients",
        "connection",
    ]
    # Beyond django-sms: keyword-only, so no positional call changes meaning.
    assert [p.name for p in message if p.kind == p.KEYWORD_ONLY] == [
        "content_sid",
        "content_variables",
    ]
    assert list(inspect.signature(dovecote.sms.get_connection).parameters) == [
        "backend",
        "fail_silently",
        "kwargs",
    ]
