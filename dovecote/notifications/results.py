"""What a send did or would do: ``SendResult``, its entries and skip reasons.

Entries are light (ids and statuses); Delivery rows and users are loaded on
first use, in bulk, ``CHUNK_SIZE`` at a time.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth import get_user_model

from dovecote.models import Delivery
from dovecote.notifications.base import Notification
from dovecote.notifications.recipients import Recipient
from dovecote.status import DeliveryStatus

if TYPE_CHECKING:
    from dovecote.models import Dispatch

__all__ = ["CHUNK_SIZE", "DeliveryResult", "SendResult", "SkipReason"]


#: Recipients planned, rendered and written together: a send's queries grow
#: with the number of chunks, its memory with one chunk's rows.
CHUNK_SIZE = 1000


class SkipReason:
    """Why a (recipient, channel) was skipped: ``Delivery.skip_reason``."""

    #: The user (or one of their groups) switched this channel off.
    OPTED_OUT = "opted_out"
    #: The channel is off by default for this type and nobody switched it on,
    #: or the type is not sent on it at all.
    CHANNEL_NOT_ENABLED = "channel_not_enabled"
    #: No address for the channel's protocol.
    NO_ADDRESS = "no_address"
    #: The stored addresses fail the channel's validation.
    INVALID_ADDRESS = "invalid_address"
    #: The user lacks one of the type's ``permissions``.
    NO_PERMISSION = "no_permission"
    #: The user is not active.
    INACTIVE_USER = "inactive_user"
    #: A ``Suppression`` row blocks the address.
    SUPPRESSED = "suppressed"
    #: The type names a channel missing from ``DOVECOTE_CHANNELS``.
    CHANNEL_NOT_CONFIGURED = "channel_not_configured"
    #: Not a skip: ``held``, waiting for the user's digest at ``available_at``.
    HELD_FOR_DIGEST = "held_for_digest"
    #: Not a skip: ``queued`` until the user's delivery window opens.
    OUTSIDE_DELIVERY_WINDOW = "outside_delivery_window"
    #: Not a skip: ``queued`` until the user's pause ends.
    PAUSED = "paused"
    #: The same ``dedup`` key went to this recipient within the window.
    DUPLICATE = "duplicate"
    #: Beyond a cap (``DOVECOTE_USER_CAPS``, ``Notification.caps``); on a
    #: type with digest frequencies the delivery is ``held`` for the next
    #: digest instead of skipped.
    CAPPED = "capped"
    #: The channel's budget (``DOVECOTE_BUDGETS``) is spent: ``failed``, or
    #: ``queued`` until the next period (``when_reached: "hold"``).
    OVER_BUDGET = "over_budget"
    #: An escalation step cancelled: an earlier step was read, delivered
    #: or clicked.
    ESCALATION_NOT_NEEDED = "escalation_not_needed"

    #: Each reason in words, for people reading a result.
    DESCRIPTIONS: ClassVar[dict[str, str]] = {
        OPTED_OUT: "opted out (own or group preference)",
        CHANNEL_NOT_ENABLED: "channel not enabled for this type",
        CHANNEL_NOT_CONFIGURED: "channel not in DOVECOTE_CHANNELS",
        NO_ADDRESS: "no address for this channel",
        INVALID_ADDRESS: "address is not valid",
        NO_PERMISSION: "lacks the type's permission",
        INACTIVE_USER: "user is inactive",
        SUPPRESSED: "address is suppressed",
        HELD_FOR_DIGEST: "held for the user's digest",
        OUTSIDE_DELIVERY_WINDOW: "waits for the user's delivery window",
        PAUSED: "waits for the end of the user's pause",
        DUPLICATE: "sent to this recipient within the dedup window",
        CAPPED: "beyond a cap for this recipient",
        OVER_BUDGET: "the channel's budget is spent",
        ESCALATION_NOT_NEEDED: "an earlier escalation step was seen",
    }

    @classmethod
    def describe(cls, reason: str) -> str:
        """Return ``reason`` in words (unknown reasons as they are)."""
        return cls.DESCRIPTIONS.get(reason, reason)


class UserLoader:
    """The users of a large result, loaded together on first use."""

    def __init__(self) -> None:
        self.ids: set[Any] = set()
        self.loaded: dict[Any, Any] | None = None

    def get(self, pk: Any) -> Any:
        if self.loaded is None:
            manager = get_user_model()._default_manager
            ids = sorted(self.ids)
            self.loaded = {}
            for start in range(0, len(ids), CHUNK_SIZE):
                self.loaded.update(manager.in_bulk(ids[start : start + CHUNK_SIZE]))
        return self.loaded.get(pk)


class DeliveryResult:
    """What happened (or would happen) for one recipient on one channel.

    Entries are light: they keep the Delivery's id, and load the row on
    first access of :attr:`delivery`. In a send larger than one chunk
    (``CHUNK_SIZE`` recipients) they keep users' pks too, and the result
    loads all its users in one query per chunk on first access of
    :attr:`recipient` or :attr:`user`.
    """

    __slots__ = (
        "_delivery",
        "_recipient",
        "_user_id",
        "_users",
        "address",
        "available_at",
        "channel",
        "delivery_id",
        "reason",
        "status",
    )

    def __init__(
        self,
        recipient: Any,
        channel: str,
        status: str,
        reason: str = "",
        address: str = "",
        delivery: Delivery | None = None,
    ) -> None:
        self._recipient = recipient
        self._user_id = None if isinstance(recipient, Recipient) else recipient.pk
        self._users: UserLoader | None = None
        self.channel = channel
        #: ``queued``, ``held``, ``skipped``, or after an in-process send
        #: ``sent``/``failed``.
        self.status = status
        #: For ``skipped``: a :class:`SkipReason` value. For ``held`` and
        #: a delayed ``queued``: why it waits (``held_for_digest``,
        #: ``outside_delivery_window``, ``paused``).
        self.reason = reason
        self.address = address
        self._delivery = delivery
        #: The Delivery row's pk (``None`` for an explanation).
        self.delivery_id: int | None = None if delivery is None else delivery.pk
        #: When it will be sent, if later than now: the digest's due time
        #: (``held_for_digest``) or the window's opening
        #: (``outside_delivery_window``, ``paused``).
        self.available_at: datetime.datetime | None = None

    def __repr__(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"<DeliveryResult {self.recipient} [{self.channel}] {self.status}{why}>"

    @property
    def recipient(self) -> Any:
        """Return the user or :class:`~dovecote.Recipient`."""
        if self._recipient is None and self._users is not None:
            self._recipient = self._users.get(self._user_id)
        return self._recipient

    @property
    def user(self) -> Any:
        """Return the user, or ``None`` for an on-demand recipient."""
        return None if self._user_id is None else self.recipient

    @property
    def delivery(self) -> Delivery | None:
        """Return the Delivery row (``None`` for an explanation), loaded once."""
        if self._delivery is None and self.delivery_id is not None:
            self._delivery = Delivery.objects.filter(pk=self.delivery_id).first()
        return self._delivery

    @property
    def is_skipped(self) -> bool:
        """Return True if nothing is (or was) sent."""
        return self.status == DeliveryStatus.SKIPPED

    def _is_for(self, recipient: Any) -> bool:
        if isinstance(recipient, str):
            return self.address == recipient
        if isinstance(recipient, Recipient):
            return self._user_id is None and self._recipient == recipient
        return self._user_id is not None and self._user_id == getattr(
            recipient, "pk", recipient
        )

    def set_status(self, status: str) -> None:
        """Record a status the row reached since; the row is loaded afresh."""
        self.status = status
        self._delivery = None

    def release_user(self, users: UserLoader) -> None:
        """Keep the user's pk only; ``users`` loads it (with the others) on use."""
        if self._user_id is not None:
            users.ids.add(self._user_id)
            self._users = users
            self._recipient = None


@dataclass
class SendResult:
    """The outcome of ``send_notification``: one entry per (recipient, channel).

    Entries are :class:`DeliveryResult` objects holding ids and statuses;
    Delivery rows (with their bodies) are loaded only when asked for.
    """

    notification: type[Notification]
    entries: list[DeliveryResult] = field(default_factory=list)
    dispatch: Dispatch | None = None
    #: True if the idempotency key was used before: nothing new was sent.
    is_duplicate: bool = False
    #: True for ``explain_notification``: nothing was written.
    is_explanation: bool = False

    @classmethod
    def from_dispatch(
        cls, notification: type[Notification], dispatch: Dispatch
    ) -> SendResult:
        """Return the result of an earlier send, read back from its rows.

        For a reused ``idempotency_key``: ``is_duplicate`` is True. Raise
        ``ValueError`` if the key was used for another notification type.
        """
        if dispatch.notification != notification.name:
            raise ValueError(
                f"The idempotency key {dispatch.idempotency_key!r} was used for the "
                f"notification {dispatch.notification!r}, not {notification.name!r}."
            )
        entries = []
        users = UserLoader()
        rows = (
            dispatch.deliveries.order_by("pk")
            .values_list(
                "pk",
                "user_id",
                "recipient",
                "channel",
                "status",
                "skip_reason",
                "address",
            )
            .iterator(chunk_size=CHUNK_SIZE)
        )
        for pk, user_id, key, channel, status, reason, address in rows:
            if user_id is None:
                protocol, _, value = key.partition(":")
                recipient: Any = Recipient(addresses={protocol: value})
            else:
                recipient = _UserRef(user_id)
            entry = DeliveryResult(recipient, channel, str(status), reason, address)
            entry.delivery_id = pk
            entry.release_user(users)
            entries.append(entry)
        return cls(notification, entries, dispatch, is_duplicate=True)

    def __iter__(self) -> Iterator[DeliveryResult]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> DeliveryResult:
        return self.entries[index]

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"<SendResult {self.notification.name!r}: {text or 'nobody'}>"

    @property
    def queued(self) -> list[DeliveryResult]:
        """Return the entries waiting to be sent."""
        return [e for e in self.entries if e.status == DeliveryStatus.QUEUED]

    @property
    def held(self) -> list[DeliveryResult]:
        """Return the entries held for a digest."""
        return [e for e in self.entries if e.status == DeliveryStatus.HELD]

    @property
    def sent(self) -> list[DeliveryResult]:
        """Return the entries already sent (or delivered)."""
        return [
            e
            for e in self.entries
            if e.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
        ]

    @property
    def skipped(self) -> list[DeliveryResult]:
        """Return the entries that will not be sent."""
        return [e for e in self.entries if e.status == DeliveryStatus.SKIPPED]

    @property
    def deliveries(self) -> list[Delivery]:
        """Return the Delivery rows, skipped ones too, loaded in bulk."""
        missing = [
            e for e in self.entries if e._delivery is None and e.delivery_id is not None
        ]
        for start in range(0, len(missing), CHUNK_SIZE):
            chunk = missing[start : start + CHUNK_SIZE]
            rows = Delivery.objects.in_bulk([e.delivery_id for e in chunk])
            for entry in chunk:
                entry._delivery = rows.get(entry.delivery_id)
        return [e._delivery for e in self.entries if e._delivery is not None]

    def for_recipient(self, recipient: Any) -> list[DeliveryResult]:
        """Return the entries of one user, ``Recipient`` or address."""
        return [entry for entry in self.entries if entry._is_for(recipient)]

    def reasons(self) -> dict[str, int]:
        """Return how many entries were skipped for each reason."""
        counts: dict[str, int] = {}
        for entry in self.skipped:
            counts[entry.reason] = counts.get(entry.reason, 0) + 1
        return counts


class _UserRef:
    """A user known by pk only, until the result loads it."""

    __slots__ = ("pk",)

    def __init__(self, pk: Any) -> None:
        self.pk = pk
