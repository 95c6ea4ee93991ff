import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client, override_settings

import dovecote.chat as chat
from dovecote.chat import send_chat
from dovecote.sms import send_sms
from tests.mailsettings import email_settings

pytestmark = pytest.mark.django_db

URL = "/notifications/outbox/"
WEBHOOK = "https://hooks.slack.com/services/T0/B0/CHATSECRET"


@pytest.fixture
def staff_client(django_user_model):
    user = django_user_model.objects.create_user("staff", "s@example.com", "pw")
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def _send_email():
    message = EmailMultiAlternatives(
        "Hello outbox",
        "Plain text body",
        "from@example.com",
        ["to@example.com"],
        headers={"Authorization": "Bearer TOPSECRET", "X-Tag": "visible"},
    )
    message.attach_alternative("<p>HTML <b>body</b></p>", "text/html")
    message.send()


def test_hidden_from_non_staff_when_not_debugging(alice_client):
    assert alice_client.get(URL).status_code == 404
    assert Client().get(URL).status_code == 404


@override_settings(DEBUG=True)
def test_debug_does_not_open_it_to_anyone(alice_client):
    # An exposed DEBUG site must not publish password-reset or unsubscribe mail.
    _send_email()
    assert Client().get(URL).status_code == 404
    assert alice_client.get(URL).status_code == 404
    assert Client().get(f"{URL}email/locmem/0/html/").status_code == 404
    assert Client().get(f"{URL}preview/order-shipped/email/html/").status_code == 404


def test_inactive_staff_cannot_see_it(django_user_model):
    user = django_user_model.objects.create_user("gone", "g@example.com", "pw")
    user.is_staff, user.is_active = True, False
    user.save()
    client = Client()
    client.force_login(user)
    assert client.get(URL).status_code == 404


@override_settings(DOVECOTE_DEV_OUTBOX_PUBLIC=True)
def test_public_setting_opens_it_loudly(caplog):
    from django.core import checks

    assert Client().get(URL).status_code == 200
    assert "DOVECOTE_DEV_OUTBOX_PUBLIC" in caplog.text
    ids = [m.id for m in checks.run_checks(tags=["security"])]
    assert "dovecote.W020" in ids


@override_settings(DOVECOTE_DEV_OUTBOX_PUBLIC=True, DOVECOTE_DEV_OUTBOX=False)
def test_off_wins_over_public(staff_client):
    from django.core import checks

    assert Client().get(URL).status_code == 404
    assert "dovecote.W020" not in [m.id for m in checks.run_checks()]


@override_settings(DOVECOTE_DEV_OUTBOX=False, DEBUG=True)
def test_setting_forces_it_off_even_for_staff(staff_client):
    assert staff_client.get(URL).status_code == 404
    assert staff_client.get(f"{URL}preview/order-shipped/email/").status_code == 404


def test_shows_email_sms_and_chat_with_secrets_hidden(staff_client):
    _send_email()
    send_sms("Héllo ünicode ✓", recipients=["+14155550100"])
    send_chat("Deploy done", recipients=[WEBHOOK], blocks=[{"type": "divider"}])
    assert chat.outbox
    html = staff_client.get(URL).content.decode()
    assert "Hello outbox" in html and "Plain text body" in html
    assert "srcdoc" not in html
    html_url = "/notifications/outbox/email/locmem/0/html/"
    assert f'sandbox="" referrerpolicy="no-referrer" src="{html_url}"' in html
    body = staff_client.get(f"{URL}email/locmem/0/html/")
    # Django 6 ends each MIME text part with a newline; Django 5.2 does not.
    assert body.content.decode().removesuffix("\n") == "<p>HTML <b>body</b></p>"
    assert body["Content-Security-Policy"].startswith("sandbox; default-src 'none';")
    assert body["X-Frame-Options"] == "SAMEORIGIN"
    assert "TOPSECRET" not in html and "visible" in html
    assert "UCS-2, 1 segment" in html
    assert "Deploy done" in html and "divider" in html
    assert "CHATSECRET" not in html
    assert "https://hooks.slack.com/services/…" in html


def test_reads_the_file_backends(staff_client, tmp_path):
    email_dir, sms_dir, chat_dir = (tmp_path / n for n in ("email", "sms", "chat"))
    with override_settings(
        **email_settings(
            "django.core.mail.backends.filebased.EmailBackend",
            file_path=str(email_dir),
        ),
        SMS_BACKEND="dovecote.sms.backends.filebased.SmsBackend",
        SMS_FILE_PATH=str(sms_dir),
        CHAT_BACKEND="dovecote.chat.backends.filebased.ChatBackend",
        CHAT_FILE_PATH=str(chat_dir),
    ):
        _send_email()
        send_sms("x" * 170, recipients=["+14155550100"])
        send_chat("From a file", recipients=[WEBHOOK])
        html = staff_client.get(URL).content.decode()
    assert "Hello outbox" in html and "TOPSECRET" not in html
    assert "GSM-7, 2 segments" in html
    assert "From a file" in html and "CHATSECRET" not in html
    assert mail.outbox == []


def test_previews_every_type_and_channel(staff_client):
    html = staff_client.get(URL).content.decode()
    assert 'href="/notifications/outbox/preview/order-shipped/sms/"' in html
    response = staff_client.get(f"{URL}preview/order-shipped/email/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ada Example" in page
    # Without an https DOVECOTE_BASE_URL an email has no List-Unsubscribe.
    assert "List-Unsubscribe" not in page
    with override_settings(DOVECOTE_BASE_URL="https://app.example.com"):
        page = staff_client.get(f"{URL}preview/order-shipped/email/").content.decode()
    assert "List-Unsubscribe" in page
    assert "&lt;https://app.example.com/notifications/unsubscribe/" in page
    sms = staff_client.get(f"{URL}preview/order-shipped/sms/").content.decode()
    assert "GSM-7" in sms


def test_preview_of_unknown_type_or_channel_is_404(staff_client):
    assert staff_client.get(f"{URL}preview/nope/email/").status_code == 404
    assert staff_client.get(f"{URL}preview/order-shipped/fax/").status_code == 404
    assert staff_client.get(f"{URL}preview/weekly-digest/inbox/").status_code == 404


def test_preview_uses_the_types_preview_context(staff_client):
    from dovecote import Notification, register
    from dovecote.notifications.registry import unregister

    @register
    class PreviewedShipment(Notification):
        name = "order-shipped-previewed"
        channels = ["email"]

        def preview_context(self):
            return {"order": "SAMPLE-42"}

    try:
        # Its templates come from memory; the pages' from the app.
        with override_settings(
            TEMPLATES=[
                {
                    "BACKEND": "django.template.backends.django.DjangoTemplates",
                    "OPTIONS": {
                        "loaders": [
                            (
                                "django.template.loaders.locmem.Loader",
                                {
                                    "dovecote/order-shipped-previewed/"
                                    "email_subject.txt": "Order {{ order }}",
                                    "dovecote/order-shipped-previewed/"
                                    "email_body.txt": "Body {{ order }}",
                                },
                            ),
                            "django.template.loaders.app_directories.Loader",
                        ],
                        "context_processors": [
                            "django.template.context_processors.request",
                            "django.contrib.auth.context_processors.auth",
                            "django.contrib.messages.context_processors.messages",
                        ],
                    },
                }
            ]
        ):
            url = f"{URL}preview/order-shipped-previewed/email/"
            page = staff_client.get(url).content.decode()
    finally:
        unregister(PreviewedShipment)
    assert "Order SAMPLE-42" in page
    assert "Body SAMPLE-42" in page


@pytest.mark.parametrize("channel", ["email", "sms", "slack-webhook", "inbox"])
def test_channels_render_plain_str_never_safe_strings(channel):
    # A SafeString would be printed unescaped by any page that shows it.
    from django.utils.safestring import SafeData

    from dovecote.channels import get_channels
    from dovecote.notifications.registry import get_notification
    from dovecote.views.outbox import sample_context

    cls = get_notification("order-shipped")
    # The test's premise, not a skip: order-shipped is sent on every channel.
    assert channel in cls.all_channels()
    context = sample_context(cls, channel)
    context["order"] = '<b onclick="x()">A&B</b>'
    rendered = get_channels()[channel].render(cls(), context)
    for value in (rendered.subject, rendered.body, rendered.html):
        assert type(value) is str
        assert not isinstance(value, SafeData)
