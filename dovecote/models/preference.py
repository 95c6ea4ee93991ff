"""Per-user and per-group notification preferences."""

from __future__ import annotations

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


class Preference(BasePreference):
    """Whether ``user`` receives ``notification`` on ``channel``."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="dovecote_preferences",
        verbose_name=_("user"),
    )

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
