"""Describe registered notification types: channels, flags, templates.

Shared by the ``listnotifications`` command and the admin's notification
types page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.template import TemplateDoesNotExist, TemplateSyntaxError

from dovecote.channels import get_channels
from dovecote.notifications.base import Notification
from dovecote.notifications.registry import registered_notifications
from dovecote.rendering import find_template


@dataclass
class TemplateStatus:
    """Whether one template of one channel of a type can be loaded."""

    channel: str
    path: str
    exists: bool
    optional: bool
    error: str = ""

    @property
    def is_problem(self) -> bool:
        """Return True if a required template is missing or broken."""
        return bool(self.error) or not (self.exists or self.optional)


@dataclass
class ChannelInfo:
    """A configured channel, described for people."""

    name: str
    display_name: str
    description: str
    protocol: str


def configured_channels() -> list[ChannelInfo]:
    """Return the channels of ``DOVECOTE_CHANNELS``, in settings order."""
    return [
        ChannelInfo(c.name, str(c.display_name), str(c.description or ""), c.protocol)
        for c in get_channels().values()
    ]


@dataclass
class NotificationType:
    """A registered notification type, described for people."""

    name: str
    display_name: str
    description: str
    channels: list[str]
    optional_channels: list[str]
    required: bool
    permissions: list[str]
    templates: list[TemplateStatus] = field(default_factory=list)
    #: Channels the type names that ``DOVECOTE_CHANNELS`` does not configure.
    problems: list[str] = field(default_factory=list)
    #: The configured channels among ``channels``, with their display names.
    channel_info: list[ChannelInfo] = field(default_factory=list)

    @property
    def has_problems(self) -> bool:
        """Return True if a channel or a required template is missing."""
        return bool(self.problems) or any(t.is_problem for t in self.templates)


def template_statuses(
    notification: type[Notification], channel_name: str
) -> list[TemplateStatus]:
    """Return the status of each template ``channel_name`` renders for a type.

    Raise ``ImproperlyConfigured`` if the channel is not configured.
    """
    channel = get_channels().get(channel_name)
    if channel is None:
        raise ImproperlyConfigured(
            f"channel {channel_name!r} is not in DOVECOTE_CHANNELS"
        )
    statuses = []
    names = [*channel.template_names]
    names += [n for n in channel.optional_template_names if n not in names]
    for template_name in names:
        template_path = f"dovecote/{notification.name}/{template_name}"
        optional = template_name in channel.optional_template_names
        try:
            # dovecote's path, else django-notifier's name for it.
            template_path, _template = find_template(notification.name, template_name)
        except TemplateDoesNotExist:
            statuses.append(
                TemplateStatus(channel_name, template_path, False, optional)
            )
        except TemplateSyntaxError as exc:
            statuses.append(
                TemplateStatus(
                    channel_name, template_path, True, optional, error=str(exc)
                )
            )
        else:
            statuses.append(TemplateStatus(channel_name, template_path, True, optional))
    return statuses


def describe(notification: type[Notification]) -> NotificationType:
    """Return ``notification`` described, with the status of its templates."""
    described = NotificationType(
        name=notification.name,
        display_name=str(notification.display_name or notification.name),
        description=str(notification.description),
        channels=list(notification.channels),
        optional_channels=[
            c for c in notification.optional_channels if c not in notification.channels
        ],
        required=bool(notification.required),
        permissions=list(notification.permissions),
    )
    known = {c.name: c for c in configured_channels()}
    described.channel_info = [known[c] for c in described.channels if c in known]
    for channel_name in notification.all_channels():
        try:
            described.templates.extend(template_statuses(notification, channel_name))
        except ImproperlyConfigured as exc:
            described.problems.append(str(exc))
    return described


def registered_types() -> list[NotificationType]:
    """Return every registered notification type, described, sorted by name."""
    return [describe(n) for n in registered_notifications()]
