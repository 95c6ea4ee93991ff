"""With Django's LoginRequiredMiddleware on, the public views stay public.

Provider webhooks and the one-click unsubscribe are called by machines and by
people who are not logged in; the inbox's JSON endpoints answer 401 in JSON
rather than a redirect; pages for logged-in users still redirect to login.
"""

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from dovecote.models import Preference
from dovecote.tokens import unsubscribe_url
from dovecote.webhooks.twilio import compute_signature

pytestmark = pytest.mark.django_db

LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"


@pytest.fixture(autouse=True)
def login_required_middleware():
    assert LOGIN_REQUIRED not in settings.MIDDLEWARE
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, LOGIN_REQUIRED]):
        yield


def is_login_redirect(response):
    return response.status_code == 302 and response["Location"].startswith(
        settings.LOGIN_URL
    )


def dovecote_routes():
    (dovecote,) = [
        p
        for p in get_resolver().url_patterns
        if isinstance(p, URLResolver) and p.namespace == "dovecote"
    ]
    return {p.name: p for p in dovecote.url_patterns if isinstance(p, URLPattern)}


def test_pages_for_users_still_redirect_to_login():
    # Shows that the middleware is on: the preference centre needs a login.
    assert is_login_redirect(Client().get("/notifications/"))
    assert is_login_redirect(Client().get("/notifications/inbox/"))


def test_one_click_unsubscribe_get_and_post_work_without_a_session(alice):
    url = unsubscribe_url(notification="order-shipped", channel="email", user=alice)
    page = Client().get(url)
    assert page.status_code == 200
    assert not Preference.objects.exists()  # GET only confirms
    done = Client(enforce_csrf_checks=True).post(url, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert list(Preference.objects.values_list("user", "channel", "enabled")) == [
        (alice.pk, "email", False)
    ]


@pytest.mark.parametrize(
    "name", sorted(n for n in dovecote_routes() if n.startswith("webhook-"))
)
def test_every_webhook_reaches_its_signature_check_without_a_session(name):
    path = dovecote_routes()[name].pattern
    response = Client().post(f"/notifications/{path}", {"x": "1"})
    # The view itself refused the unsigned call; no login redirect.
    assert response.status_code == 403, response
    assert "error" in response.json()


def test_a_signed_twilio_status_callback_is_recorded_without_a_session():
    token = "twilio-token"
    path = "/notifications/webhooks/twilio/status/"
    data = {"MessageSid": "SM-unknown", "MessageStatus": "delivered"}
    signature = compute_signature(
        token, f"http://testserver{path}", {k: [v] for k, v in data.items()}
    )
    with override_settings(TWILIO_AUTH_TOKEN=token):
        response = Client().post(path, data, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 200


def test_inbox_json_answers_401_not_a_redirect():
    response = Client().get("/notifications/inbox/unread-count/")
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}


def test_public_views_are_marked_and_private_ones_are_not():
    routes = dovecote_routes()
    public = {
        name
        for name, route in routes.items()
        if getattr(route.callback, "login_required", True) is False
    }
    webhooks = {n for n in routes if n.startswith("webhook-")}
    assert webhooks and webhooks <= public
    assert "unsubscribe" in public
    assert not {"preferences", "inbox", "outbox", "preview"} & public
