"""Vonage SMS backend against a local fake of its SMS API."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from dovecote import sms
from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from tests.backends.contract import SENDER, UK, UK_OTHER, SmsBackendContract

BACKEND = "dovecote.sms.backends.vonage.SmsBackend"


def connect(fake, **kwargs):
    kwargs.setdefault("base_url", fake.base_url)
    return sms.get_connection(BACKEND, **{**fake.credentials, **kwargs})


class TestVonageSmsBackend(SmsBackendContract):
    backend_path = BACKEND

    @pytest.fixture(autouse=True)
    def _fake(self, fake_vonage):
        self.fake = fake_vonage

    def connection_kwargs(self):
        return {"base_url": self.fake.base_url, **self.fake.credentials}

    def sent(self):
        return [("+" + o if o.isdigit() else o, r, b) for o, r, b in self.fake.sent()]


def test_posts_form_with_credentials_and_digits_only_numbers(fake_vonage):
    sms.send_sms("Hello", SENDER, [UK], connection=connect(fake_vonage))
    (request,) = fake_vonage.requests
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.form == {
        "api_key": fake_vonage.api_key,
        "api_secret": fake_vonage.api_secret,
        "from": SENDER[1:],
        "to": UK[1:],
        "text": "Hello",
    }


def test_gsm7_body_is_sent_without_type(fake_vonage):
    sms.send_sms("Price: £5 {ok}", SENDER, [UK], connection=connect(fake_vonage))
    assert "type" not in fake_vonage.requests[0].form


def test_non_gsm7_body_is_sent_as_unicode(fake_vonage):
    sms.send_sms("Cześć 😀", SENDER, [UK], connection=connect(fake_vonage))
    assert fake_vonage.requests[0].form["type"] == "unicode"


def test_multipart_message_keeps_every_part_id(fake_vonage):
    message = sms.Message("x" * 200, SENDER, [UK])
    connect(fake_vonage).send_messages([message])
    ids = message.results[0].message_id.split(",")
    assert len(ids) == 2
    assert all(len(i) == 16 for i in ids)


def test_throttled_status_is_transient(fake_vonage):
    fake_vonage.status_next(1, status="1", text="Throttled")
    message = sms.Message("Hello", SENDER, [UK])
    with pytest.raises(TransientDeliveryError):
        connect(fake_vonage).send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.error_message, result.is_transient) == (
        "1",
        "Throttled",
        True,
    )


def test_internal_error_status_is_transient(fake_vonage):
    fake_vonage.status_next(1, status="5", text="Internal Error")
    message = sms.Message("Hello", SENDER, [UK])
    connect(fake_vonage, fail_silently=True).send_messages([message])
    assert message.results[0].is_transient


def test_bad_credentials_status_4_is_permanent(fake_vonage):
    message = sms.Message("Hello", SENDER, [UK])
    with pytest.raises(PermanentDeliveryError, match="Bad Credentials"):
        connect(fake_vonage, api_secret="wrong").send_messages([message])
    assert message.results[0].error_code == "4"
    assert message.results[0].http_status == 200


def test_barred_number_fails_and_others_are_sent(fake_vonage):
    fake_vonage.barred.add(UK_OTHER[1:])
    message = sms.Message("Hello", SENDER, [UK, UK_OTHER])
    assert connect(fake_vonage, fail_silently=True).send_messages([message]) == 1
    assert [(r.status, r.error_code) for r in message.results] == [
        ("sent", ""),
        ("failed", "7"),
    ]
    # A barred number is gone for good: the channel will deactivate it.
    assert [r.is_address_gone for r in message.results] == [False, True]


def test_http_503_is_transient(fake_vonage):
    fake_vonage.fail_next(1, status=503)
    message = sms.Message("Hello", SENDER, [UK])
    connect(fake_vonage, fail_silently=True).send_messages([message])
    assert (message.results[0].http_status, message.results[0].is_transient) == (
        503,
        True,
    )


@pytest.mark.parametrize("missing", ["VONAGE_API_KEY", "VONAGE_API_SECRET"])
def test_missing_credential_names_the_setting(settings, missing):
    settings.VONAGE_API_KEY = "key"
    settings.VONAGE_API_SECRET = "secret"
    delattr(settings, missing)
    with pytest.raises(ImproperlyConfigured, match=missing):
        sms.get_connection(BACKEND)
