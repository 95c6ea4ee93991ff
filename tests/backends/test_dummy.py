from dovecote import sms
from tests.backends.contract import (
    SENDER,
    UK,
    ChatBackendContract,
    SmsBackendContract,
)


class TestDummySmsBackend(SmsBackendContract):
    backend_path = "dovecote.sms.backends.dummy.SmsBackend"
    records_sent = False

    def sent(self):
        return list(sms.outbox)  # nothing may arrive anywhere

    def test_reports_valid_recipients_as_sent(self):
        message = sms.Message("hi", SENDER, [UK, "bad"])
        connection = self.connection(fail_silently=True)
        assert connection.send_messages([message]) == 1
        assert [r.status for r in message.results] == ["sent", "invalid"]


class TestDummyChatBackend(ChatBackendContract):
    backend_path = "dovecote.chat.backends.dummy.ChatBackend"
    records_sent = False

    def sent(self):
        from dovecote import chat

        return list(chat.outbox)
