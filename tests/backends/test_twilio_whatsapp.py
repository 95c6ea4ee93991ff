"""WhatsApp through Twilio's Messages API, against the fake Twilio."""

import json

import pytest

from dovecote import sms
from dovecote.exceptions import PermanentDeliveryError

BACKEND = "dovecote.sms.backends.twilio.SmsBackend"
WA_FROM = "whatsapp:+14155238886"
TO = "whatsapp:+441134960000"
TEMPLATE = "HX" + "b" * 32


def connect(fake, **kwargs):
    kwargs.setdefault("base_url", fake.base_url)
    return sms.get_connection(BACKEND, **{**fake.credentials, **kwargs})


def test_whatsapp_recipient_gets_whatsapp_to_and_from(fake_twilio):
    message = sms.Message(
        "Your order shipped", "+12065550100", ["whatsapp:+44 113 496 0000"]
    )
    assert (
        connect(fake_twilio, whatsapp_from="+14155238886").send_messages([message]) == 1
    )
    (request,) = fake_twilio.requests
    assert request.form == {"To": TO, "From": WA_FROM, "Body": "Your order shipped"}
    assert message.results[0].recipient == TO
    assert message.results[0].status == "queued"


def test_whatsapp_originator_is_used_as_given(fake_twilio):
    sms.send_sms("hi", WA_FROM, [TO], connection=connect(fake_twilio))
    assert fake_twilio.requests[0].form["From"] == WA_FROM


def test_sms_and_whatsapp_recipients_in_one_message(fake_twilio):
    message = sms.Message("hi", "+12065550100", ["+441134960999", TO])
    connect(fake_twilio, whatsapp_from=WA_FROM).send_messages([message])
    forms = sorted((r.form["To"], r.form["From"]) for r in fake_twilio.requests)
    assert forms == [("+441134960999", "+12065550100"), (TO, WA_FROM)]


def test_without_a_whatsapp_sender_nothing_is_requested(fake_twilio):
    message = sms.Message("hi", "+12065550100", [TO])
    with pytest.raises(PermanentDeliveryError, match="TWILIO_WHATSAPP_FROM"):
        connect(fake_twilio).send_messages([message])
    assert fake_twilio.count == 0


@pytest.mark.parametrize("address", ["whatsapp:+1", "whatsapp:hello", "whatsapp:"])
def test_invalid_whatsapp_numbers_are_refused_before_sending(fake_twilio, address):
    message = sms.Message("hi", WA_FROM, [address])
    connect(fake_twilio, fail_silently=True).send_messages([message])
    assert message.results[0].status == "invalid"
    assert fake_twilio.count == 0


def test_content_template_is_sent_by_sid_and_variables(fake_twilio):
    fake_twilio.whatsapp.templates[TEMPLATE] = "Hi {{1}}, order {{2}} shipped."
    message = sms.Message(
        "",
        WA_FROM,
        [TO],
        content_sid=TEMPLATE,
        content_variables={"1": "Ada", "2": "#42"},
    )
    assert connect(fake_twilio).send_messages([message]) == 1
    form = fake_twilio.requests[0].form
    assert "Body" not in form
    assert form["ContentSid"] == TEMPLATE
    assert json.loads(form["ContentVariables"]) == {"1": "Ada", "2": "#42"}
    assert fake_twilio.requests[0].accepted


@pytest.mark.parametrize(
    ("sid", "variables", "code"),
    [
        ("HX" + "0" * 32, {"1": "x"}, "21655"),
        (TEMPLATE, {"1": ""}, "21656"),
    ],
)
def test_template_errors_are_twilios(fake_twilio, sid, variables, code):
    fake_twilio.whatsapp.templates[TEMPLATE] = "Hi {{1}}"
    message = sms.Message(
        "", WA_FROM, [TO], content_sid=sid, content_variables=variables
    )
    connect(fake_twilio, fail_silently=True).send_messages([message])
    assert message.results[0].error_code == code
    assert not message.results[0].is_address_gone


def test_other_backends_refuse_a_template(fake_vonage):
    message = sms.Message("", "+12065550100", ["+441134960000"], content_sid=TEMPLATE)
    backend = sms.get_connection(
        "dovecote.sms.backends.vonage.SmsBackend",
        base_url=fake_vonage.base_url,
        **fake_vonage.credentials,
        fail_silently=True,
    )
    backend.send_messages([message])
    assert message.results[0].status == "invalid"
    assert "content template" in message.results[0].error_message
    assert fake_vonage.count == 0


def test_freeform_outside_the_24_hour_window_fails_in_the_callback(fake_twilio):
    fake_twilio.whatsapp.open_sessions.add("+441134960999")
    inside, outside = "whatsapp:+441134960999", TO
    for to in (inside, outside):
        sms.send_sms("hi", WA_FROM, [to], connection=connect(fake_twilio))
    statuses = [
        (c["To"], c["MessageStatus"], c.get("ErrorCode")) for c in fake_twilio.callbacks
    ]
    assert statuses == [(inside, "delivered", None), (outside, "failed", "63016")]


def test_stopped_whatsapp_recipient_is_gone(fake_twilio):
    fake_twilio.unsubscribed.add("+441134960000")
    message = sms.Message("hi", WA_FROM, [TO])
    connect(fake_twilio, fail_silently=True).send_messages([message])
    assert (message.results[0].error_code, message.results[0].is_address_gone) == (
        "21610",
        True,
    )


def test_whatsapp_body_over_1600_is_cut_with_a_marker(fake_twilio):
    sms.send_sms("é" * 2000, WA_FROM, [TO], connection=connect(fake_twilio))
    (request,) = fake_twilio.requests
    assert request.accepted
    body = request.form["Body"]
    assert len(body) == 1600 and body.endswith("…")
