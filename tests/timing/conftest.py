"""A type users may take as a digest, registered for these tests only."""

from __future__ import annotations

import pytest

from dovecote import Notification
from dovecote.notifications.registry import register, unregister


class CommentAdded(Notification):
    name = "comment-added"
    display_name = "New comment"
    channels = ["email", "inbox"]
    frequencies = ["immediate", "hourly", "daily", "weekly"]
    digest_channels = ["email"]
    batch_key = "post_title"


@pytest.fixture(autouse=True)
def comment_added():
    register(CommentAdded)
    yield CommentAdded
    unregister(CommentAdded)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(
        "ana", email="ana@example.com", password="x"
    )
