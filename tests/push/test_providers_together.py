"""One send_push reaches Web Push, FCM and APNs, each through its provider."""

from __future__ import annotations

import json

from dovecote.push import PushMessage, PushTarget
from dovecote.push.signals import post_send


def test_one_message_to_three_platforms(fake_webpush, fake_fcm, fake_apns):
    sent = []

    def receiver(sender, instance, **kwargs):
        sent.append(instance)

    browser = fake_webpush.target()
    android = PushTarget("fcm", token="fcm-" + "x" * 150)
    iphone = PushTarget("apns", token="c" * 64)
    message = PushMessage("Hi", "All of you", [iphone, browser, android])
    post_send.connect(receiver)
    try:
        assert message.send() == 1
    finally:
        post_send.disconnect(receiver)
    assert sent == [message]
    assert [r.recipient for r in message.results] == [
        iphone.token,
        browser.endpoint,
        android.token,
    ]
    assert all(r.status == "sent" and r.message_id for r in message.results)
    assert json.loads(fake_webpush.received[0].plaintext)["body"] == "All of you"
    assert fake_fcm.messages[0]["notification"]["body"] == "All of you"
    assert fake_apns.notifications[0].payload["aps"]["alert"]["body"] == "All of you"


def test_a_dead_target_on_one_platform_spares_the_others(
    fake_webpush, fake_fcm, fake_apns
):
    browser = fake_webpush.target()
    fake_webpush.set_status(browser.endpoint, 410)
    android = PushTarget("fcm", token="fcm-" + "y" * 150)
    iphone = PushTarget("apns", token="d" * 64)
    message = PushMessage("Hi", "", [browser, android, iphone])
    assert message.send(fail_silently=True) == 1
    gone = [r.recipient for r in message.results if r.is_address_gone]
    assert gone == [browser.endpoint]
    assert len(fake_fcm.messages) == len(fake_apns.notifications) == 1
