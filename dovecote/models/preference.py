"""Per-user and per-group notification preferences."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils.translation import gettext_lazy as _


class BasePreference(models.Model):
    """Whether and how often the owner receives ``notification`` on ``channel``.

    ``enabled`` None and ``frequency`` "" mean "not chosen here": resolution
    goes on to the next level (see ``dovecote.notifications.preferences``).
    """

    notification = models.CharField(_("notification"), max_length=100)
    channel = models.CharField(_("channel"), max_length=40)
    enabled = models.BooleanField(_("enabled"), null=True, blank=True)
    #: ``immediate`` or a key of ``DOVECOTE_DIGEST_SCHEDULES``; "" inherits.
    frequency = models.CharField(_("frequency"), max_length=40, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        state = {True: "on", False: "off", None: "inherited"}[self.enabled]
        if self.frequency:
            state += f", {self.frequency}"
        return f"{self.owner} · {self.notification} · {self.channel}: {state}"

    @property
    def owner(self) -> object:
        """Return the user or group this preference belongs to."""
        raise NotImplementedError


class PreferenceManager(models.Manager["Preference"]):
    """Users' preferences; :meth:`switch_off` opts a user out of a type."""

    def switch_off(self, user_id: Any, notification: str, channel: str) -> Preference:
        """Switch ``notification`` off on ``channel`` for the user ``user_id``.

        The one way a user is opted out of a type: ``set_preference(...,
        False)``, the unsubscribe link and a provider's unsubscribe event
        all come here. The row is stored whatever the type's state now
        (removed, made required, channel dropped since the link was signed
        or the message sent), so the choice holds if the type returns;
        resolution ignores it for a required type. A stored frequency is
        kept.
        """
        preference, _created = self.update_or_create(
            user_id=user_id,
            notification=notification,
            channel=channel,
            defaults={"enabled": False},
        )
        return preference


class Preference(BasePreference):
    """Whether ``user`` receives ``notification`` on ``channel``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dovecote_preferences",
        verbose_name=_("user"),
    )

    objects = PreferenceManager()

    class Meta:
        verbose_name = _("preference")
        verbose_name_plural = _("preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "notification", "channel"],
                name="dovecote_preference_unique",
            )
        ]

    @property
    def owner(self) -> object:
        """Return the user."""
        return self.user


class GroupPreference(BasePreference):
    """Default for members of ``group``; a user's own Preference wins."""

    group = models.ForeignKey(
        Group,
        on_delete=models.CASCADE,
        related_name="dovecote_preferences",
        verbose_name=_("group"),
    )

    class Meta:
        verbose_name = _("group preference")
        verbose_name_plural = _("group preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["group", "notification", "channel"],
                name="dovecote_group_preference_unique",
            )
        ]

    @property
    def owner(self) -> object:
        """Return the group."""
        return self.group
