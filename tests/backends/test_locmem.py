from dovecote import chat, sms
from tests.backends.contract import (
    SENDER,
    UK,
    ChatBackendContract,
    SmsBackendContract,
)


class TestLocmemSmsBackend(SmsBackendContract):
    backend_path = "dovecote.sms.backends.locmem.SmsBackend"

    def sent(self):
        return [
            (m.originator, r.recipient, m.body)
            for m in sms.outbox
            for r in m.results
            if r.is_success
        ]

    def test_outbox_holds_the_message_objects(self):
        message = sms.Message("hi", SENDER, [UK])
        message.send()
        assert sms.outbox == [message]
        assert message.results[0].message_id.startswith("locmem-")

    def test_message_with_no_valid_recipient_is_not_in_outbox(self):
        sms.Message("hi", SENDER, ["nope"]).send(fail_silently=True)
        assert sms.outbox == []

    def test_alphanumeric_sender_is_kept(self):
        sms.send_sms("hi", "Dovecote", [UK])
        assert sms.outbox[0].originator == "Dovecote"

    def test_invalid_sender_marks_every_recipient_invalid(self):
        message = sms.Message("hi", "Far too long a name", [UK])
        assert message.send(fail_silently=True) == 0
        assert [r.status for r in message.results] == ["invalid"]
        assert "Far too long a name" in message.results[0].error_message
        assert sms.outbox == []


class TestLocmemChatBackend(ChatBackendContract):
    backend_path = "dovecote.chat.backends.locmem.ChatBackend"

    def sent(self):
        return [
            (r.recipient, m.text)
            for m in chat.outbox
            for r in m.results
            if r.is_success
        ]

    def test_outbox_holds_blocks(self):
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
        chat.send_chat("hi", [self.webhook_url()], blocks=blocks)
        assert chat.outbox[0].blocks == blocks
