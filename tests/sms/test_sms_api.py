"""The django-sms compatible API of dovecote.sms, and the base backend."""

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from django.test import override_settings

from dovecote import sms
from dovecote.exceptions import (
    InvalidAddress,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from dovecote.results import RecipientResult
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.signals import post_send

UK = "+441134960000"
UK_OTHER = "+441134960999"


class ScriptedBackend(BaseSmsBackend):
    """A provider whose answer per number is scripted by the test."""

    provider_name = "scripted"
    answers: dict[str, Any] = {}

    def send_messages(self, messages):
        for message in messages:
            for recipient in self.prepare_recipients(message):
                answer = self.answers.get(recipient)
                message.results.append(
                    answer(recipient)
                    if answer
                    else RecipientResult(recipient, "sent", message_id="id-1")
                )
        return self.finish(messages)


def failed(code, transient, retry_after=None):
    def make(recipient):
        return RecipientResult(
            recipient,
            "failed",
            error_code=code,
            error_message=f"provider said {code}",
            is_transient=transient,
            retry_after=retry_after,
            http_status=429 if transient else 400,
        )

    return make


def test_readme_quick_example_sends_through_default_backend():
    assert (
        sms.send_sms(
            "Here is the message",
            "+12065550100",
            ["+441134960000"],
            fail_silently=False,
        )
        == 1
    )
    assert len(sms.outbox) == 1
    assert sms.outbox[0].body == "Here is the message"


def test_send_sms_accepts_one_number_as_string():
    assert sms.send_sms("hi", None, UK) == 1
    assert sms.outbox[0].recipients == [UK]


def test_message_defaults_originator_to_default_from_sms():
    assert sms.Message("hi").originator == "+15005550006"
    with override_settings(DEFAULT_FROM_SMS=None):
        assert sms.Message("hi").originator == ""


def test_message_refuses_a_string_of_recipients():
    with pytest.raises(TypeError, match="list or tuple"):
        sms.Message("hi", None, UK)


def test_send_without_recipients_creates_no_connection():
    message = sms.Message("hi", None, [])
    assert message.send() == 0
    assert message.connection is None


def test_get_connection_passes_keywords_and_fail_silently():
    connection = sms.get_connection(
        "dovecote.sms.backends.console.SmsBackend", fail_silently=True, stream=None
    )
    assert connection.fail_silently is True
    assert isinstance(sms.get_connection(), sms.BaseSmsBackend)


def test_get_connection_reads_sms_backend_setting_at_call_time():
    with override_settings(SMS_BACKEND="dovecote.sms.backends.dummy.SmsBackend"):
        assert type(sms.get_connection()).__module__ == "dovecote.sms.backends.dummy"


def test_post_send_signal_receives_message_instance():
    received = []

    def receiver(sender, instance, **kwargs):
        received.append((sender, instance))

    post_send.connect(receiver)
    try:
        message = sms.Message("hi", None, [UK])
        message.send()
    finally:
        post_send.disconnect(receiver)
    assert received == [(sms.Message, message)]


def test_post_send_signal_follows_partial_send_that_raised():
    received = []

    def receiver(sender, instance, **kwargs):
        received.append(instance)

    post_send.connect(receiver)
    try:
        message = sms.Message("hi", None, [" ", UK])
        with pytest.raises(InvalidAddress):
            message.send()
    finally:
        post_send.disconnect(receiver)
    assert received == [message]


def test_base_backend_requires_send_messages():
    with pytest.raises(NotImplementedError):
        BaseSmsBackend().send_messages([])


def test_transient_provider_failure_raises_after_whole_batch():
    ScriptedBackend.answers = {UK: failed("20429", True, retry_after=30)}
    first = sms.Message("a", None, [UK, UK_OTHER])
    second = sms.Message("b", None, [UK_OTHER])
    with pytest.raises(TransientDeliveryError) as info:
        ScriptedBackend().send_messages([first, second])
    error = info.value
    assert (error.code, error.status, error.retry_after) == ("20429", 429, 30)
    assert "provider said 20429" in str(error)
    assert [r.status for r in first.results] == ["failed", "sent"]
    assert [r.status for r in second.results] == ["sent"]


def test_any_permanent_failure_makes_the_error_permanent():
    ScriptedBackend.answers = {
        UK: failed("21211", False),
        UK_OTHER: failed("20429", True),
    }
    message = sms.Message("a", None, [UK, UK_OTHER, "nope"])
    with pytest.raises(PermanentDeliveryError) as info:
        ScriptedBackend().send_messages([message])
    assert not isinstance(info.value, TransientDeliveryError)
    assert "nope" in str(info.value)
    assert {r.status for r in info.value.response} == {"failed", "invalid"}


def test_fail_silently_returns_count_and_keeps_results():
    ScriptedBackend.answers = {UK: failed("21211", False)}
    messages = [sms.Message("a", None, [UK]), sms.Message("b", None, [UK_OTHER])]
    assert ScriptedBackend(fail_silently=True).send_messages(messages) == 1
    assert messages[0].results[0].error_code == "21211"


def test_import_without_installed_apps(tmp_path):
    script = textwrap.dedent(
        """
        from django.conf import settings
        settings.configure(SMS_BACKEND="dovecote.sms.backends.locmem.SmsBackend")
        import dovecote.sms, dovecote.chat
        from dovecote.sms.backends import console, filebased, locmem, dummy
        from dovecote.chat.backends import console, filebased, locmem, dummy
        from dovecote.sms.utils import message_from_bytes
        n = dovecote.sms.send_sms("hi", "+12065550100", ["+441134960000"])
        print(n, dovecote.sms.outbox[0].results[0].status)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[2])},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1 sent"
