"""Who wants what: preferences, group defaults, permissions and suppressions.

Resolution for one user, type and channel: ``required`` types are always
on; else the user's own ``Preference``; else a ``GroupPreference`` of one of
the user's groups (any group switching it on wins over groups switching it
off); else on for the type's ``channels`` and off for its
``optional_channels``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from dovecote.notifications.base import Notification
from dovecote.notifications.registry import get_notification

__all__ = [
    "PreferenceResolver",
    "enabled_channels",
    "get_preference",
    "set_preference",
    "users_with_permissions",
]


class PreferenceResolver:
    """Preferences of many users for one notification type, in three queries."""

    def __init__(self, notification: type[Notification], users: Sequence[Any]) -> None:
        from dovecote.models import GroupPreference, Preference

        self.notification = notification
        self._own: dict[tuple[Any, str], bool] = {}
        self._group: dict[tuple[Any, str], bool] = {}
        ids = [user.pk for user in users]
        if not ids or notification.required:
            return
        for user_id, channel, enabled in Preference.objects.filter(
            user_id__in=ids, notification=notification.name
        ).values_list("user_id", "channel", "enabled"):
            self._own[(user_id, channel)] = enabled
        user_model = get_user_model()
        groups_field = _groups_field(user_model)
        if groups_field is None:
            return
        through = groups_field.remote_field.through
        memberships: dict[Any, list[Any]] = {}
        for user_id, group_id in through.objects.filter(
            **{f"{groups_field.m2m_field_name()}__in": ids}
        ).values_list(groups_field.m2m_column_name(), groups_field.m2m_reverse_name()):
            memberships.setdefault(group_id, []).append(user_id)
        if not memberships:
            return
        for group_id, channel, enabled in GroupPreference.objects.filter(
            group_id__in=list(memberships), notification=notification.name
        ).values_list("group_id", "channel", "enabled"):
            for user_id in memberships[group_id]:
                key = (user_id, channel)
                self._group[key] = self._group.get(key, False) or enabled

    def is_enabled(self, user: Any, channel: str) -> bool:
        """Return whether ``user`` receives this type on ``channel``."""
        return self.source(user, channel)[0]

    def source(self, user: Any, channel: str) -> tuple[bool, str]:
        """Return ``(enabled, why)``; why is required/user/group/default."""
        notification = self.notification
        if channel not in notification.all_channels():
            return False, "not_offered"
        if notification.required:
            return channel in notification.channels, "required"
        key = (user.pk, channel)
        if key in self._own:
            return self._own[key], "user"
        if key in self._group:
            return self._group[key], "group"
        return channel in notification.channels, "default"


def get_preference(
    user: Any, notification: str | type[Notification], channel: str
) -> bool:
    """Return whether ``user`` receives ``notification`` on ``channel``."""
    cls = get_notification(notification)
    return PreferenceResolver(cls, [user]).is_enabled(user, channel)


def enabled_channels(user: Any, notification: str | type[Notification]) -> list[str]:
    """Return the channels on which ``user`` receives ``notification``.

    Preferences only: permissions, addresses and suppressions are checked
    when sending (see ``explain_notification``).
    """
    cls = get_notification(notification)
    resolver = PreferenceResolver(cls, [user])
    return [c for c in cls.all_channels() if resolver.is_enabled(user, c)]


def set_preference(
    user: Any,
    notification: str | type[Notification],
    channel: str,
    enabled: bool,
) -> None:
    """Store whether ``user`` receives ``notification`` on ``channel``.

    Raise ``ValueError`` if the type does not offer that channel, or is
    required and ``enabled`` is False.
    """
    from dovecote.models import Preference

    cls = get_notification(notification)
    if channel not in cls.all_channels():
        raise ValueError(
            f"The notification {cls.name!r} is not sent on {channel!r}; it "
            f"offers {', '.join(cls.all_channels()) or 'no channels'}."
        )
    if cls.required and not enabled:
        raise ValueError(
            f"The notification {cls.name!r} is required and cannot be switched off."
        )
    Preference.objects.update_or_create(
        user=user,
        notification=cls.name,
        channel=channel,
        defaults={"enabled": bool(enabled)},
    )


def users_with_permissions(
    users: Sequence[Any], permissions: Iterable[str]
) -> set[Any]:
    """Return the pks of ``users`` who hold every permission, in one query each.

    Follow ``ModelBackend``: active superusers hold all; others need the
    permission directly or through a group. A user model without
    ``PermissionsMixin`` is asked ``has_perm`` one by one.
    """
    from django.contrib.auth.models import PermissionsMixin

    perms = list(permissions)
    active = {u.pk for u in users if getattr(u, "is_active", True)}
    if not perms:
        return {u.pk for u in users}
    user_model = get_user_model()
    if not issubclass(user_model, PermissionsMixin):
        return {u.pk for u in users if u.has_perms(perms)}
    allowed = set(active)
    for perm in perms:
        app_label, _, codename = perm.partition(".")
        if not codename:
            raise ValueError(
                f"Permission {perm!r} must be written 'app_label.codename'."
            )
        held = Q(
            user_permissions__content_type__app_label=app_label,
            user_permissions__codename=codename,
        ) | Q(
            groups__permissions__content_type__app_label=app_label,
            groups__permissions__codename=codename,
        )
        # Superusers hold everything (as ModelBackend says).
        rows = user_model._default_manager.filter(
            Q(pk__in=list(allowed)) & (Q(is_superuser=True) | held)
        ).values_list("pk", flat=True)
        allowed &= set(rows)
        if not allowed:
            break
    return allowed


def _groups_field(user_model: type[Any]) -> Any:
    try:
        field = user_model._meta.get_field("groups")
    except Exception:
        return None
    return field if getattr(field, "many_to_many", False) else None
