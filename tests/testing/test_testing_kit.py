"""The shipped testing kit: locmem switch (pytest plugin, DovecoteTestCase), fakes."""

import re
import textwrap

import pytest
from django.conf import settings
from django.test import SimpleTestCase, override_settings

import dovecote.chat
import dovecote.sms
from dovecote.compat import HAS_MAILERS
from dovecote.testing import DovecoteTestCase, locmem_backends
from dovecote.testing.fakes import (
    FakeMessageBird,
    FakeSlack,
    FakeTwilio,
    FakeVonage,
    free_port,
)
from tests.subproc import ROOT, run_bare_pytest

TWILIO = "dovecote.sms.backends.twilio.SmsBackend"

SUITE = """
    import dovecote.chat
    import dovecote.sms
    from django.conf import settings


    def test_sms_goes_to_the_outbox(dovecote_outbox):
        assert settings.SMS_BACKEND == "dovecote.sms.backends.locmem.SmsBackend"
        assert dovecote.sms.send_sms("hi", "+441134960000", ["+441134960001"]) == 1
        assert [m.body for m in dovecote_outbox.sms] == ["hi"]


    def test_chat_goes_to_the_outbox(dovecote_outbox):
        assert settings.CHAT_BACKEND == "dovecote.chat.backends.locmem.ChatBackend"
        dovecote.chat.send_chat("hi", ["https://hooks.slack.com/services/T/B/x"])
        assert [m.text for m in dovecote_outbox.chat] == ["hi"]
"""

CONFTEST = """
    import django
    from django.conf import settings

    settings.configure(
        SMS_BACKEND="dovecote.sms.backends.twilio.SmsBackend",
        CHAT_BACKEND="dovecote.chat.backends.slack.ChatBackend",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="t",
        TWILIO_BASE_URL="http://127.0.0.1:{port}",
    )
    django.setup()
    {plugins}
"""


def run_suite(tmp_path, *, plugin):
    # A project whose settings name real providers, pointed at a closed port:
    # without the plugin a send fails; with it, it lands in the outbox.
    plugins = 'pytest_plugins = ["dovecote.testing.pytest_plugin"]' if plugin else ""
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(CONFTEST).format(plugins=plugins, port=free_port())
    )
    suite = textwrap.dedent(SUITE)
    if not plugin:
        suite = suite.replace("dovecote_outbox", "tmp_path")
    (tmp_path / "test_suite.py").write_text(suite)
    return run_bare_pytest(tmp_path)


def test_the_plugin_switches_sms_and_chat_to_locmem(tmp_path):
    output = run_suite(tmp_path, plugin=True)
    assert re.search(r"\b2 passed\b", output), output


def test_without_the_plugin_the_project_backends_are_used(tmp_path):
    # The control: the same suite fails when nothing switches the backends.
    output = run_suite(tmp_path, plugin=False)
    assert re.search(r"\b2 failed\b", output), output


def test_a_test_can_still_choose_its_backend(settings):
    settings.SMS_BACKEND = TWILIO
    connection = dovecote.sms.get_connection(account_sid="AC1", auth_token="t")
    assert type(connection).__module__ == "dovecote.sms.backends.twilio"


def test_locmem_backends_is_an_override_settings():
    with override_settings(SMS_BACKEND=TWILIO), locmem_backends():
        assert settings.SMS_BACKEND == "dovecote.sms.backends.locmem.SmsBackend"
        assert settings.CHAT_BACKEND == "dovecote.chat.backends.locmem.ChatBackend"
        locmem = "django.core.mail.backends.locmem.EmailBackend"
        if HAS_MAILERS:  # Django 6.1: every mailer, not the deprecated setting
            assert {m["BACKEND"] for m in settings.MAILERS.values()} == {locmem}
        else:
            assert locmem == settings.EMAIL_BACKEND


@override_settings(SMS_BACKEND=TWILIO)
class ClassOverrideTests(DovecoteTestCase, SimpleTestCase):
    """An ``@override_settings`` on the class is applied above the mixin's switch."""

    def test_class_overrides_still_win(self):
        self.assertEqual(settings.SMS_BACKEND, TWILIO)

    @override_settings(SMS_BACKEND="dovecote.sms.backends.locmem.SmsBackend")
    def test_outboxes_start_empty(self):
        self.assertEqual(self.dovecote_outbox.sms, [])
        dovecote.sms.send_sms("one", "+441134960000", ["+441134960001"])
        self.assertEqual(len(self.dovecote_outbox.sms), 1)


class UnittestLocmemTests(DovecoteTestCase, SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        # Play a project whose settings name real providers.
        project = override_settings(
            SMS_BACKEND=TWILIO, CHAT_BACKEND="dovecote.chat.backends.slack.ChatBackend"
        )
        project.enable()
        cls.addClassCleanup(project.disable)
        super().setUpClass()

    def test_sms_and_chat_are_locmem(self):
        self.assertEqual(
            settings.SMS_BACKEND, "dovecote.sms.backends.locmem.SmsBackend"
        )
        self.assertEqual(
            settings.CHAT_BACKEND, "dovecote.chat.backends.locmem.ChatBackend"
        )
        dovecote.sms.send_sms("a", "+441134960000", ["+441134960001"])
        dovecote.chat.send_chat("b", ["https://hooks.slack.com/services/T/B/x"])
        self.assertEqual(len(self.dovecote_outbox.sms), 1)
        self.assertEqual(len(self.dovecote_outbox.chat), 1)

    def test_each_test_starts_empty(self):
        dovecote.sms.outbox.append("left over")  # type: ignore[arg-type]
        self.setUp()
        self.assertEqual(self.dovecote_outbox.sms, [])


@pytest.mark.parametrize("fake", [FakeTwilio, FakeMessageBird, FakeVonage, FakeSlack])
def test_the_fakes_ship_in_the_package(fake):
    assert fake.__module__.startswith("dovecote.testing.fakes.")
    with fake() as server:
        assert server.base_url.startswith("http://127.0.0.1:")


def test_the_fakes_example_in_docs_testing_md_runs(fake_twilio):
    text = (ROOT / "docs" / "testing.md").read_text()
    section = text.split("### Fake providers for your own tests", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    plugins, test_module = code.split("# test_sms.py\n")
    assert "dovecote.testing.fakes.fixtures" in plugins
    namespace: dict[str, object] = {}
    exec(compile(test_module, "docs/testing.md", "exec"), namespace)
    namespace["test_twilio_retries_a_503"](fake_twilio)  # type: ignore[operator]
