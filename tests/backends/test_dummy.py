from dovecote import sms
from tests.backends.contract import (
    SENDER,
    UK,
    ChatBackendContract,
    DevSmsBackendContract,
)


class TestDummySmsBackend(DevSmsBackendContract):
    backend_path = "dovecote.sms.backends.dummy.SmsBackend"
    records_sent = False
    counts_given_messages = True

    def sent(self):
        return list(sms.outbox)  # nothing may arrive anywhere

    def test_reports_recipients_as_sent(self):
        message = sms.Message("hi", SENDER, [UK, "bad", " "])
        connection = self.connection(fail_silently=True)
        assert connection.send_messages([message]) == 1
        assert [r.status for r in message.results] == ["sent", "sent", "invalid"]

    def test_message_without_recipients_sends_nothing(self):
        # As Django's and django-sms's dummy backends: the count of messages
        # given (django-sms's test_dummy_backend sends Message() three times).
        message = sms.Message("hi", SENDER, [])
        assert self.connection().send_messages([message, message, message]) == 3
        assert message.results == []
        assert self.sent() == []


class TestDummyChatBackend(ChatBackendContract):
    backend_path = "dovecote.chat.backends.dummy.ChatBackend"
    records_sent = False

    def sent(self):
        from dovecote import chat

        return list(chat.outbox)
