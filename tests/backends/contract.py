"""Cases every transport backend must pass; each backend's tests subclass one.

A subclass sets ``backend_path``, may override ``connection_kwargs()`` (for
instance to point at a fake provider started by an autouse fixture), and
implements ``sent()``: what arrived at the destination (the outbox, the file,
the fake provider's requests), as ``(originator, recipient, body)`` tuples
for SMS and ``(webhook URL, text)`` tuples for chat.
"""

from __future__ import annotations

from typing import Any

import pytest

from dovecote import chat, sms
from dovecote.exceptions import InvalidAddress

SENDER = "+12065550100"
UK = "+441134960000"
UK_OTHER = "+441134960999"
UNICODE_BODY = "Grüße, ça va? € ñ 😀 日本"


class SmsBackendContract:
    """The behaviour every SMS backend shares (after Django's mail tests)."""

    backend_path: str
    #: False for backends with no destination to observe (dummy).
    records_sent = True

    def connection_kwargs(self) -> dict[str, Any]:
        return {}

    def sent(self) -> list[tuple[str, str, str]]:
        raise NotImplementedError

    def connection(self, fail_silently: bool = False) -> sms.BaseSmsBackend:
        return sms.get_connection(
            self.backend_path, fail_silently=fail_silently, **self.connection_kwargs()
        )

    def assert_sent(self, expected: list[tuple[str, str, str]]) -> None:
        assert self.sent() == (expected if self.records_sent else [])

    def test_send_messages_returns_count_of_messages(self):
        messages = [
            sms.Message("one", SENDER, [UK]),
            sms.Message("two", SENDER, [UK, UK_OTHER]),
        ]
        assert self.connection().send_messages(messages) == 2
        self.assert_sent(
            [(SENDER, UK, "one"), (SENDER, UK, "two"), (SENDER, UK_OTHER, "two")]
        )

    def test_records_one_successful_result_per_recipient_in_order(self):
        message = sms.Message("hi", SENDER, [UK_OTHER, UK])
        assert self.connection().send_messages([message]) == 1
        assert [r.recipient for r in message.results] == [UK_OTHER, UK]
        assert all(r.is_success for r in message.results)
        assert all(r.status in ("sent", "queued") for r in message.results)

    def test_recipients_are_normalised_to_e164(self):
        message = sms.Message("hi", SENDER, ["+44 113 496 0000"])
        assert self.connection().send_messages([message]) == 1
        assert message.results[0].recipient == UK
        self.assert_sent([(SENDER, UK, "hi")])

    def test_invalid_number_is_reported_and_valid_ones_still_sent(self):
        message = sms.Message("hi", SENDER, ["not-a-number", UK])
        assert self.connection(fail_silently=True).send_messages([message]) == 1
        assert [(r.recipient, r.status) for r in message.results] == [
            ("not-a-number", "invalid"),
            (UK, message.results[1].status),
        ]
        assert message.results[1].is_success
        assert "not-a-number" in message.results[0].error_message
        self.assert_sent([(SENDER, UK, "hi")])

    def test_invalid_number_raises_naming_it_after_sending_valid_ones(self):
        first = sms.Message("first", SENDER, ["+1555", UK])
        second = sms.Message("second", SENDER, [UK_OTHER])
        with pytest.raises(InvalidAddress, match=r"\+1555"):
            self.connection().send_messages([first, second])
        self.assert_sent([(SENDER, UK, "first"), (SENDER, UK_OTHER, "second")])

    def test_message_with_only_invalid_numbers_counts_zero(self):
        message = sms.Message("hi", SENDER, ["12", "abc"])
        assert self.connection(fail_silently=True).send_messages([message]) == 0
        assert [r.status for r in message.results] == ["invalid", "invalid"]
        assert self.sent() == []

    def test_connection_is_reusable_as_context_manager(self):
        with self.connection() as connection:
            for body in ("one", "two", "three"):
                sent = sms.Message(body, SENDER, [UK], connection=connection).send()
                assert sent == 1
        self.assert_sent(
            [(SENDER, UK, "one"), (SENDER, UK, "two"), (SENDER, UK, "three")]
        )

    def test_empty_list_returns_zero(self):
        assert self.connection().send_messages([]) == 0
        assert self.sent() == []

    def test_unicode_body_arrives_intact(self):
        assert sms.send_sms(UNICODE_BODY, SENDER, [UK], connection=self.connection())
        self.assert_sent([(SENDER, UK, UNICODE_BODY)])

    def test_message_without_recipients_sends_nothing(self):
        message = sms.Message("hi", SENDER, [], connection=self.connection())
        assert message.send() == 0
        assert self.connection().send_messages([message]) == 0
        assert message.results == []
        assert self.sent() == []

    def test_duplicate_recipient_is_sent_once(self):
        message = sms.Message("hi", SENDER, [UK, "+44 (0)113 496 0000"])
        assert self.connection().send_messages([message]) == 1
        assert [r.recipient for r in message.results] == [UK]
        self.assert_sent([(SENDER, UK, "hi")])

    def test_resending_a_message_replaces_its_results(self):
        message = sms.Message("hi", SENDER, [UK], connection=self.connection())
        message.send()
        message.send()
        assert len(message.results) == 1


class DevSmsBackendContract(SmsBackendContract):
    """The development backends (console, file, locmem, dummy).

    As django-sms's, they record what they are given: a number that parses
    is normalised, one that does not is kept as given, never rejected (the
    provider backends keep strict E.164 validation). Only an empty number
    is invalid.
    """

    def test_invalid_number_is_reported_and_valid_ones_still_sent(self):
        message = sms.Message("hi", SENDER, ["not-a-number", UK])
        assert self.connection().send_messages([message]) == 1
        assert [(r.recipient, r.status) for r in message.results] == [
            ("not-a-number", "sent"),
            (UK, "sent"),
        ]
        self.assert_sent([(SENDER, "not-a-number", "hi"), (SENDER, UK, "hi")])

    def test_invalid_number_raises_naming_it_after_sending_valid_ones(self):
        # django-sms's own tests send to "0600000000" with no region set.
        first = sms.Message("first", "0600000000", ["0600000000", " "])
        with pytest.raises(InvalidAddress, match="' '"):
            self.connection().send_messages([first])
        assert [r.status for r in first.results] == ["sent", "invalid"]
        self.assert_sent([("0600000000", "0600000000", "first")])

    #: True for the dummy backend: it returns the number of messages given.
    counts_given_messages = False

    def test_message_with_only_invalid_numbers_counts_zero(self):
        message = sms.Message("hi", SENDER, ["", "  "])
        count = self.connection(fail_silently=True).send_messages([message])
        assert count == (1 if self.counts_given_messages else 0)
        assert [r.status for r in message.results] == ["invalid", "invalid"]
        assert self.sent() == []

    def test_number_in_sms_default_region_is_normalised(self, settings):
        settings.SMS_DEFAULT_REGION = "FR"
        message = sms.Message("hi", SENDER, ["06 00 00 00 01"])
        assert self.connection().send_messages([message]) == 1
        assert message.results[0].recipient == "+33600000001"
        self.assert_sent([(SENDER, "+33600000001", "hi")])

    def test_unparsable_sender_is_kept(self):
        message = sms.Message("hi", "Far too long a name", [UK])
        assert self.connection().send_messages([message]) == 1
        self.assert_sent([("Far too long a name", UK, "hi")])


class ChatBackendContract:
    """The behaviour every chat backend shares."""

    backend_path: str
    records_sent = True

    def connection_kwargs(self) -> dict[str, Any]:
        return {}

    def webhook_url(self, name: str = "one") -> str:
        """Return a webhook URL this backend accepts; subclasses may override."""
        return f"https://hooks.slack.com/services/T000/B000/{name}secret"

    def sent(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def observed_url(self, url: str) -> str:
        """Return ``url`` as ``sent()`` shows it (console/file: redacted)."""
        return url

    def connection(self, fail_silently: bool = False) -> chat.BaseChatBackend:
        return chat.get_connection(
            self.backend_path, fail_silently=fail_silently, **self.connection_kwargs()
        )

    def assert_sent(self, expected: list[tuple[str, str]]) -> None:
        expected = [(self.observed_url(url), text) for url, text in expected]
        assert self.sent() == (expected if self.records_sent else [])

    def test_send_messages_returns_count_of_messages(self):
        one, two = self.webhook_url("one"), self.webhook_url("two")
        messages = [chat.ChatMessage("a", [one]), chat.ChatMessage("b", [one, two])]
        assert self.connection().send_messages(messages) == 2
        self.assert_sent([(one, "a"), (one, "b"), (two, "b")])

    def test_records_one_successful_result_per_webhook(self):
        one, two = self.webhook_url("one"), self.webhook_url("two")
        message = chat.ChatMessage("a", [two, one])
        assert self.connection().send_messages([message]) == 1
        assert len(message.results) == 2
        assert all(r.is_success for r in message.results)

    def test_disallowed_url_is_reported_and_valid_ones_still_sent(self):
        good = self.webhook_url()
        message = chat.ChatMessage("a", ["https://evil.example/hook", good])
        assert self.connection(fail_silently=True).send_messages([message]) == 1
        assert message.results[0].status == "invalid"
        assert message.results[1].is_success
        self.assert_sent([(good, "a")])

    def test_disallowed_url_raises_after_sending_valid_ones(self):
        good = self.webhook_url()
        message = chat.ChatMessage("a", ["http://169.254.169.254/latest", good])
        with pytest.raises(InvalidAddress, match=r"169\.254\.169\.254"):
            self.connection().send_messages([message])
        self.assert_sent([(good, "a")])

    def test_connection_is_reusable_as_context_manager(self):
        url = self.webhook_url()
        with self.connection() as connection:
            for text in ("one", "two"):
                assert chat.ChatMessage(text, [url], connection=connection).send()
        self.assert_sent([(url, "one"), (url, "two")])

    def test_empty_list_returns_zero(self):
        assert self.connection().send_messages([]) == 0
        assert self.sent() == []

    def test_unicode_text_arrives_intact(self):
        url = self.webhook_url()
        assert chat.send_chat(UNICODE_BODY, [url], connection=self.connection())
        self.assert_sent([(url, UNICODE_BODY)])

    def test_message_without_recipients_sends_nothing(self):
        message = chat.ChatMessage("a", [], connection=self.connection())
        assert message.send() == 0
        assert self.sent() == []
