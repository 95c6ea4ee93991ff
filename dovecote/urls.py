"""URLs of dovecote's web side: ``path("notifications/", include("dovecote.urls"))``."""

from __future__ import annotations

from django.urls import path

from dovecote.views import inbox, outbox, preferences, push, unsubscribe
from dovecote.webhooks import messagebird, telegram, twilio, vonage

app_name = "dovecote"

urlpatterns = [
    path("", preferences.preferences, name="preferences"),
    path(
        "unsubscribe/<str:token>/",
        unsubscribe.unsubscribe,
        name="unsubscribe",
    ),
    path("inbox/", inbox.inbox, name="inbox"),
    path("inbox/messages/", inbox.messages, name="inbox-messages"),
    path("inbox/unread-count/", inbox.unread_count, name="inbox-unread-count"),
    path("inbox/<int:pk>/read/", inbox.mark_read, name="inbox-read"),
    path("inbox/read-all/", inbox.mark_all_read, name="inbox-read-all"),
    path("push/public-key/", push.public_key, name="push-public-key"),
    path("push/subscribe/", push.subscribe, name="push-subscribe"),
    path("push/unsubscribe/", push.unsubscribe, name="push-unsubscribe"),
    path("push/service-worker.js", push.service_worker, name="push-service-worker"),
    path(
        "push/devices/<int:pk>/remove/",
        push.remove_device,
        name="push-device-remove",
    ),
    path("outbox/", outbox.outbox, name="outbox"),
    path(
        "outbox/preview/<str:notification>/<str:channel>/",
        outbox.preview,
        name="preview",
    ),
    path(
        "outbox/preview/<str:notification>/<str:channel>/html/",
        outbox.preview_html,
        name="preview-html",
    ),
    path(
        "outbox/email/<str:source>/<int:index>/html/",
        outbox.email_html,
        name="outbox-email-html",
    ),
    path("webhooks/twilio/status/", twilio.status, name="webhook-twilio-status"),
    path("webhooks/twilio/inbound/", twilio.inbound, name="webhook-twilio-inbound"),
    path("webhooks/vonage/status/", vonage.status, name="webhook-vonage-status"),
    path("webhooks/vonage/inbound/", vonage.inbound, name="webhook-vonage-inbound"),
    path(
        "webhooks/telegram/",
        telegram.inbound,
        name="webhook-telegram",
    ),
    path(
        "webhooks/messagebird/status/",
        messagebird.status,
        name="webhook-messagebird-status",
    ),
]
