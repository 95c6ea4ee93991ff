from dovecote import chat, sms
from tests.backends.contract import (
    SENDER,
    UK,
    ChatBackendContract,
    DevSmsBackendContract,
)


class TestLocmemSmsBackend(DevSmsBackendContract):
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
        sms.Message("hi", SENDER, [" "]).send(fail_silently=True)
        assert sms.outbox == []

    def test_number_without_country_code_is_kept_as_given(self):
        # django-sms's locmem test: no SMS_DEFAULT_REGION, no "+".
        message = sms.Message("Content", "0600000000", ["0600000000"])
        assert message.send() == 1
        assert sms.outbox == [message]
        assert message.results[0].recipient == "0600000000"

    def test_alphanumeric_sender_is_kept(self):
        sms.send_sms("hi", "Dovecote", [UK])
        assert sms.outbox[0].originator == "Dovecote"

    def test_unparsable_sender_is_recorded_and_warned_about(self, caplog):
        message = sms.Message("hi", "An unusual sender", [UK])
        assert message.send() == 1
        assert sms.outbox[0].originator == "An unusual sender"
        assert "recorded as given" in caplog.text


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
