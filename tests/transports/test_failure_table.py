"""The one table sorting send failures: HTTP statuses, SMTP replies, exceptions."""

import smtplib

import pytest
from anymail import exceptions as anymail_exceptions

from dovecote.exceptions import PermanentDeliveryError, TransientDeliveryError
from dovecote.failures import (
    FailureKind,
    classify_exception,
    classify_http_status,
    classify_smtp_code,
    enhanced_status,
    smtp_address_gone,
)

T, P, X = FailureKind.TRANSIENT, FailureKind.PROVIDER, FailureKind.PERMANENT


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (None, T),
        (408, T),
        (425, T),
        (429, T),
        (500, T),
        (503, T),
        (401, P),
        (402, P),
        (403, P),
        (400, X),
        (404, X),
        (422, X),
    ],
)
def test_http_statuses(status, kind):
    assert classify_http_status(status) is kind


@pytest.mark.parametrize(
    ("code", "kind"),
    [(421, T), (450, T), (452, T), (530, P), (535, P), (550, X), (554, X)],
)
def test_smtp_codes(code, kind):
    assert classify_smtp_code(code) is kind


@pytest.mark.parametrize(
    ("code", "text", "gone"),
    [
        (550, "5.1.1 <a@b.example>: Recipient address rejected: User unknown", True),
        (550, b"5.1.10 Null MX", True),
        (553, "5.1.3 Bad destination mailbox address syntax", True),
        (550, "5.7.1 Message rejected by policy", False),
        (550, "5.1.8 Bad sender's system address", False),  # the sender's fault
        (550, "No such user", True),  # no enhanced code: the words decide
        (550, "Mailbox unavailable", False),
        (450, "4.1.1 try again later", False),
    ],
)
def test_smtp_no_such_user(code, text, gone):
    assert smtp_address_gone(code, text) is gone


def test_enhanced_status_reads_the_code():
    assert enhanced_status("smtp;550 5.1.1 The account does not exist") == "5.1.1"
    assert enhanced_status("550 mailbox full") == ""


def test_exceptions():
    refused = smtplib.SMTPRecipientsRefused(
        {"a@b.example": (550, b"5.1.1 User unknown")}
    )
    assert classify_exception(refused).kind is X
    assert classify_exception(refused).address_gone
    assert classify_exception(smtplib.SMTPDataError(451, b"later")).kind is T
    assert classify_exception(smtplib.SMTPAuthenticationError(535, b"no")).kind is P
    assert classify_exception(smtplib.SMTPServerDisconnected()).kind is T
    assert classify_exception(ConnectionRefusedError()).kind is T
    assert classify_exception(TransientDeliveryError("x")).kind is T
    assert classify_exception(PermanentDeliveryError("x", status=401)).kind is P
    assert classify_exception(ValueError("bug")).kind is X


def test_anymail_errors_by_status_code():
    for status, kind in [(503, T), (429, T), (401, P), (422, X), (None, T)]:
        error = anymail_exceptions.AnymailAPIError("x", status_code=status)
        failure = classify_exception(error)
        assert (failure.kind, failure.http_status) == (kind, status)
    refused = anymail_exceptions.AnymailRecipientsRefused()
    assert classify_exception(refused).kind is X
    missing = anymail_exceptions.AnymailConfigurationError("no server token")
    assert classify_exception(missing).kind is P
