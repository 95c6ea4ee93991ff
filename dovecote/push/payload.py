"""What each push service receives for a message, and its size limits.

* Web Push: the JSON object the service worker reads from
  ``event.data.json()``: ``title``, ``body`` and, when set, ``url``,
  ``icon``, ``data`` and ``tag`` (the collapse key). At most 3,993 bytes of
  plaintext: one 4,096-byte aes128gcm record (RFC 8291 section 4) less its
  86-byte header, 16-byte tag and padding delimiter.
* FCM: the ``notification`` and ``data`` blocks of an HTTP v1 message
  (``data`` values are strings; ``url`` goes in ``data``). At most 4,096
  bytes.
* APNs: the JSON body, ``{"aps": {"alert": {...}}, "url": ..., <data>}``.
  At most 4,096 bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dovecote.exceptions import PayloadTooLarge

__all__ = [
    "APNS_PUSH_TYPES",
    "FCM_RESERVED_KEYS",
    "PAYLOAD_LIMITS",
    "URGENCIES",
    "apns_payload",
    "check_payload_size",
    "encode_json",
    "fcm_payload",
    "webpush_payload",
]

#: Bytes each service accepts (Web Push: plaintext before encryption).
PAYLOAD_LIMITS = {"webpush": 3993, "fcm": 4096, "apns": 4096}
#: RFC 8030 section 5.3 urgencies, least urgent first.
URGENCIES = ("very-low", "low", "normal", "high")
#: The ``apns-push-type`` values APNs documents.
APNS_PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "controls",
        "complication",
        "fileprovider",
        "liveactivity",
        "location",
        "mdm",
        "pushtotalk",
        "voip",
        "widgets",
    }
)
#: Keys FCM refuses in ``data`` (and any key starting with ``google`` or
#: ``gcm``).
FCM_RESERVED_KEYS = frozenset({"from", "notification", "message_type"})


def encode_json(value: Any) -> bytes:
    """Return compact UTF-8 JSON, as sent on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def webpush_payload(
    title: str,
    body: str,
    *,
    url: str | None = None,
    icon: str | None = None,
    data: Mapping[str, Any] | None = None,
    collapse_key: str | None = None,
) -> dict[str, Any]:
    """Return the JSON object a service worker receives."""
    payload: dict[str, Any] = {"title": title, "body": body}
    if url:
        payload["url"] = url
    if icon:
        payload["icon"] = icon
    if data:
        payload["data"] = dict(data)
    if collapse_key:
        payload["tag"] = collapse_key
    return payload


def fcm_payload(
    title: str,
    body: str,
    *,
    url: str | None = None,
    icon: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the ``notification`` and ``data`` blocks of an FCM message.

    ``data`` values that are not strings are sent as JSON text (FCM takes
    strings only); a key FCM reserves raises ``ValueError``.
    """
    strings: dict[str, str] = {}
    for key, value in (data or {}).items():
        key = str(key)
        if key in FCM_RESERVED_KEYS or key.lower().startswith(("google", "gcm")):
            raise ValueError(f"FCM reserves the data key {key!r}; rename it.")
        strings[key] = value if isinstance(value, str) else json.dumps(value)
    if url:
        strings.setdefault("url", url)
    if icon:
        strings.setdefault("icon", icon)
    payload: dict[str, Any] = {}
    if title or body:
        payload["notification"] = {"title": title, "body": body}
    if strings:
        payload["data"] = strings
    return payload


def apns_payload(
    title: str,
    body: str,
    *,
    url: str | None = None,
    data: Mapping[str, Any] | None = None,
    push_type: str = "alert",
) -> dict[str, Any]:
    """Return the JSON body of an APNs request.

    An ``alert`` shows ``title`` and ``body``; a ``background`` push sets
    ``content-available``. ``url`` and ``data`` are custom keys beside
    ``aps`` (``aps`` itself is reserved).
    """
    aps: dict[str, Any] = {}
    if push_type == "background":
        aps["content-available"] = 1
    elif title or body:
        aps["alert"] = {"title": title, "body": body}
    payload: dict[str, Any] = {"aps": aps}
    for key, value in (data or {}).items():
        if key == "aps":
            raise ValueError('APNs reserves the key "aps"; rename it.')
        payload[str(key)] = value
    if url:
        payload.setdefault("url", url)
    return payload


def check_payload_size(platform: str, size: int) -> None:
    """Raise ``PayloadTooLarge`` if ``size`` bytes exceed the platform's limit."""
    limit = PAYLOAD_LIMITS[platform]
    if size > limit:
        raise PayloadTooLarge(
            f"The {platform} payload is {size:,} bytes; the push service "
            f"accepts at most {limit:,}. Shorten the title, body or data.",
            code="payload_too_large",
        )
