"""Twilio SMS backend against a local fake of Twilio's Messages API."""

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from dovecote import sms
from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from tests.backends.contract import SENDER, UK, UK_OTHER, SmsBackendContract

BACKEND = "dovecote.sms.backends.twilio.SmsBackend"
SERVICE_SID = "MG" + "0" * 31 + "1"


def connect(fake, **kwargs):
    kwargs.setdefault("base_url", fake.base_url)
    return sms.get_connection(BACKEND, **{**fake.credentials, **kwargs})


class TestTwilioSmsBackend(SmsBackendContract):
    backend_path = BACKEND

    @pytest.fixture(autouse=True)
    def _fake(self, fake_twilio):
        self.fake = fake_twilio

    def connection_kwargs(self):
        return {"base_url": self.fake.base_url, **self.fake.credentials}

    def sent(self):
        return self.fake.sent()


def test_posts_form_to_account_messages_with_basic_auth(fake_twilio):
    sms.send_sms("Hello", SENDER, [UK], connection=connect(fake_twilio))
    (request,) = fake_twilio.requests
    assert request.method == "POST"
    assert (
        request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    )
    assert request.form == {"To": UK, "From": SENDER, "Body": "Hello"}
    user_pass = f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode()
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(user_pass).decode()
    )


def test_result_carries_twilio_sid_and_queued_status(fake_twilio):
    message = sms.Message("Hello", SENDER, [UK])
    connect(fake_twilio).send_messages([message])
    (result,) = message.results
    assert result.message_id.startswith("SM") and len(result.message_id) == 34
    assert result.status == "queued"
    assert result.http_status == 201


def test_messaging_service_sid_originator_is_sent_as_messaging_service_sid(
    fake_twilio,
):
    message = sms.Message("Hello", SERVICE_SID, [UK])
    assert connect(fake_twilio).send_messages([message]) == 1
    form = fake_twilio.requests[0].form
    assert form["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in form


def test_status_callback_keyword_is_sent(fake_twilio):
    connection = connect(fake_twilio, status_callback="https://example.com/hook")
    sms.send_sms("Hello", SENDER, [UK], connection=connection)
    assert fake_twilio.requests[0].form["StatusCallback"] == "https://example.com/hook"


def test_status_callback_setting_is_sent(fake_twilio, settings):
    settings.TWILIO_STATUS_CALLBACK = "https://example.com/status"
    sms.send_sms("Hello", SENDER, [UK], connection=connect(fake_twilio))
    assert (
        fake_twilio.requests[0].form["StatusCallback"] == "https://example.com/status"
    )


def test_bad_credentials_surface_twilio_20003(fake_twilio):
    connection = connect(fake_twilio, auth_token="wrong", fail_silently=True)
    message = sms.Message("Hello", SENDER, [UK])
    assert connection.send_messages([message]) == 0
    (result,) = message.results
    assert (result.status, result.error_code, result.http_status) == (
        "failed",
        "20003",
        401,
    )
    assert "Authenticate" in result.error_message
    assert not result.is_transient


def test_number_twilio_rejects_raises_permanent_error_with_its_code(fake_twilio):
    # A number phonenumbers accepts but Twilio refuses: the fake says 21610.
    fake_twilio.unsubscribed.add(UK_OTHER)
    message = sms.Message("Hello", SENDER, [UK, UK_OTHER])
    with pytest.raises(PermanentDeliveryError) as caught:
        connect(fake_twilio).send_messages([message])
    assert "21610" in str(caught.value)
    assert "unsubscribed recipient" in str(caught.value)
    assert [r.status for r in message.results] == ["queued", "failed"]
    assert fake_twilio.sent() == [(SENDER, UK, "Hello")]


def test_service_unavailable_is_transient(fake_twilio):
    fake_twilio.fail_next(1, status=503)
    message = sms.Message("Hello", SENDER, [UK])
    with pytest.raises(TransientDeliveryError) as caught:
        connect(fake_twilio).send_messages([message])
    assert caught.value.status == 503
    assert message.results[0].is_transient
    assert message.results[0].error_code == "20503"


def test_rate_limit_is_transient_with_retry_after_seconds(fake_twilio):
    fake_twilio.rate_limit_next(retry_after=7)
    message = sms.Message("Hello", SENDER, [UK])
    with pytest.raises(TransientDeliveryError) as caught:
        connect(fake_twilio).send_messages([message])
    assert caught.value.retry_after == 7.0
    result = message.results[0]
    assert (result.error_code, result.http_status, result.retry_after) == (
        "20429",
        429,
        7.0,
    )


def test_timeout_is_transient_and_bounded(fake_twilio):
    # The fake answers after 2 s; a client that waited would see "sent".
    fake_twilio.stall_next(1, seconds=2)
    message = sms.Message("Hello", SENDER, [UK])
    connect(fake_twilio, timeout=0.2, fail_silently=True).send_messages([message])
    result = message.results[0]
    assert (result.status, result.error_code, result.is_transient) == (
        "failed",
        "timeout",
        True,
    )


def test_fail_silently_reports_failures_only_in_results(fake_twilio):
    fake_twilio.fail_next(1, status=500)
    message = sms.Message("Hello", SENDER, [UK])
    assert connect(fake_twilio, fail_silently=True).send_messages([message]) == 0
    assert message.results[0].status == "failed"


def test_missing_auth_token_names_the_setting(settings):
    settings.TWILIO_ACCOUNT_SID = "AC123"
    with pytest.raises(ImproperlyConfigured, match="TWILIO_AUTH_TOKEN"):
        sms.get_connection(BACKEND)


def test_missing_account_sid_names_the_setting(settings):
    settings.TWILIO_AUTH_TOKEN = "token"
    with pytest.raises(ImproperlyConfigured, match="TWILIO_ACCOUNT_SID"):
        sms.get_connection(BACKEND)


def test_base_url_setting_is_used_when_no_keyword(fake_twilio, settings):
    settings.TWILIO_BASE_URL = fake_twilio.base_url
    connection = sms.get_connection(BACKEND, **fake_twilio.credentials)
    assert sms.send_sms("Hello", SENDER, [UK], connection=connection) == 1
    assert fake_twilio.count == 1


def test_twilio_from_number_setting_is_the_default_sender(fake_twilio, settings):
    # django-courier's (and django-notifier's example's) settings, unchanged.
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_FROM_NUMBER = SENDER
    settings.DEFAULT_FROM_SMS = None
    settings.TWILIO_BASE_URL = fake_twilio.base_url
    assert sms.send_sms("Hello", None, [UK], connection=sms.get_connection(BACKEND))
    assert fake_twilio.requests[0].form["From"] == SENDER


def test_an_explicit_originator_wins_over_twilio_from_number(fake_twilio, settings):
    settings.TWILIO_FROM_NUMBER = "+12065550199"
    sms.send_sms("Hello", SENDER, [UK], connection=connect(fake_twilio))
    assert fake_twilio.requests[0].form["From"] == SENDER


def test_from_number_keyword_and_messaging_service_sid(fake_twilio, settings):
    settings.DEFAULT_FROM_SMS = None
    connection = connect(fake_twilio, from_number=SERVICE_SID)
    sms.send_sms("Hello", None, [UK], connection=connection)
    assert fake_twilio.requests[0].form["MessagingServiceSid"] == SERVICE_SID


def test_without_any_sender_twilio_names_the_settings(fake_twilio, settings):
    settings.DEFAULT_FROM_SMS = None
    message = sms.Message("Hello", None, [UK])
    assert connect(fake_twilio, fail_silently=True).send_messages([message]) == 0
    assert "DEFAULT_FROM_SMS" in message.results[0].error_message
    assert fake_twilio.requests == []


def test_more_info_link_is_kept_whole_in_the_error(fake_twilio):
    # docs/providers.md: "the text includes more_info"; redaction shortens
    # only URLs that may carry a secret, not Twilio's documentation link.
    fake_twilio.unsubscribed.add(UK_OTHER)
    message = sms.Message("Hello", SENDER, [UK_OTHER])
    with pytest.raises(PermanentDeliveryError) as caught:
        connect(fake_twilio).send_messages([message])
    link = "https://www.twilio.com/docs/errors/21610"
    assert link in str(caught.value)
    assert link in message.results[0].error_message


@pytest.mark.django_db
def test_more_info_link_is_kept_whole_in_last_error(fake_twilio, settings):
    from dovecote.delivery.worker import deliver
    from dovecote.models import Delivery

    settings.SMS_BACKEND = BACKEND
    settings.TWILIO_ACCOUNT_SID = fake_twilio.account_sid
    settings.TWILIO_AUTH_TOKEN = fake_twilio.auth_token
    settings.TWILIO_BASE_URL = fake_twilio.base_url
    settings.DEFAULT_FROM_SMS = SENDER
    fake_twilio.unsubscribed.add(UK_OTHER)
    row = Delivery.objects.create(
        notification="more-info",
        channel="sms",
        recipient="sms:1",
        address=UK_OTHER,
        body="Hello",
    )
    deliver([row.pk])
    row.refresh_from_db()
    assert row.status == "failed"
    assert "(https://www.twilio.com/docs/errors/21610)" in row.last_error
