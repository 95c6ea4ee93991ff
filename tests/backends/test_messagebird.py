"""MessageBird SMS backend against a local fake of its REST API."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from dovecote import sms
from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from tests.backends.contract import SENDER, UK, UK_OTHER, SmsBackendContract

BACKEND = "dovecote.sms.backends.messagebird.SmsBackend"


def connect(fake, **kwargs):
    kwargs.setdefault("base_url", fake.base_url)
    return sms.get_connection(BACKEND, **{**fake.credentials, **kwargs})


def uk_numbers(n):
    return [f"+4411349{i:05d}" for i in range(n)]


class TestMessageBirdSmsBackend(SmsBackendContract):
    backend_path = BACKEND

    @pytest.fixture(autouse=True)
    def _fake(self, fake_messagebird):
        self.fake = fake_messagebird

    def connection_kwargs(self):
        return {"base_url": self.fake.base_url, **self.fake.credentials}

    def sent(self):
        return self.fake.sent()


def test_posts_json_with_access_key_header(fake_messagebird):
    sms.send_sms("Hello", SENDER, [UK], connection=connect(fake_messagebird))
    (request,) = fake_messagebird.requests
    assert (request.method, request.path) == ("POST", "/messages")
    assert (
        request.headers["Authorization"] == f"AccessKey {fake_messagebird.access_key}"
    )
    assert request.json == {
        "originator": SENDER,
        "body": "Hello",
        "recipients": [UK[1:]],
    }


def test_recipients_are_batched_fifty_per_request(fake_messagebird):
    numbers = uk_numbers(120)
    message = sms.Message("Hello", SENDER, numbers)
    assert connect(fake_messagebird).send_messages([message]) == 1
    sizes = [len(r.json["recipients"]) for r in fake_messagebird.requests]
    assert sizes == [50, 50, 20]
    assert [r.recipient for r in message.results] == numbers
    assert all(r.status == "sent" for r in message.results)


def test_recipients_of_one_request_share_its_message_id(fake_messagebird):
    message = sms.Message("Hello", SENDER, [UK, UK_OTHER])
    connect(fake_messagebird).send_messages([message])
    first, second = message.results
    assert len(first.message_id) == 32
    assert first.message_id == second.message_id


def test_bad_access_key_surfaces_messagebird_code_2(fake_messagebird):
    message = sms.Message("Hello", SENDER, [UK])
    with pytest.raises(PermanentDeliveryError) as caught:
        connect(fake_messagebird, access_key="wrong").send_messages([message])
    result = message.results[0]
    assert (result.error_code, result.http_status) == ("2", 401)
    assert "incorrect access_key" in result.error_message
    assert "parameter access_key" in str(caught.value)


def test_server_error_is_transient(fake_messagebird):
    fake_messagebird.fail_next(1, status=500)
    message = sms.Message("Hello", SENDER, [UK])
    with pytest.raises(TransientDeliveryError):
        connect(fake_messagebird).send_messages([message])
    assert message.results[0].error_code == "99"


def test_rate_limit_applies_to_every_recipient_of_the_batch(fake_messagebird):
    fake_messagebird.rate_limit_next(retry_after=3)
    message = sms.Message("Hello", SENDER, [UK, UK_OTHER])
    connect(fake_messagebird, fail_silently=True).send_messages([message])
    assert [(r.is_transient, r.retry_after) for r in message.results] == [
        (True, 3.0),
        (True, 3.0),
    ]


def test_missing_access_key_names_the_setting():
    with pytest.raises(ImproperlyConfigured, match="MESSAGEBIRD_ACCESS_KEY"):
        sms.get_connection(BACKEND)
