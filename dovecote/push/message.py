"""The push message, shaped like django.core.mail's EmailMessage."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from dovecote.push.payload import (
    APNS_PUSH_TYPES,
    URGENCIES,
    apns_payload,
    check_payload_size,
    encode_json,
    fcm_payload,
    webpush_payload,
)
from dovecote.push.target import PLATFORMS, PushTarget
from dovecote.results import RecipientResult

if TYPE_CHECKING:
    from dovecote.push.backends.base import BasePushBackend

__all__ = ["PushMessage", "PushRecipients"]

#: What ``recipients`` may hold: targets, or Web Push subscriptions as
#: ``PushSubscription.toJSON()`` returns them.
PushRecipients = Sequence[PushTarget | Mapping[str, Any]]

#: An RFC 8030 ``Topic``: at most 32 characters of the base64url alphabet.
_TOPIC = re.compile(r"[A-Za-z0-9_\-]{1,32}")


class PushMessage:
    """A push notification to one or more devices or browsers.

    ``recipients`` are :class:`~dovecote.push.PushTarget` objects (a mapping
    is read as a browser's subscription, by ``PushTarget.from_subscription``).
    ``ttl`` is how long, in seconds, the push service keeps the message for
    an offline device; ``urgency`` is one of ``very-low``, ``low``,
    ``normal``, ``high`` (``high`` is APNs priority 10 and FCM ``HIGH``);
    ``collapse_key`` lets a newer message replace an undelivered older one
    (Web Push ``Topic``: at most 32 base64url characters); ``push_type`` is
    the ``apns-push-type`` (``alert`` when there is a title or body, else
    ``background``).

    After a send, ``results`` holds one
    :class:`~dovecote.results.RecipientResult` per distinct target, whose
    ``recipient`` is the target's address (token or endpoint).
    """

    def __init__(
        self,
        title: str = "",
        body: str = "",
        recipients: PushRecipients | None = None,
        *,
        url: str | None = None,
        icon: str | None = None,
        data: Mapping[str, Any] | None = None,
        ttl: int | None = None,
        urgency: str | None = None,
        collapse_key: str | None = None,
        push_type: str | None = None,
        connection: BasePushBackend | None = None,
    ) -> None:
        if isinstance(recipients, (str, PushTarget, Mapping)):
            raise TypeError('"recipients" argument must be a list or tuple')
        if ttl is not None and (not isinstance(ttl, int) or ttl < 0):
            raise ValueError(f"ttl must be a number of seconds >= 0, not {ttl!r}")
        if urgency is not None and urgency not in URGENCIES:
            raise ValueError(
                f"urgency must be one of {', '.join(URGENCIES)}, not {urgency!r}"
            )
        if push_type is not None and push_type not in APNS_PUSH_TYPES:
            raise ValueError(
                f"push_type must be one of {', '.join(sorted(APNS_PUSH_TYPES))}, "
                f"not {push_type!r}"
            )
        self.title = title or ""
        self.body = body or ""
        self.recipients: list[PushTarget] = [
            r if isinstance(r, PushTarget) else PushTarget.from_subscription(r)
            for r in recipients or []
        ]
        self.url = url
        self.icon = icon
        self.data: dict[str, Any] = dict(data or {})
        self.ttl = ttl
        self.urgency = urgency
        self.collapse_key = collapse_key
        self.push_type = push_type
        self.connection = connection
        self.results: list[RecipientResult] = []
        #: Free-form data a caller may attach (e.g. a Delivery id).
        self.metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<PushMessage to={len(self.recipients)} title={self.title[:30]!r}>"

    @property
    def apns_push_type(self) -> str:
        """Return the ``apns-push-type``: ``push_type`` if set.

        Else ``alert`` for a message with a title or body, ``background``
        for a data-only one.
        """
        if self.push_type:
            return self.push_type
        return "alert" if (self.title or self.body) else "background"

    def payload(self, platform: str) -> dict[str, Any]:
        """Return what ``platform``'s service receives.

        See :mod:`dovecote.push.payload` for each platform's shape.
        """
        if platform == "webpush":
            return webpush_payload(
                self.title,
                self.body,
                url=self.url,
                icon=self.icon,
                data=self.data,
                collapse_key=self.collapse_key,
            )
        if platform == "fcm":
            return fcm_payload(
                self.title, self.body, url=self.url, icon=self.icon, data=self.data
            )
        if platform == "apns":
            return apns_payload(
                self.title,
                self.body,
                url=self.url,
                data=self.data,
                push_type=self.apns_push_type,
            )
        raise ValueError(f"Unknown push platform {platform!r}; use one of {PLATFORMS}")

    def payload_bytes(self, platform: str) -> bytes:
        """Return the payload of ``platform`` as the bytes sent (JSON)."""
        return encode_json(self.payload(platform))

    def payload_size(self, platform: str) -> int:
        """Return the size in bytes of the payload sent to ``platform``."""
        return len(self.payload_bytes(platform))

    def check(self, platform: str) -> None:
        """Raise if ``platform`` would refuse this message, before any request.

        ``PayloadTooLarge`` when the payload is over the service's limit
        (Web Push 3,993 bytes of plaintext, FCM and APNs 4,096);
        ``ValueError`` for data keys the service reserves, or a collapse key
        Web Push cannot carry as its ``Topic`` (or APNs as its 64-byte
        ``apns-collapse-id``).
        """
        topic = self.collapse_key
        if platform == "apns" and topic is not None and len(topic.encode()) > 64:
            raise ValueError(
                "An APNs collapse_key (apns-collapse-id) must be at most 64 bytes."
            )
        if platform == "webpush" and topic is not None and not _TOPIC.fullmatch(topic):
            raise ValueError(
                "A Web Push collapse_key (the Topic header) must be 1 to 32 "
                f"characters of A-Z, a-z, 0-9, '-' and '_', not {topic!r}."
            )
        check_payload_size(platform, self.payload_size(platform))

    def platforms(self) -> list[str]:
        """Return the platforms of the recipients, in the order of PLATFORMS."""
        present = {target.platform for target in self.recipients}
        return [p for p in PLATFORMS if p in present]

    def target(self, address: str) -> PushTarget:
        """Return the recipient whose address (token or endpoint) is ``address``."""
        for target in self.recipients:
            if target.address == address:
                return target
        raise KeyError(f"{self!r} has no recipient with that address")

    def get_connection(self, fail_silently: bool = False) -> BasePushBackend:
        """Return this message's connection, creating the default one if unset.

        The default sends each platform's recipients through
        ``PUSH_BACKENDS[platform]``.
        """
        # Import cycle: dovecote.push imports this module.
        from dovecote.push import get_connection

        if not self.connection:
            self.connection = get_connection(fail_silently=fail_silently)
        return self.connection

    def send(self, fail_silently: bool = False) -> int:
        """Send the message; return 1 if it reached a recipient, else 0.

        With no recipients, return 0 without opening a connection. Each
        platform of the recipients is checked first (:meth:`check`): an
        error is raised before any provider is called, even with
        ``fail_silently``. The backend sends ``dovecote.push.signals.post_send``
        if the message reached a recipient.
        """
        if not self.recipients:
            return 0
        for platform in self.platforms():
            self.check(platform)
        return self.get_connection(fail_silently).send_messages([self])
