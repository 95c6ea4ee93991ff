"""FCM HTTP v1 on the wire: service-account tokens, sends and errors."""

from __future__ import annotations

import json
import threading

import pytest

from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from dovecote.failures import FailureKind, classify_exception
from dovecote.push import PushMessage, PushTarget, get_connection, send_push
from dovecote.testing.fakes.fcm import FakeFCM

FCM = "dovecote.push.backends.fcm.PushBackend"


def token(n: int) -> str:
    return f"fcm-device-{n:04d}-" + "x" * 140


def targets(n: int) -> list[PushTarget]:
    return [PushTarget("fcm", token=token(i)) for i in range(n)]


def test_one_token_fetch_for_many_sends(fake_fcm):
    with get_connection(FCM) as connection:
        for batch in range(3):
            messages = [PushMessage(f"#{batch}", "", [t]) for t in targets(20)]
            assert connection.send_messages(messages) == 20
    # And on a new connection in the same process, the cached token again.
    assert send_push("Later", "", targets(5)) == 1
    assert len(fake_fcm.messages) == 65
    assert fake_fcm.token_fetches == 1


def test_exactly_one_refresh_after_a_401(fake_fcm):
    assert send_push("Warm", "", targets(1)) == 1
    fake_fcm.expire_tokens()
    messages = [PushMessage("After", "", [t]) for t in targets(30)]
    assert get_connection(FCM).send_messages(messages) == 30
    assert fake_fcm.token_fetches == 2
    assert len(fake_fcm.messages) == 31


def test_a_refused_service_account_is_an_auth_failure(fake_fcm):
    assert send_push("Warm", "", targets(1)) == 1
    fake_fcm.revoke_account()
    message = PushMessage("Hi", "", targets(3))
    with pytest.raises(PermanentDeliveryError) as info:
        message.send()
    assert classify_exception(info.value).kind is FailureKind.PROVIDER
    assert {r.http_status for r in message.results} == {401}
    assert not any(r.is_address_gone for r in message.results)
    assert "invalid_grant" in message.results[0].error_message
    # The service account's key never reaches an error.
    assert "PRIVATE KEY" not in str(info.value)


def test_the_message_and_its_platform_blocks(fake_fcm):
    send_push(
        "Title",
        "Body",
        targets(1),
        url="https://example.com/a",
        data={"n": 1},
        ttl=300,
        urgency="high",
        collapse_key="news",
    )
    (message,) = fake_fcm.messages
    assert message["token"] == token(0)
    assert message["notification"] == {"title": "Title", "body": "Body"}
    assert message["data"] == {"n": "1", "url": "https://example.com/a"}
    assert message["android"] == {
        "ttl": "300s",
        "priority": "HIGH",
        "collapse_key": "news",
    }
    assert message["apns"]["headers"]["apns-priority"] == "10"
    assert message["apns"]["headers"]["apns-collapse-id"] == "news"
    assert message["webpush"] == {
        "headers": {"TTL": "300", "Urgency": "high", "Topic": "news"},
        "fcm_options": {"link": "https://example.com/a"},
    }


@pytest.mark.parametrize(
    "code", ["UNREGISTERED", "SENDER_ID_MISMATCH", "INVALID_ARGUMENT"]
)
def test_one_dead_token_among_100(fake_fcm, code):
    hundred = targets(100)
    fake_fcm.set_error(hundred[3].token, code)
    message = PushMessage("Hi", "", hundred)
    assert get_connection(FCM, fail_silently=True).send_messages([message]) == 1
    assert len(fake_fcm.messages) == 99
    failed = [r for r in message.results if r.status == "failed"]
    assert [(r.recipient, r.error_code) for r in failed] == [(hundred[3].token, code)]
    assert failed[0].is_address_gone
    assert sum(r.status == "sent" for r in message.results) == 99


def test_invalid_argument_about_the_payload_is_not_gone(fake_fcm):
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "status": "INVALID_ARGUMENT",
                "message": "Invalid value at 'message.data'",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": "message.data"}],
                    }
                ],
            }
        }
    )
    assert send_push("Warm", "", targets(1)) == 1
    fake_fcm.fail_next(1, 400, body=body)
    message = PushMessage("Hi", "", targets(1))
    assert message.send(fail_silently=True) == 0
    assert message.results[0].error_code == "INVALID_ARGUMENT"
    assert not message.results[0].is_address_gone


def test_quota_is_transient_with_retry_after(fake_fcm):
    assert send_push("Warm", "", targets(1)) == 1
    fake_fcm.rate_limit_next(1, retry_after=30)
    message = PushMessage("Hi", "", targets(1))
    with pytest.raises(TransientDeliveryError) as info:
        message.send()
    assert info.value.retry_after == 30


def test_service_account_from_a_file(fake_fcm, settings, tmp_path):
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(fake_fcm.service_account))
    settings.PUSH_FCM_SERVICE_ACCOUNT = str(path)
    assert send_push("Hi", "", targets(1)) == 1


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("/nonexistent/sa.json", "cannot be read"),
        ({"client_email": "x@y"}, "lacks private_key, project_id"),
        (42, "must be the service account"),
    ],
)
def test_bad_service_accounts_are_clear_errors(settings, value, match):
    settings.PUSH_FCM_SERVICE_ACCOUNT = value
    with pytest.raises(Exception, match=match):
        get_connection(FCM)


def test_missing_service_account_names_the_setting(settings):
    settings.PUSH_FCM_SERVICE_ACCOUNT = None
    with pytest.raises(Exception, match="PUSH_FCM_SERVICE_ACCOUNT"):
        get_connection(FCM)


def test_fake_refuses_an_assertion_signed_by_another_key(fake_fcm):
    other = FakeFCM()  # another RSA key, same names
    account = {**other.service_account, "token_uri": f"{fake_fcm.base_url}/token"}
    account["client_email"] = fake_fcm.client_email
    account["private_key_id"] = fake_fcm.key_id
    message = PushMessage("Hi", "", targets(1))
    connection = get_connection(FCM, service_account=account, fail_silently=True)
    assert connection.send_messages([message]) == 0
    assert fake_fcm.token_fetches == 0
    assert message.results[0].http_status == 401


def test_connections_in_threads_share_one_token_fetch(fake_fcm):
    # The token endpoint answers slowly, so every thread asks while the
    # first fetch is in flight; they wait for it instead of fetching too.
    fake_fcm.latency = 0.5
    results = []

    def send(first: int) -> None:
        messages = [PushMessage("Hi", "", [t]) for t in targets(first + 5)[first:]]
        results.append(get_connection(FCM).send_messages(messages))

    threads = [threading.Thread(target=send, args=(i * 5,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [5, 5, 5, 5]
    assert fake_fcm.token_fetches == 1
