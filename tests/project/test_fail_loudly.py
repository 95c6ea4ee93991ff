"""Mistakes raise errors that name them; foreign errors stay attached.

- a keyword argument no backend reads raises ``TypeError`` (like any call);
- a ``DOVECOTE_CHANNELS`` key or channel ``OPTIONS`` key nothing reads
  raises ``ImproperlyConfigured`` naming the entry (system check E001);
- ``dovecote.conf.setting()`` refuses a name it does not know;
- an HTTP backend without ``provider_name`` (or, outside the SMS base,
  without its concurrency and timeout settings) cannot be instantiated;
- the error behind a failed send is its ``__cause__`` and stays on the result.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import aiohttp
import phonenumbers
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import TemplateSyntaxError
from django.test import override_settings

from dovecote import chat, sms
from dovecote.channels import get_channel, get_channels
from dovecote.channels.sms import SmsChannel
from dovecote.chat.backends.base import BaseChatBackend
from dovecote.checks import check_settings
from dovecote.conf import setting
from dovecote.exceptions import (
    InvalidAddress,
    PermanentDeliveryError,
    RenderError,
    TransientDeliveryError,
)
from dovecote.http import HttpBackend, HttpRequest
from dovecote.rendering import TemplateCache
from dovecote.sms.backends.http import HttpSmsBackend
from dovecote.sms.phonenumbers import normalize_number

TWILIO = "dovecote.sms.backends.twilio.SmsBackend"
CREDENTIALS: dict[str, Any] = {"account_sid": "AC" + "0" * 32, "auth_token": "token"}
UK = "+441134960000"
SENDER = "+12065550100"


def closed_port_url() -> str:
    """Return a loopback URL on which nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# Backend keyword arguments -------------------------------------------------


@pytest.mark.parametrize(
    ("get_connection", "path"),
    [
        (sms.get_connection, "dovecote.sms.backends.locmem.SmsBackend"),
        (sms.get_connection, "dovecote.sms.backends.console.SmsBackend"),
        (sms.get_connection, "dovecote.sms.backends.dummy.SmsBackend"),
        (chat.get_connection, "dovecote.chat.backends.locmem.ChatBackend"),
        (chat.get_connection, "dovecote.chat.backends.slack.ChatBackend"),
    ],
)
def test_unknown_backend_keyword_raises_type_error(get_connection, path):
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) 'typo'"):
        get_connection(path, typo=1)


def test_type_error_lists_what_the_backend_accepts():
    with pytest.raises(TypeError) as info:
        sms.get_connection(TWILIO, max_atempts=3, **CREDENTIALS)
    text = str(info.value)
    assert "'max_atempts'" in text
    for name in ("account_sid", "base_url", "concurrency", "fail_silently"):
        assert name in text


def test_known_keywords_still_work():
    connection = sms.get_connection(
        TWILIO, base_url="http://127.0.0.1:1", **CREDENTIALS
    )
    assert isinstance(connection, HttpSmsBackend)
    assert connection.base_url == "http://127.0.0.1:1"


# DOVECOTE_CHANNELS ---------------------------------------------------------


def sms_entry(**extra):
    return {"BACKEND": "dovecote.channels.sms.SmsChannel", **extra}


def test_unknown_option_names_the_entry_and_the_key():
    with (
        override_settings(DOVECOTE_CHANNELS=[sms_entry(OPTIONS={"max_atempts": 5})]),
        pytest.raises(ImproperlyConfigured) as info,
    ):
        get_channels()
    text = str(info.value)
    assert "dovecote.channels.sms.SmsChannel" in text
    assert "'max_atempts'" in text
    assert "max_attempts" in text and "originator" in text  # what it accepts
    assert isinstance(info.value.__cause__, TypeError)


def test_known_options_are_accepted():
    options = {"originator": "Dovecote", "max_attempts": 2, "retry_base_delay": 1}
    with override_settings(DOVECOTE_CHANNELS=[sms_entry(OPTIONS=options)]):
        assert get_channel("sms").options == options


def test_unknown_entry_key_is_an_error():
    with (
        override_settings(DOVECOTE_CHANNELS=[sms_entry(BACKEND_LIST=[TWILIO])]),
        pytest.raises(ImproperlyConfigured, match="unknown key\\(s\\) 'BACKEND_LIST'"),
    ):
        get_channels()


def test_backends_as_a_string_is_an_error():
    with (
        override_settings(DOVECOTE_CHANNELS=[sms_entry(BACKENDS=TWILIO)]),
        pytest.raises(ImproperlyConfigured, match="BACKENDS must be a list"),
    ):
        get_channels()


def test_system_check_reports_an_unknown_option():
    with override_settings(DOVECOTE_CHANNELS=[sms_entry(OPTIONS={"orginator": "x"})]):
        (error,) = [e for e in check_settings() if e.id == "dovecote.E001"]
    assert "'orginator'" in error.msg


def test_transports_key_is_an_unknown_key():
    # TRANSPORTS was the name of BACKENDS before 0.1.0; nothing reads it.
    with (
        override_settings(DOVECOTE_CHANNELS=[sms_entry(TRANSPORTS=[TWILIO])]),
        pytest.raises(ImproperlyConfigured, match=r"unknown key.*'TRANSPORTS'"),
    ):
        get_channels()


def test_backend_paths_are_the_backends_in_order():
    channel = SmsChannel(backends=[TWILIO, "dovecote.sms.backends.vonage.SmsBackend"])
    assert channel.backend_paths() == [
        TWILIO,
        "dovecote.sms.backends.vonage.SmsBackend",
    ]


# Settings ------------------------------------------------------------------


def test_setting_refuses_an_unknown_name():
    with pytest.raises(LookupError, match="did you mean 'DOVECOTE_RATE_LIMITS'"):
        setting("DOVECOTE_RATE_LIMIT")


def test_setting_with_a_default_reads_any_name(settings):
    assert setting("ACME_BASE_URL", default="https://api.acme.test") == (
        "https://api.acme.test"
    )
    settings.ACME_BASE_URL = "http://127.0.0.1:9"
    assert setting("ACME_BASE_URL", default=None) == "http://127.0.0.1:9"


# provider_name -------------------------------------------------------------


class NamelessBackend(HttpSmsBackend):
    def build_request(self, message, recipients):
        return HttpRequest("POST", self.base_url)

    def parse_response(self, message, recipients, response):
        return []


def test_http_backend_without_provider_name_cannot_be_instantiated():
    with pytest.raises(TypeError, match="NamelessBackend must set provider_name"):
        NamelessBackend()


class SettinglessBackend(HttpBackend, BaseChatBackend):
    provider_name = "Settingless"

    def build_request(self, message, recipients):
        return HttpRequest("POST", recipients[0])

    def parse_response(self, message, recipients, response):
        return []


def test_http_backend_without_its_settings_cannot_be_instantiated():
    # The generic HTTP base knows no transport: no SMS_* defaults.
    with pytest.raises(TypeError, match="SettinglessBackend must set concurrency"):
        SettinglessBackend()


def test_http_sms_backend_reads_the_sms_settings(settings):
    settings.SMS_CONCURRENCY = 7
    settings.SMS_TIMEOUT = 3.5
    backend = sms.get_connection(TWILIO, **CREDENTIALS)
    assert isinstance(backend, HttpSmsBackend)
    assert (backend.concurrency, backend.timeout) == (7, 3.5)


def test_the_http_base_has_no_sms_backend():
    # HttpSmsBackend lives with the SMS transport, on one import path.
    with pytest.raises(ImportError, match="HttpSmsBackend"):
        from dovecote.http import HttpSmsBackend  # type: ignore[attr-defined]  # noqa: F401


def test_the_http_base_imports_no_transport():
    code = (
        "import sys, dovecote.http; "
        "print(sorted(m for m in sys.modules if m.startswith('dovecote.sms')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# Causes --------------------------------------------------------------------


def test_connection_error_is_the_cause_and_stays_on_the_result():
    connection = sms.get_connection(TWILIO, base_url=closed_port_url(), **CREDENTIALS)
    message = sms.Message("hi", SENDER, [UK], connection=connection)
    with pytest.raises(TransientDeliveryError) as info:
        message.send()
    (result,) = message.results
    assert isinstance(result.exception, aiohttp.ClientError)
    assert info.value.__cause__ is result.exception


class BrokenHookBackend(NamelessBackend):
    provider_name = "broken"

    def build_request(self, message, recipients):
        raise KeyError("template_id")


def test_hook_bug_is_the_cause_of_the_permanent_error():
    message = sms.Message("hi", SENDER, [UK], connection=BrokenHookBackend())
    with pytest.raises(PermanentDeliveryError) as info:
        message.send()
    assert isinstance(info.value.__cause__, KeyError)
    assert message.results[0].exception is info.value.__cause__


def test_invalid_number_keeps_the_parser_error():
    with pytest.raises(InvalidAddress) as info:
        normalize_number("+99 not a number")
    assert isinstance(info.value.__cause__, phonenumbers.NumberParseException)


def test_template_syntax_error_is_the_cause_of_the_render_error():
    loader = (
        "django.template.loaders.locmem.Loader",
        {"dovecote/broken-type/sms.txt": "Hello {% if %}"},
    )
    templates = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {"loaders": [loader]},
        }
    ]
    with override_settings(TEMPLATES=templates):
        cache = TemplateCache("broken-type")
        for _ in range(2):  # the cached error keeps its cause too
            with pytest.raises(RenderError, match="syntax error") as info:
                cache.render("sms.txt", {})
            assert isinstance(info.value.__cause__, TemplateSyntaxError)
