import re

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from dovecote import chat, sms
from dovecote.chat.validation import redact_webhook_url
from dovecote.sms.utils import (
    message_from_binary_file,
    message_from_bytes,
    messages_from_bytes,
)
from tests.backends.contract import (
    SENDER,
    UK,
    UK_OTHER,
    UNICODE_BODY,
    ChatBackendContract,
    DevSmsBackendContract,
)
from tests.backends.test_console import parse_chat_records


class TestFileSmsBackend(DevSmsBackendContract):
    backend_path = "dovecote.sms.backends.filebased.SmsBackend"

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path):
        self.directory = tmp_path / "sms"

    def connection_kwargs(self):
        return {"file_path": str(self.directory)}

    def files(self):
        if not self.directory.exists():
            return []
        return sorted(self.directory.iterdir(), key=lambda p: p.stat().st_mtime_ns)

    def sent(self):
        rows = []
        for path in self.files():
            for m in messages_from_bytes(path.read_bytes()):
                rows.append((m.originator, m.recipients[0], m.body))
        return rows

    def test_one_file_per_connection_named_by_time_and_id(self):
        with self.connection() as connection:
            sms.send_sms("one", SENDER, [UK], connection=connection)
            sms.send_sms("two", SENDER, [UK], connection=connection)
        sms.send_sms("three", SENDER, [UK], connection=self.connection())
        names = [p.name for p in self.files()]
        assert len(names) == 2
        assert all(re.fullmatch(r"\d{8}-\d{6}-\d+\.log", n) for n in names)

    def test_reads_directory_from_sms_file_path_setting(self, tmp_path):
        with override_settings(SMS_FILE_PATH=str(tmp_path / "from-setting")):
            sms.send_sms(
                "hi", SENDER, [UK], connection=sms.get_connection(self.backend_path)
            )
        assert len(list((tmp_path / "from-setting").iterdir())) == 1

    def test_missing_setting_names_sms_file_path(self):
        with pytest.raises(ImproperlyConfigured, match="SMS_FILE_PATH"):
            sms.get_connection(self.backend_path)

    def test_path_that_is_a_file_is_a_clear_error(self, tmp_path):
        path = tmp_path / "a-file"
        path.write_text("")
        with pytest.raises(ImproperlyConfigured, match="not a directory"):
            sms.get_connection(self.backend_path, file_path=str(path))

    def test_records_read_back_as_one_message(self):
        sms.send_sms(
            UNICODE_BODY + "\nsecond line",
            SENDER,
            [UK, UK_OTHER],
            connection=self.connection(),
        )
        (path,) = self.files()
        with path.open("rb") as fp:
            message = message_from_binary_file(fp)
        assert message.originator == SENDER
        assert message.recipients == [UK, UK_OTHER]
        assert message.body == UNICODE_BODY + "\nsecond line"

    def test_records_of_different_messages_do_not_read_as_one(self):
        with self.connection() as connection:
            sms.send_sms("one", SENDER, [UK], connection=connection)
            sms.send_sms("two", SENDER, [UK], connection=connection)
        (path,) = self.files()
        with pytest.raises(ValueError, match="messages_from_bytes"):
            message_from_bytes(path.read_bytes())

    def test_bytes_that_are_not_a_record_raise_value_error(self):
        with pytest.raises(ValueError):
            message_from_bytes(b"hello")
        with pytest.raises(ValueError):
            message_from_bytes(b"to: x\nhello\n" + b"-" * 79 + b"\n")


class TestFileChatBackend(ChatBackendContract):
    backend_path = "dovecote.chat.backends.filebased.ChatBackend"

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path):
        self.directory = tmp_path / "chat"

    def connection_kwargs(self):
        return {"file_path": str(self.directory)}

    def observed_url(self, url):
        return redact_webhook_url(url)

    def sent(self):
        if not self.directory.exists():
            return []
        paths = sorted(self.directory.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        return [
            row
            for path in paths
            for row in parse_chat_records(path.read_text(encoding="utf-8"))
        ]

    def test_missing_setting_names_chat_file_path(self):
        with pytest.raises(ImproperlyConfigured, match="CHAT_FILE_PATH"):
            chat.get_connection(self.backend_path)

    def test_path_that_is_a_file_is_a_clear_error(self, tmp_path):
        path = tmp_path / "a-file"
        path.write_text("")
        with pytest.raises(ImproperlyConfigured, match="not a directory"):
            chat.get_connection(self.backend_path, file_path=str(path))
