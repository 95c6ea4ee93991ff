"""django-sms's own API tests, run against dovecote.sms.

These mirror, assertion for assertion, the 8 API tests of django-sms's suite
(https://github.com/roaldnefs/django-sms, ``tests/tests.py`` at commit
6e0aa5df5dbfcde8e48da13dffb6e269a5d75211, BSD-3-Clause, (C) 2021 Roald
Nefs), with ``sms`` imported as ``dovecote.sms`` and ``sms.backends`` paths
written ``dovecote.sms.backends``. Left out, as the issue says: its
MessageBird and Twilio ``test_send_messages``, which patch the vendor SDK's
``client`` attribute (dovecote speaks HTTP itself; see tests/backends).

Note the numbers: django-sms's tests send to ``'0600000000'`` with no
``SMS_DEFAULT_REGION``, which dovecote's development backends keep as given.
"""

import os
import shutil
import sys
import tempfile
from io import StringIO

from django.dispatch import receiver
from django.test import SimpleTestCase, override_settings

from dovecote import sms
from dovecote.sms import send_sms
from dovecote.sms.backends import dummy, filebased, locmem
from dovecote.sms.backends.base import BaseSmsBackend
from dovecote.sms.message import Message
from dovecote.sms.signals import post_send
from dovecote.sms.utils import message_from_binary_file


class CustomSmsBackend(BaseSmsBackend):
    """django-sms's ``tests/custombackend.py``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.test_outbox = []

    def send_messages(self, messages):
        # Messages are stored in an instance variable for testing
        self.test_outbox.extend(messages)
        return len(messages)


class BaseSmsBackendTests:
    sms_backend: str | None = None

    def setUp(self):
        self.settings_override = override_settings(SMS_BACKEND=self.sms_backend)
        self.settings_override.enable()

    def tearDown(self):
        self.settings_override.disable()


@override_settings(SMS_BACKEND="dovecote.sms.backends.locmem.SmsBackend")
class SmsTests(SimpleTestCase):
    def test_dummy_backend(self):
        """Dummy backends return the correct number of sent text messages."""
        connection = dummy.SmsBackend()
        message = Message()
        self.assertEqual(connection.send_messages([message, message, message]), 3)

    def test_backend_arg(self):
        """Test backend argument of sms.get_connection()."""
        self.assertIsInstance(
            sms.get_connection("dovecote.sms.backends.dummy.SmsBackend"),
            dummy.SmsBackend,
        )
        with tempfile.TemporaryDirectory() as tmp_dir:
            self.assertIsInstance(
                sms.get_connection(
                    "dovecote.sms.backends.filebased.SmsBackend", file_path=tmp_dir
                ),
                filebased.SmsBackend,
            )
        if sys.platform == "win32":  # pragma: no cover
            msg = (
                "_getfullpathname: path should be string, bytes or "
                "os.PathLike, not object"
            )
        else:
            msg = "expected str, bytes or os.PathLike object, not object"
        with self.assertRaisesMessage(TypeError, msg):
            sms.get_connection(
                "dovecote.sms.backends.filebased.SmsBackend", file_path=object()
            )
        self.assertIsInstance(sms.get_connection(), locmem.SmsBackend)

    def test_custom_backend(self):
        """Test the custom backend defined in this suite."""
        connection = sms.get_connection(f"{__name__}.CustomSmsBackend")
        self.assertTrue(hasattr(connection, "test_outbox"))
        message = Message("Content", "0600000000", ["0600000000"])
        connection.send_messages([message])
        self.assertEqual(len(connection.test_outbox), 1)  # type: ignore[attr-defined]

    def test_send_sms(self):
        """send_sms takes the recipients as a string (django-sms<=0.0.4)."""
        send_sms("Content", "0600000000", "0600000000")
        self.assertEqual(len(sms.outbox), 1)
        self.assertIsInstance(sms.outbox[0].recipients, list)


class LocmemBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "dovecote.sms.backends.locmem.SmsBackend"

    def flush_mailbox(self):
        sms.outbox = []

    def tearDown(self):
        super().tearDown()
        self.flush_mailbox()

    def test_locmem_shared_messages(self):
        """The locmem backend populates the outbox."""
        connections = [locmem.SmsBackend(), locmem.SmsBackend()]
        message = Message("Content", "0600000000", ["0600000000"])
        for connection in connections:
            connection.send_messages([message])
        self.assertEqual(len(sms.outbox), 2)


class ConsoleBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "dovecote.sms.backends.console.SmsBackend"

    def test_console_stream_kwarg(self):
        """The console backend can be pointed at an arbitrary stream."""
        stream = StringIO()
        connection = sms.get_connection(
            "dovecote.sms.backends.console.SmsBackend", stream=stream
        )
        message = Message("Content", "0600000000", ["0600000000"])
        connection.send_messages([message])
        messages = stream.getvalue().split("\n" + ("-" * 79) + "\n")
        self.assertIn("from: ", messages[0])


class FileBasedBackendTests(BaseSmsBackendTests, SimpleTestCase):
    sms_backend = "dovecote.sms.backends.filebased.SmsBackend"

    def setUp(self):
        super().setUp()
        self.tmp_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp_dir)
        self._settings_override = override_settings(SMS_FILE_PATH=self.tmp_dir)
        self._settings_override.enable()

    def tearDown(self):
        self._settings_override.disable()
        super().tearDown()

    def test_file_sessions(self):
        """Opening a connection creates a new file."""
        message = Message("Here is the message", "+12065550100", ["+441134960000"])
        connection = sms.get_connection()
        connection.send_messages([message])

        self.assertEqual(len(os.listdir(self.tmp_dir)), 1)
        tmp_file = os.path.join(self.tmp_dir, os.listdir(self.tmp_dir)[0])
        with open(tmp_file, "rb") as fp:
            message = message_from_binary_file(fp)
        self.assertEqual(message.originator, "+12065550100")
        self.assertEqual(message.recipients, ["+441134960000"])


@override_settings(SMS_BACKEND="dovecote.sms.backends.locmem.SmsBackend")
class SignalTests(SimpleTestCase):
    def flush_mailbox(self):
        sms.outbox = []

    def tearDown(self):
        super().tearDown()
        self.flush_mailbox()

    def test_receiver_post_send_signal(self):
        """The post_send signal is called."""

        @receiver(post_send)
        def f(instance, **kwargs):
            self.body = instance.body
            self.state = True

        self.state = False
        self.body = None

        body = "Here is the message"
        message = Message(body, "+12065550100", ["+441134960000"])
        message.send()
        post_send.disconnect(f)

        self.assertTrue(self.state)
        self.assertEqual(body, self.body)
