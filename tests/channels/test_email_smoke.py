"""Django's SMTP backend delivers a multipart message to a local SMTP server."""

import pytest
from django.core import mail
from django.test import override_settings

from tests.mailsettings import email_settings
from tests.smtp import SmtpSink


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def test_smtp_backend_sends_multipart_message(smtp_sink):
    with override_settings(
        **email_settings(
            "django.core.mail.backends.smtp.EmailBackend",
            host="127.0.0.1",
            port=smtp_sink.port,
            use_tls=False,
        )
    ):
        message = mail.EmailMultiAlternatives(
            subject="Grüße from dovecote",
            body="Plain text, ça va?",
            from_email="Dovecote <notify@example.com>",
            to=["ada@example.com"],
            cc=["bob@example.com"],
            headers={"X-Dovecote-Delivery": "42"},
        )
        message.attach_alternative("<p>HTML, <b>ça va?</b></p>", "text/html")
        assert message.send() == 1

    assert len(smtp_sink.messages) == 1
    received = smtp_sink.messages[0]
    assert received["Subject"] == "Grüße from dovecote"
    assert received["From"] == "Dovecote <notify@example.com>"
    assert received["To"] == "ada@example.com"
    assert received["X-Dovecote-Delivery"] == "42"
    assert received.get_content_type() == "multipart/alternative"
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain.get_content().strip() == "Plain text, ça va?"
    assert html.get_content().strip() == "<p>HTML, <b>ça va?</b></p>"
    mail_from, rcpt_tos = smtp_sink.envelopes[0]
    assert mail_from == "notify@example.com"
    assert sorted(rcpt_tos) == ["ada@example.com", "bob@example.com"]


def test_smtp_sink_stops_listening_on_stop(smtp_sink):
    import socket

    port = smtp_sink.port
    smtp_sink.stop()
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))
