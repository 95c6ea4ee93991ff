"""Rendering a digest: its items, groups and templates.

Templates: ``dovecote/<type>/email_digest_subject.txt``,
``email_digest_body.txt`` and optional ``email_digest_body.html`` when every
item is of one type and the type has them, else the site-wide
``dovecote/digest/...`` (dovecote ships those). See docs/timing.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.safestring import mark_safe

from dovecote import tokens
from dovecote.channels import Rendered
from dovecote.models import Delivery
from dovecote.rendering import (
    TemplateCache,
    collapse_line,
    current_site,
)

__all__ = ["MIXED", "SITE_FOLDER", "DigestGroup", "DigestItem", "render_digest"]

#: ``Delivery.notification`` of a digest mixing several types.
MIXED = "digest"
#: The template folder for digests of mixed types (and the fallback).
SITE_FOLDER = "digest"


@dataclass
class DigestItem:
    """One held delivery inside a digest, as its template sees it."""

    delivery_id: int
    #: The type's name (slug) and display name.
    notification: str
    type: str
    #: The item's own rendered text.
    subject: str
    body: str
    html: str
    #: The value of the type's ``batch_key`` in the send's context.
    batch: str
    created_at: datetime


@dataclass
class DigestGroup:
    """Items sharing a ``batch_key`` value (and type), in order."""

    key: str
    type: str
    items: list[DigestItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return how many items the group holds."""
        return len(self.items)


def digest_frequency(items: list[Delivery]) -> str:
    info = (items[-1].data or {}).get("dovecote_item") or {}
    return str(info.get("frequency", ""))


def _items(items: Sequence[Delivery]) -> list[DigestItem]:
    found = []
    for item in items:
        info = (item.data or {}).get("dovecote_item") or {}
        found.append(
            DigestItem(
                delivery_id=item.pk,
                notification=item.notification,
                type=str(info.get("type") or item.notification),
                subject=item.subject,
                body=item.body,
                # Rendered by dovecote from an autoescaped template.
                html=mark_safe(item.html),
                batch=str(info.get("batch") or ""),
                created_at=item.created_at,
            )
        )
    return found


def _groups(items: list[DigestItem]) -> list[DigestGroup]:
    groups: dict[tuple[str, str], DigestGroup] = {}
    for item in items:
        key = (item.notification, item.batch)
        if key not in groups:
            groups[key] = DigestGroup(item.batch, item.type)
        groups[key].items.append(item)
    return list(groups.values())


def render_digest(
    user: Any, channel: str, rows: Sequence[Delivery], notification: str = MIXED
) -> Rendered:
    """Render one digest of ``rows`` for ``user`` on ``channel``.

    Templates: ``dovecote/<type>/email_digest_subject.txt``,
    ``email_digest_body.txt`` and optional ``email_digest_body.html`` when
    every item is of one type and the type has them, else
    ``dovecote/digest/...``. Other channels render
    ``<channel>_digest.txt`` as the body and the optional
    ``<channel>_digest_title.txt`` as the subject (a push's title).
    Context: ``items``, ``groups`` (by ``batch_key``), ``total``,
    ``recipient``, ``user``, ``site``, ``preferences_url``, ``frequency``,
    ``channel``.
    """
    items = _items(rows)
    context: dict[str, Any] = {
        "items": items,
        "groups": _groups(items),
        "total": len(items),
        "recipient": user,
        "user": user,
        "site": current_site(),
        "channel": channel,
        "frequency": digest_frequency(list(rows)),
        "notification": notification,
        "preferences_url": _safe(tokens.preferences_url),
    }
    folders = [notification, SITE_FOLDER] if notification != MIXED else [SITE_FOLDER]
    if channel == "email":
        body_name = "email_digest_body.txt"
        folder = _first_with(folders, body_name)
        cache = TemplateCache(folder)
        subject_cache = (
            cache
            if cache.exists("email_digest_subject.txt")
            else TemplateCache(SITE_FOLDER)
        )
        return Rendered(
            subject=collapse_line(
                subject_cache.render("email_digest_subject.txt", context)
            ),
            body=cache.render(body_name, context),
            html=cache.render("email_digest_body.html", context, optional=True),
        )
    body_name = f"{channel}_digest.txt"
    folder = _first_with(folders, body_name)
    # A title where the channel shows one (push): optional, beside the body.
    title_name = f"{channel}_digest_title.txt"
    title_folder = _first_with(folders, title_name)
    title = TemplateCache(title_folder).render(title_name, context, optional=True)
    return Rendered(
        subject=collapse_line(title),
        body=TemplateCache(folder).render(body_name, context).strip(),
    )


def _first_with(folders: list[str], template_name: str) -> str:
    for folder in folders:
        if TemplateCache(folder).exists(template_name):
            return folder
    return folders[-1]  # rendering raises RenderError naming it


def _safe(make: Any) -> str:
    try:
        return str(make())
    except Exception:
        return ""
