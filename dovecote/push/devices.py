"""Registering the devices and browsers users receive pushes on.

``register_device`` is what an app's or a web page's "enable notifications"
calls (through dovecote's JSON view or a view of your own);
``unregister_device`` is its opposite. Both need the ``dovecote`` app
installed, unlike the rest of :mod:`dovecote.push`, which re-exports them
lazily.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from dovecote.exceptions import InvalidPushTarget
from dovecote.models import PushDevice
from dovecote.models.push import address_hash
from dovecote.push.target import ENVIRONMENTS, PLATFORMS, PushTarget, validate_target

__all__ = ["register_device", "unregister_device"]

#: The longest device name kept (a user agent can be longer).
NAME_LENGTH = 200


def register_device(
    user: Any,
    platform: str,
    *,
    token: str | None = None,
    subscription: Mapping[str, Any] | str | None = None,
    app: str | None = None,
    environment: str | None = None,
    name: str | None = None,
) -> PushDevice:
    """Record that ``user`` receives pushes on a device; return its row.

    ``platform`` is ``"webpush"`` (give ``subscription``: what
    ``PushSubscription.toJSON()`` returns, as a mapping or JSON text),
    ``"fcm"`` or ``"apns"`` (give the device ``token``). ``app`` is the
    app's id (the APNs topic when ``PUSH_APNS_TOPIC`` is not set),
    ``environment`` ``"production"`` (the default) or ``"sandbox"`` (APNs
    tokens of development builds), ``name`` what people see in the
    preference centre (a user agent, a phone's model).

    A token or endpoint is one row: registering it again updates that row
    (keys, app, environment, name, ``last_seen``), makes it active again
    and gives it to ``user`` if another user had it. Arguments left None
    keep their stored value. Raise ``InvalidPushTarget`` saying what is
    wrong with the token or subscription, ``TypeError`` for an unsaved user.
    """
    if getattr(user, "pk", None) is None:
        raise TypeError(f"register_device() needs a saved user, not {user!r}.")
    target = _target(platform, token, subscription, app, environment)
    now = timezone.now()
    values: dict[str, Any] = {
        "user": user,
        "platform": target.platform,
        "token": target.token,
        "endpoint": target.endpoint,
        "p256dh": target.p256dh,
        "auth": target.auth,
        "last_seen": now,
        "active": True,
        "deactivated_at": None,
        "deactivated_reason": "",
    }
    if app is not None:
        values["app"] = app.strip()
    if environment is not None:
        values["environment"] = environment
    if name is not None:
        values["name"] = str(name).strip()[:NAME_LENGTH]
    key = address_hash(target.platform, target.address)
    for _attempt in range(2):
        try:
            with transaction.atomic():
                device = PushDevice.objects.select_for_update().filter(key=key).first()
                if device is None:
                    device = PushDevice(created_at=now, **values)
                else:
                    for field, value in values.items():
                        setattr(device, field, value)
                device.save()
            return device
        except IntegrityError:
            # Another request registered the same token in between: the
            # second pass finds its row and updates it.
            continue
    raise InvalidPushTarget(
        "The device could not be registered: its row kept changing; try again."
    )


def unregister_device(
    user: Any, *, token: str | None = None, endpoint: str | None = None
) -> int:
    """Delete ``user``'s device with this ``token`` or Web Push ``endpoint``.

    Give exactly one. Another user's device with the same token is never
    touched. Return how many rows were deleted (0 or 1).
    """
    if (token is None) == (endpoint is None):
        raise TypeError("unregister_device() takes exactly one of token= or endpoint=.")
    value = token if token is not None else endpoint
    if not isinstance(value, str) or not value.strip():
        raise InvalidPushTarget(
            "unregister_device() needs a non-empty token or endpoint string."
        )
    value = value.strip()
    platforms = ("webpush",) if endpoint is not None else ("fcm", "apns")
    keys = [address_hash(platform, value) for platform in platforms]
    deleted, _ = PushDevice.objects.filter(user=user, key__in=keys).delete()
    return deleted


def _target(
    platform: Any,
    token: Any,
    subscription: Any,
    app: Any,
    environment: Any,
) -> PushTarget:
    if platform not in PLATFORMS:
        raise InvalidPushTarget(
            f"Unknown push platform {platform!r}; use one of {', '.join(PLATFORMS)}."
        )
    if environment is not None and environment not in ENVIRONMENTS:
        raise InvalidPushTarget(
            f"Unknown push environment {environment!r}; use 'production' or "
            "'sandbox' (the tokens of an iOS development build are 'sandbox')."
        )
    if app is not None and not isinstance(app, str):
        raise InvalidPushTarget(f"app must be a string, not {type(app).__name__}.")
    if platform == "webpush":
        if token is not None:
            raise InvalidPushTarget(
                "A Web Push device is registered with subscription=, not token=."
            )
        if subscription is None:
            raise InvalidPushTarget(
                "A Web Push device needs subscription= (PushSubscription.toJSON())."
            )
        if isinstance(subscription, str | bytes):
            try:
                subscription = json.loads(subscription)
            except ValueError:
                raise InvalidPushTarget(
                    "The Web Push subscription is not valid JSON."
                ) from None
        return PushTarget.from_subscription(subscription)
    if subscription is not None:
        raise InvalidPushTarget(
            f"A {platform} device is registered with token=, not subscription=."
        )
    if not isinstance(token, str) or not token.strip():
        raise InvalidPushTarget(f"A {platform} device needs its token (token=...).")
    return validate_target(
        PushTarget(
            platform,
            token=token.strip(),
            app=(app or "").strip(),
            environment=environment or "production",
        )
    )
