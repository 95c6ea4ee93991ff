"""Who wants what: preferences, group defaults, permissions and suppressions.

Resolution for one user, type and channel: ``required`` types are always
on (and immediate); else the user's own ``Preference``; else a
``GroupPreference`` of one of the user's groups (any group switching it on
wins over groups switching it off); else on for the type's ``channels`` and
off for its ``optional_channels``. ``frequency`` resolves in the same order,
ending at the first of the type's ``frequencies``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import PermissionsMixin
from django.db.models import Q

from dovecote.models import GroupPreference, Preference
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import get_notification

__all__ = [
    "PreferenceResolver",
    "enabled_channels",
    "get_frequency",
    "get_preference",
    "set_frequency",
    "set_preference",
    "unsubscribe",
    "users_with_permissions",
]


class PreferenceResolver:
    """Preferences of many users for one or more types, in three queries.

    The one place preferences are resolved: the send path, the preference
    centre and unsubscribe all read through it. For each (user, type,
    channel), ``enabled`` and ``frequency`` resolve separately in the same
    order: required > the user's ``Preference`` > a ``GroupPreference`` >
    the type's default. A level that leaves a value empty (``enabled``
    None, ``frequency`` "") passes it on to the next.
    """

    def __init__(
        self,
        notification: type[Notification] | Sequence[type[Notification]],
        users: Sequence[Any],
    ) -> None:
        types = [notification] if isinstance(notification, type) else list(notification)
        #: The first (for one type, the only) type resolved.
        self.notification = types[0] if types else Notification
        self._types = {cls.name: cls for cls in types}
        self._own_enabled: dict[tuple[Any, str, str], bool] = {}
        self._own_frequency: dict[tuple[Any, str, str], str] = {}
        self._group_enabled: dict[tuple[Any, str, str], bool] = {}
        self._group_frequency: dict[tuple[Any, str, str], set[str]] = {}
        ids = [user.pk for user in users]
        names = [cls.name for cls in types if not cls.required]
        if not ids or not names:
            return
        for user_id, name, channel, enabled, frequency in Preference.objects.filter(
            user_id__in=ids, notification__in=names
        ).values_list("user_id", "notification", "channel", "enabled", "frequency"):
            if enabled is not None:
                self._own_enabled[(user_id, name, channel)] = enabled
            if frequency:
                self._own_frequency[(user_id, name, channel)] = frequency
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
        rows = GroupPreference.objects.filter(
            group_id__in=list(memberships), notification__in=names
        ).values_list("group_id", "notification", "channel", "enabled", "frequency")
        for group_id, name, channel, enabled, frequency in rows:
            for user_id in memberships[group_id]:
                key = (user_id, name, channel)
                if enabled is not None:
                    # Any group switching it on wins over groups switching it off.
                    self._group_enabled[key] = self._group_enabled.get(key, False) or (
                        enabled
                    )
                if frequency:
                    self._group_frequency.setdefault(key, set()).add(frequency)

    def _type(
        self, notification: str | type[Notification] | None
    ) -> type[Notification]:
        if notification is None:
            return self.notification
        name = notification if isinstance(notification, str) else notification.name
        return self._types[name]

    def is_enabled(
        self,
        user: Any,
        channel: str,
        notification: str | type[Notification] | None = None,
    ) -> bool:
        """Return whether ``user`` receives the type on ``channel``."""
        return self.source(user, channel, notification)[0]

    def source(
        self,
        user: Any,
        channel: str,
        notification: str | type[Notification] | None = None,
    ) -> tuple[bool, str]:
        """Return ``(enabled, why)``; why is required/user/group/default/not_offered."""
        cls = self._type(notification)
        if channel not in cls.all_channels():
            return False, "not_offered"
        if cls.required:
            return channel in cls.channels, "required"
        key = (user.pk, cls.name, channel)
        if key in self._own_enabled:
            return self._own_enabled[key], "user"
        if key in self._group_enabled:
            return self._group_enabled[key], "group"
        return channel in cls.channels, "default"

    def frequency(
        self,
        user: Any,
        channel: str,
        notification: str | type[Notification] | None = None,
    ) -> str:
        """Return how often ``user`` hears of the type on ``channel``.

        ``"immediate"`` or a key of ``DOVECOTE_DIGEST_SCHEDULES``. A stored
        frequency the type no longer offers is passed over. Among several
        groups, the frequency the type lists first wins.
        """
        return self.frequency_source(user, channel, notification)[0]

    def frequency_source(
        self,
        user: Any,
        channel: str,
        notification: str | type[Notification] | None = None,
    ) -> tuple[str, str]:
        """Return ``(frequency, why)``; why is required/user/group/default."""
        cls = self._type(notification)
        offered = cls.offered_frequencies(channel)
        if cls.required:
            return "immediate", "required"
        key = (user.pk, cls.name, channel)
        own = self._own_frequency.get(key)
        if own in offered:
            return str(own), "user"
        chosen = self._group_frequency.get(key)
        if chosen:
            for frequency in offered:
                if frequency in chosen:
                    return frequency, "group"
        return offered[0], "default"


def get_preference(
    user: Any, notification: str | type[Notification], channel: str
) -> bool:
    """Return whether ``user`` receives ``notification`` on ``channel``."""
    cls = get_notification(notification)
    return PreferenceResolver(cls, [user]).is_enabled(user, channel)


def get_frequency(
    user: Any, notification: str | type[Notification], channel: str
) -> str:
    """Return how often ``user`` hears of ``notification`` on ``channel``."""
    cls = get_notification(notification)
    return PreferenceResolver(cls, [user]).frequency(user, channel)


def enabled_channels(user: Any, notification: str | type[Notification]) -> list[str]:
    """Return the channels on which ``user`` receives ``notification``.

    Preferences only: permissions, addresses and suppressions are checked
    when sending (see ``explain_notification``).
    """
    cls = get_notification(notification)
    resolver = PreferenceResolver(cls, [user])
    return [c for c in cls.all_channels() if resolver.is_enabled(user, c)]


def _check_channel(cls: type[Notification], channel: str) -> None:
    if channel not in cls.all_channels():
        raise ValueError(
            f"The notification {cls.name!r} is not sent on {channel!r}; it "
            f"offers {', '.join(cls.all_channels()) or 'no channels'}."
        )


def set_preference(
    user: Any,
    notification: str | type[Notification],
    channel: str,
    enabled: bool,
) -> None:
    """Store whether ``user`` receives ``notification`` on ``channel``.

    Raise ``ValueError`` if the type does not offer that channel, or is
    required and ``enabled`` is False. A stored frequency is kept.
    """
    cls = get_notification(notification)
    _check_channel(cls, channel)
    if cls.required and not enabled:
        raise ValueError(
            f"The notification {cls.name!r} is required and cannot be switched off."
        )
    if enabled:
        _store(user, cls.name, channel, {"enabled": True})
    else:
        Preference.objects.switch_off(user.pk, cls.name, channel)


def set_frequency(
    user: Any,
    notification: str | type[Notification],
    channel: str,
    frequency: str,
) -> None:
    """Store how often ``user`` hears of ``notification`` on ``channel``.

    ``frequency`` is one the type offers on that channel
    (``Notification.frequencies``, on its ``digest_channels``; elsewhere
    only ``"immediate"``). Raise ``ValueError`` naming the offered ones
    otherwise. Whether the channel is on is left as it was.
    """
    cls = get_notification(notification)
    _check_channel(cls, channel)
    offered = cls.offered_frequencies(channel)
    if frequency not in offered:
        raise ValueError(
            f"The notification {cls.name!r} on {channel!r} offers the frequencies "
            f"{', '.join(offered)}; not {frequency!r}."
        )
    _store(user, cls.name, channel, {"frequency": frequency})


def unsubscribe(user: Any, notification: str, channel: str) -> None:
    """Switch ``notification`` off on ``channel`` for ``user`` (an unsubscribe link).

    The link was signed when the type existed; if it has changed since
    (removed, made required, channel dropped), the choice is stored all the
    same (see ``Preference.objects.switch_off``).
    """
    Preference.objects.switch_off(user.pk, notification, channel)


def _store(user: Any, name: str, channel: str, values: dict[str, Any]) -> None:
    Preference.objects.update_or_create(
        user=user, notification=name, channel=channel, defaults=values
    )


def users_with_permissions(
    users: Sequence[Any], permissions: Iterable[str]
) -> set[Any]:
    """Return the pks of ``users`` who hold every permission, in one query each.

    Follow ``ModelBackend``: active superusers hold all; others need the
    permission directly or through a group. A user model without
    ``PermissionsMixin`` is asked ``has_perm`` one by one.
    """
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
