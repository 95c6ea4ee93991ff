"""The ``Notification`` base class: one kind of message people can receive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dovecote.notifications.results import SendResult
    from dovecote.types import Recipients


class Notification:
    """A kind of notification, declared once and sent many times.

    Subclasses must set ``name`` (a slug: the key for templates, preferences
    and the log) and should set ``display_name`` and ``description`` for the
    preference centre. They may override :meth:`get_context` to add
    per-recipient template context::

        @register
        class PowerUserSignedUp(Notification):
            name = "power-user-signed-up"
            display_name = "A power user signed up"
            channels = ["email", "inbox"]
    """

    #: The slug that names this type in templates, preferences and the log.
    name: ClassVar[str] = ""
    #: A short human name, shown in the preference centre.
    display_name: ClassVar[str] = ""
    #: A sentence saying when this is sent.
    description: ClassVar[str] = ""
    #: Channels on by default; each recipient may switch them off.
    channels: ClassVar[Sequence[str]] = ("email",)
    #: Channels off by default that a recipient may switch on.
    optional_channels: ClassVar[Sequence[str]] = ()
    #: True: preferences cannot switch it off (security mail).
    required: ClassVar[bool] = False
    #: Permissions (``"app_label.codename"``) a user must hold, all of them.
    permissions: ClassVar[Sequence[str]] = ()
    #: Frequencies a user may pick: ``"immediate"`` and keys of
    #: ``DOVECOTE_DIGEST_SCHEDULES``. The first is the default.
    frequencies: ClassVar[Sequence[str]] = ("immediate",)
    #: Channels on which a frequency other than immediate applies.
    digest_channels: ClassVar[Sequence[str]] = ("email",)
    #: A context key grouping items within a digest ("3 comments on Post A").
    batch_key: ClassVar[str | None] = None
    #: Whether deliveries wait for the user's delivery window and pause;
    #: None means yes unless ``required``. The inbox never waits.
    delivery_windows: ClassVar[bool | None] = None
    #: An escalation chain: ``[Step("inbox"), Step("email", after="10m",
    #: unless="read"), ...]`` (docs/escalation.md). Its steps' channels are
    #: the channels the type is sent on.
    escalation: ClassVar[Sequence[Any] | None] = None
    #: At most so many per recipient and channel in any window, for this
    #: type: ``{"sms": "1/10m"}``. Never applies to a required type.
    caps: ClassVar[dict[str, str] | None] = None
    #: ``(context key, window)``: a second send with the same value of the
    #: context key to the same recipient within the window is skipped
    #: (reason ``duplicate``): ``("order_id", "15m")``.
    dedup: ClassVar[tuple[str, Any] | None] = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def __str__(self) -> str:
        return str(self.display_name or self.name)

    @classmethod
    def all_channels(cls) -> list[str]:
        """Return the default channels, then the optional ones, without repeats."""
        seen: list[str] = []
        for channel in [*cls.channels, *cls.optional_channels]:
            if channel not in seen:
                seen.append(channel)
        return seen

    @classmethod
    def offered_frequencies(cls, channel: str) -> list[str]:
        """Return the frequencies a user may pick on ``channel`` (default first)."""
        if cls.required or channel not in cls.digest_channels:
            return ["immediate"]
        return list(dict.fromkeys(cls.frequencies)) or ["immediate"]

    @classmethod
    def respects_windows(cls) -> bool:
        """Return True if deliveries wait for delivery windows and pauses."""
        if cls.delivery_windows is None:
            return not cls.required
        return bool(cls.delivery_windows)

    def get_context(self, recipient: Any, context: dict[str, Any]) -> dict[str, Any]:
        """Return the template context for one recipient.

        ``recipient`` is a user or a :class:`~dovecote.Recipient`;
        ``context`` holds the caller's context and dovecote's names
        (``recipient``, ``user``, ``site``, ...). Subclasses may override
        this to add or change names; return the (possibly same) dict.
        """
        return context

    @classmethod
    def send(
        cls,
        recipients: Recipients,
        context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SendResult:
        """Send this notification; the same as ``send_notification(cls, ...)``."""
        # Import cycle: dispatch imports this module.
        from dovecote.notifications.dispatch import send_notification

        return send_notification(cls, recipients, context, **kwargs)

    @classmethod
    def explain(
        cls,
        recipients: Recipients,
        context: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SendResult:
        """Say who would receive it on which channel, writing and sending nothing."""
        # Import cycle: dispatch imports this module.
        from dovecote.notifications.dispatch import explain_notification

        return explain_notification(cls, recipients, context, **kwargs)
