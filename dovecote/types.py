"""Names for the types dovecote's public functions take.

Use them in your own annotations::

    from dovecote.types import Recipients

    def notify_staff(recipients: Recipients) -> None:
        send_notification("power-user-signed-up", recipients)

They are aliases written as strings, so importing this module loads no
models: it is safe before the app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import Group
    from django.db.models import QuerySet

    from dovecote.notifications.base import Notification
    from dovecote.notifications.recipients import Recipient

__all__ = [
    "NotificationArg",
    "OneRecipient",
    "Recipients",
    "UserLike",
]

#: A user of the project's user model (``AUTH_USER_MODEL``).
UserLike: TypeAlias = "AbstractBaseUser"

#: One item of a ``recipients`` argument: a saved user, an on-demand
#: :class:`~dovecote.Recipient`, or a ``Group`` (its members).
OneRecipient: TypeAlias = "AbstractBaseUser | Recipient | Group"

#: The ``recipients`` argument of ``send_notification``: one recipient, a
#: queryset of users or groups, or any iterable (nested) of those.
Recipients: TypeAlias = (
    "OneRecipient | QuerySet[Any] | Iterable[OneRecipient | QuerySet[Any]]"
)

#: A notification type, by its registered ``name`` or as the class.
NotificationArg: TypeAlias = "str | type[Notification]"
