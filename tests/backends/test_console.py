import io
import json

from dovecote import chat, sms
from dovecote.chat.validation import redact_webhook_url
from dovecote.sms.utils import messages_from_bytes
from tests.backends.contract import (
    SENDER,
    UK,
    UK_OTHER,
    ChatBackendContract,
    DevSmsBackendContract,
)


class TestConsoleSmsBackend(DevSmsBackendContract):
    backend_path = "dovecote.sms.backends.console.SmsBackend"

    def setup_method(self):
        self.stream = io.StringIO()

    def connection_kwargs(self):
        return {"stream": self.stream}

    def sent(self):
        data = self.stream.getvalue().encode()
        if not data:
            return []
        return [
            (m.originator, m.recipients[0], m.body) for m in messages_from_bytes(data)
        ]

    def test_writes_django_sms_record_format_per_recipient(self):
        sms.send_sms(
            "Here is the message", SENDER, [UK, UK_OTHER], connection=self.connection()
        )
        separator = "-" * 79
        assert self.stream.getvalue() == (
            f"from: {SENDER}\nto: {UK}\nHere is the message\n{separator}\n"
            f"from: {SENDER}\nto: {UK_OTHER}\nHere is the message\n{separator}\n"
        )

    def test_writes_to_stdout_by_default(self, capsys):
        sms.send_sms(
            "hi", SENDER, [UK], connection=sms.get_connection(self.backend_path)
        )
        assert capsys.readouterr().out.startswith(f"from: {SENDER}\nto: {UK}\nhi\n")

    def test_failing_stream_is_quiet_only_when_fail_silently(self):
        class Broken(io.StringIO):
            def write(self, s):
                raise OSError("disk full")

        loud = sms.get_connection(self.backend_path, stream=Broken())
        quiet = sms.get_connection(
            self.backend_path, stream=Broken(), fail_silently=True
        )
        message = sms.Message("hi", SENDER, [UK])
        try:
            loud.send_messages([message])
        except OSError as exc:
            assert "disk full" in str(exc)
        else:
            raise AssertionError("the stream's error was swallowed")
        assert quiet.send_messages([sms.Message("hi", SENDER, [UK])]) == 0


def parse_chat_records(text):
    """Return (to, text) per record; blocks lines are kept with the text."""
    separator = "\n" + "-" * 79 + "\n"
    rows = []
    for record in text.split(separator)[:-1]:
        to_line, _, body = record.partition("\n")
        rows.append((to_line.removeprefix("to: "), body))
    return rows


class TestConsoleChatBackend(ChatBackendContract):
    backend_path = "dovecote.chat.backends.console.ChatBackend"

    def setup_method(self):
        self.stream = io.StringIO()

    def connection_kwargs(self):
        return {"stream": self.stream}

    def observed_url(self, url):
        return redact_webhook_url(url)

    def sent(self):
        return parse_chat_records(self.stream.getvalue())

    def test_record_redacts_secret_and_appends_blocks_as_json(self):
        blocks = [{"type": "section", "text": {"type": "plain_text", "text": "é"}}]
        url = "https://hooks.slack.com/services/T0001/B0002/s3cr3tT0k3n"
        chat.send_chat("hello", [url], blocks=blocks, connection=self.connection())
        output = self.stream.getvalue()
        assert "s3cr3tT0k3n" not in output
        assert output == (
            "to: https://hooks.slack.com/services/…\n"
            "hello\n"
            + json.dumps(blocks, ensure_ascii=False, sort_keys=True)
            + "\n"
            + "-" * 79
            + "\n"
        )
