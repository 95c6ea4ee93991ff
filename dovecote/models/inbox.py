"""In-app inbox messages."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

#: Schemes a link in the inbox may have; a path on this site has none.
LINK_SCHEMES = frozenset({"http", "https"})

# What a browser ignores in a URL: tabs and newlines anywhere, C0 controls
# and spaces around it (https://url.spec.whatwg.org/#concept-basic-url-parser).
_IGNORED = re.compile(r"[\t\n\r]|^[\x00-\x20]+|[\x00-\x20]+$")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def safe_link(url: str) -> str:
    """Return ``url`` if a browser may follow it from the inbox, else ``""``.

    Kept: absolute ``http``/``https`` URLs and references without a scheme
    (a path on this site). Dropped: ``javascript:``, ``data:`` and every other
    scheme. The inbox page and its JSON both show a message's link through
    this one rule (``InboxMessage.link``).
    """
    cleaned = _IGNORED.sub("", str(url))
    match = _SCHEME.match(cleaned)
    if match is not None and match.group(1).lower() not in LINK_SCHEMES:
        return ""
    return cleaned


class InboxMessageManager(models.Manager["InboxMessage"]):
    """Inbox messages; :meth:`unread_count` is the badge's number."""

    def unread_count(self, user: Any) -> int:
        """Return ``user``'s unread count: one query on the partial unread index.

        The inbox views and the ``{% dovecote_unread_count %}`` tag both ask
        here.
        """
        return self.filter(user=user, read_at__isnull=True).count()


class InboxMessage(models.Model):
    """One in-app notification shown in a user's inbox."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dovecote_inbox",
        verbose_name=_("user"),
    )
    delivery = models.OneToOneField(
        "dovecote.Delivery",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="inbox_message",
    )
    notification = models.CharField(_("notification"), max_length=100)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("body"))
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    objects = InboxMessageManager()

    class Meta:
        verbose_name = _("inbox message")
        verbose_name_plural = _("inbox messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The unread badge: one indexed count per page view.
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True),
                name="dovecote_inbox_unread",
            ),
            models.Index(fields=["user", "-created_at"], name="dovecote_inbox_list"),
        ]

    def __str__(self) -> str:
        return self.subject or self.body[:50]

    @property
    def link(self) -> str:
        """Return the message's link if it is safe to follow, else ``""``."""
        return safe_link(self.url)

    @property
    def is_read(self) -> bool:
        """Return True once the user has read the message."""
        return self.read_at is not None
