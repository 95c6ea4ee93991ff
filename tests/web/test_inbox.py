import pytest
from django.template import engines
from django.test import Client, RequestFactory

from dovecote.models import InboxMessage

pytestmark = pytest.mark.django_db


def _message(user, n=1, **kwargs):
    return [
        InboxMessage.objects.create(
            user=user, notification="order-shipped", body=f"Body {i}", **kwargs
        )
        for i in range(n)
    ]


def test_unread_count_is_one_query(alice, django_assert_num_queries):
    _message(alice, 3)
    with django_assert_num_queries(1) as captured:
        assert InboxMessage.objects.unread_count(alice) == 3
    assert "read_at" in captured.captured_queries[0]["sql"]


def test_badge_and_count_tags_share_one_query(alice, django_assert_num_queries):
    _message(alice, 2)
    request = RequestFactory().get("/")
    request.user = alice
    template = engines["django"].from_string(
        "{% load dovecote %}{% dovecote_unread_badge %}|{% dovecote_unread_count %}"
    )
    with django_assert_num_queries(1):
        html = template.render({"user": alice}, request)
    assert 'data-dovecote-unread="2"' in html
    assert "2 unread notifications" in html
    assert html.endswith("|2")


def test_badge_for_anonymous_is_zero_without_a_query(django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    template = engines["django"].from_string(
        "{% load dovecote %}{% dovecote_unread_count %}"
    )
    with django_assert_num_queries(0):
        assert template.render({}, request) == "0"


def test_inbox_page_needs_login_and_shows_only_own_messages(alice, bob, alice_client):
    assert Client().get("/notifications/inbox/").status_code == 302
    _message(alice, 1, subject="For Alice")
    _message(bob, 1, subject="For Bob")
    html = alice_client.get("/notifications/inbox/").content.decode()
    assert "For Alice" in html
    assert "For Bob" not in html


def test_messages_json_is_paginated(alice, alice_client):
    _message(alice, 25)
    data = alice_client.get("/notifications/inbox/messages/").json()
    assert (len(data["results"]), data["count"], data["num_pages"]) == (20, 25, 2)
    assert data["has_next"] and data["unread_count"] == 25
    page2 = alice_client.get(
        "/notifications/inbox/messages/?page=2&page_size=20"
    ).json()
    assert len(page2["results"]) == 5
    bad = alice_client.get("/notifications/inbox/messages/?page_size=lots")
    assert bad.status_code == 400


def test_json_endpoints_answer_401_when_signed_out():
    for url in ("/notifications/inbox/messages/", "/notifications/inbox/unread-count/"):
        assert Client().get(url).status_code == 401
    assert Client().post("/notifications/inbox/read-all/").status_code == 401


def test_mark_read_marks_own_message(alice, alice_client):
    message, _other = _message(alice, 2)
    response = alice_client.post(f"/notifications/inbox/{message.pk}/read/")
    assert response.status_code == 200
    assert response.json()["unread_count"] == 1
    message.refresh_from_db()
    assert message.read_at is not None
    assert alice_client.get("/notifications/inbox/unread-count/").json() == {
        "unread_count": 1
    }


def test_another_users_message_is_404_and_stays_unread(bob, alice_client):
    (message,) = _message(bob)
    response = alice_client.post(f"/notifications/inbox/{message.pk}/read/")
    assert response.status_code == 404
    message.refresh_from_db()
    assert message.read_at is None


def test_mark_all_read_touches_only_own_messages(alice, bob, alice_client):
    _message(alice, 3)
    (bobs,) = _message(bob)
    response = alice_client.post("/notifications/inbox/read-all/")
    assert response.json() == {"marked": 3, "unread_count": 0}
    bobs.refresh_from_db()
    assert bobs.read_at is None


def test_form_post_redirects_to_a_safe_next_only(alice, alice_client):
    first, second = _message(alice, 2)
    response = alice_client.post(
        f"/notifications/inbox/{first.pk}/read/", {"next": "/orders/1/"}
    )
    assert response.status_code == 302 and response["Location"] == "/orders/1/"
    response = alice_client.post(
        f"/notifications/inbox/{second.pk}/read/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/notifications/inbox/"


def test_marking_read_needs_post_and_a_csrf_token(alice, alice_client, csrf_client):
    (message,) = _message(alice)
    assert (
        alice_client.get(f"/notifications/inbox/{message.pk}/read/").status_code == 405
    )
    assert (
        csrf_client.post(f"/notifications/inbox/{message.pk}/read/").status_code == 403
    )
    message.refresh_from_db()
    assert message.read_at is None


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:x",
        "data:text/html,x",
    ],
)
def test_json_drops_a_link_that_is_not_http(
    alice, alice_client, url, django_capture_on_commit_callbacks
):
    from dovecote import send_notification

    with django_capture_on_commit_callbacks(execute=True):
        send_notification(
            "order-shipped", [alice], {"url": url, "order_id": 7}, channels=["inbox"]
        )
    (result,) = alice_client.get("/notifications/inbox/messages/").json()["results"]
    assert result["url"] == ""
    html = alice_client.get("/notifications/inbox/").content.decode()
    assert "script:" not in html.lower() and "data:text" not in html


def test_json_keeps_http_https_and_local_links(alice, alice_client):
    for url in ("https://shop.example/orders/7", "http://shop.example/", "/orders/7/"):
        _message(alice, 1, url=url)
    results = alice_client.get("/notifications/inbox/messages/").json()["results"]
    assert sorted(r["url"] for r in results) == [
        "/orders/7/",
        "http://shop.example/",
        "https://shop.example/orders/7",
    ]
