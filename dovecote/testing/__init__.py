"""Test helpers: one outbox across channels, assertions, pytest fixtures.

Add the fixtures with ``pytest_plugins = ["dovecote.testing.pytest_plugin"]``
(unittest users: :class:`DovecoteTestCase`). Both switch email, SMS, chat
and push to the locmem backends while tests run, as Django's test runner does for
email, so nothing leaves the machine and ``dovecote.sms.outbox`` fills up.
"Notified" means a Delivery that is queued, sending, sent or delivered, or an
item held for (or carried by) a digest (not skipped, not failed; the digest
Delivery itself is not counted again), so the assertions hold whether or not
the task backend has run yet. :func:`deliver_queued` sends queued deliveries
now, for tests whose transaction never commits; :func:`frozen_time` and
:func:`flush_due` move the clock and send what came due (docs/timing.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import mail
from django.test import override_settings
from django.utils import timezone

import dovecote.chat
import dovecote.push
import dovecote.sms
from dovecote.compat import HAS_MAILERS
from dovecote.exceptions import InvalidAddress
from dovecote.notifications.registry import get_notification
from dovecote.status import DeliveryStatus

if TYPE_CHECKING:
    from dovecote.models import Delivery, InboxMessage

__all__ = [
    "LOCMEM_BACKENDS",
    "Clock",
    "DovecoteTestCase",
    "Outbox",
    "assert_not_notified",
    "assert_notified",
    "deliver_queued",
    "flush_due",
    "frozen_time",
    "locmem_backends",
    "notifications_sent",
    "reset_outboxes",
]

#: Statuses that count as notified.
NOTIFIED_STATUSES = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.HELD,
    DeliveryStatus.DIGESTED,
)


#: The settings the test helpers switch, and the in-memory backend for each.
LOCMEM_BACKENDS: dict[str, Any] = {
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "SMS_BACKEND": "dovecote.sms.backends.locmem.SmsBackend",
    "CHAT_BACKEND": "dovecote.chat.backends.locmem.ChatBackend",
    "PUSH_BACKENDS": dict.fromkeys(
        dovecote.push.PLATFORMS, "dovecote.push.backends.locmem.PushBackend"
    ),
}


def locmem_backends() -> override_settings:
    """Return an ``override_settings`` that switches every transport to locmem.

    It also turns off the embedded scheduler (``DOVECOTE_EMBEDDED_SCHEDULER``):
    a background thread has no place in a test; send what is due with
    :func:`deliver_queued`. Use it as a decorator or context manager, or
    ``enable()``/``disable()`` it. On Django 6.1 email switches as Django's
    test runner does it: every ``MAILERS`` alias (or ``"default"``) becomes
    locmem, and the deprecated ``EMAIL_BACKEND`` is left alone.
    """
    values: dict[str, Any] = dict(LOCMEM_BACKENDS)
    if HAS_MAILERS:
        email = values.pop("EMAIL_BACKEND")
        aliases = list(getattr(settings, "MAILERS", None) or ["default"])
        values["MAILERS"] = {alias: {"BACKEND": email} for alias in aliases}
    values["DOVECOTE_EMBEDDED_SCHEDULER"] = False
    return override_settings(**values)


def reset_outboxes() -> None:
    """Empty ``mail.outbox`` and the outboxes of the SMS, chat and push transports."""
    mail.outbox = []
    dovecote.sms.outbox = []
    dovecote.chat.outbox = []
    dovecote.push.outbox = []


class Outbox:
    """What the locmem transports and the inbox hold, channel by channel."""

    @property
    def email(self) -> list[Any]:
        """Return ``django.core.mail.outbox``."""
        return list(getattr(mail, "outbox", []))

    @property
    def sms(self) -> list[Any]:
        """Return ``dovecote.sms.outbox``."""
        return list(dovecote.sms.outbox)

    @property
    def chat(self) -> list[Any]:
        """Return ``dovecote.chat.outbox``."""
        return list(dovecote.chat.outbox)

    @property
    def push(self) -> list[Any]:
        """Return ``dovecote.push.outbox``."""
        return list(dovecote.push.outbox)

    @property
    def inbox(self) -> list[InboxMessage]:
        """Return the inbox messages, oldest first."""
        # Needs the app registry: the pytest plugin imports this module before setup.
        from dovecote.models import InboxMessage

        return list(InboxMessage.objects.order_by("created_at", "pk"))

    def __len__(self) -> int:
        return (
            len(self.email)
            + len(self.sms)
            + len(self.chat)
            + len(self.push)
            + len(self.inbox)
        )

    def clear(self) -> None:
        """Empty the transport outboxes (inbox rows stay: they are data)."""
        reset_outboxes()


def deliver_queued(notification: str | None = None) -> int:
    """Send the queued deliveries that are due now; return how many were handled.

    Use it where ``on_commit`` never fires (a test inside a transaction).
    """
    # Needs the app registry: the pytest plugin imports this module before setup.
    from dovecote.delivery.worker import deliver
    from dovecote.models import Delivery

    due = Delivery.objects.filter(
        status=DeliveryStatus.QUEUED, available_at__lte=timezone.now()
    )
    if notification is not None:
        due = due.filter(notification=notification)
    return len(deliver(list(due.values_list("pk", flat=True))))


def flush_due(notification: str | None = None) -> int:
    """Run the recovery sweep, then send what is still due; return how many.

    The production sweep (:func:`dovecote.delivery.recovery.recover`, with
    no grace) does what ``dovecote_requeue`` would do by now: leases that
    ran out are taken over, held deliveries whose slot has come become
    digests, finished digests' items are settled, and every due delivery is
    enqueued, which the in-process task backend sends there and then. What
    is still queued and due after it (a task backend that runs elsewhere)
    is sent here, only ``notification``'s if given. Time is
    ``django.utils.timezone.now()`` (move it with :func:`frozen_time`).
    """
    # Needs the app registry: the pytest plugin imports this module before setup.
    from dovecote.delivery.recovery import recover

    swept = recover(grace=0)
    enqueued = set(swept.enqueued) | set(swept.digests)
    return len(enqueued) + deliver_queued(notification)


class Clock:
    """A stopped clock that tests move forward (see :func:`frozen_time`)."""

    def __init__(self, traveller: Any) -> None:
        self._traveller = traveller

    def now(self) -> dt.datetime:
        """Return the current (frozen) time, aware."""
        return timezone.now()

    def advance(
        self,
        delta: dt.timedelta | None = None,
        *,
        to: dt.datetime | None = None,
        flush: bool = True,
    ) -> int:
        """Move the clock by ``delta`` or ``to`` a later time; flush what came due.

        Return how many deliveries :func:`flush_due` handled (0 with
        ``flush=False``).
        """
        if (delta is None) == (to is None):
            raise TypeError("Pass either a timedelta or to=<aware datetime>.")
        if to is not None:
            if to.tzinfo is None:
                raise ValueError(f"to={to!r} has no time zone.")
            self._traveller.move_to(to)
        else:
            assert delta is not None
            self._traveller.shift(delta)
        return flush_due() if flush else 0


@contextlib.contextmanager
def frozen_time(start: dt.datetime | str | None = None) -> Iterator[Clock]:
    """Stop the clock at ``start`` (default: now) for the block; yield a :class:`Clock`.

    Uses ``time-machine`` (``pip install time-machine``), so
    ``timezone.now()``, ``time.time()`` and ``datetime.now()`` all agree.
    """
    try:
        # time-machine is optional (a dev extra).
        import time_machine
    except ImportError as exc:  # a dev dependency, not a runtime one
        raise ImportError(
            "dovecote.testing.frozen_time needs time-machine: pip install time-machine"
        ) from exc
    if start is None:
        start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        yield Clock(traveller)


def notifications_sent(
    recipient: Any = None,
    notification: str | None = None,
    *,
    channel: str | None = None,
    statuses: tuple[str, ...] = NOTIFIED_STATUSES,
) -> list[Delivery]:
    """Return the Delivery rows that notified ``recipient``, oldest first.

    ``recipient`` is a user, an address (matched exactly against
    ``Delivery.address``), a ``dovecote.Recipient``, or None for anyone.
    """
    # Needs the app registry: the pytest plugin imports this module before setup.
    from dovecote.models import Delivery
    from dovecote.notifications.recipients import Recipient

    # A digest carries items that are counted themselves.
    rows = Delivery.objects.filter(status__in=statuses).exclude(
        data__has_key="dovecote_digest"
    )
    if notification is not None:
        rows = rows.filter(notification=get_notification(notification).name)
    if channel is not None:
        rows = rows.filter(channel=channel)
    if isinstance(recipient, Recipient):
        addresses = recipient.address_map()
        rows = rows.filter(
            user__isnull=True,
            address__in=_address_forms(list(addresses.values()), set(addresses)),
        )
    elif isinstance(recipient, str):
        rows = rows.filter(address__in=_address_forms([recipient]))
    elif recipient is not None:
        rows = rows.filter(user=recipient)
    return list(rows.order_by("created_at", "pk"))


def _address_forms(
    addresses: list[str], protocols: set[str] | None = None
) -> list[str]:
    # A Delivery holds the address as its channel normalised it (E.164, a
    # lowercase email domain): match the address as typed and those forms.
    # Needs the app registry: the pytest plugin imports this module before setup.
    from dovecote.channels import get_channels

    forms = set(addresses) | {a.strip() for a in addresses}
    for channel in get_channels().values():
        if protocols is not None and channel.protocol not in protocols:
            continue
        for address in addresses:
            with contextlib.suppress(InvalidAddress):
                forms.add(channel.validate_address(address))
    return sorted(forms)


def assert_notified(
    recipient: Any,
    notification: str,
    *,
    channel: str | None = None,
    count: int | None = None,
) -> list[Delivery]:
    """Assert ``recipient`` got ``notification`` (``count`` times, if given).

    Return the matching Delivery rows.
    """
    found = notifications_sent(recipient, notification, channel=channel)
    where = f" on {channel}" if channel else ""
    if count is None and not found:
        raise AssertionError(
            f"{recipient} was not notified of {notification!r}{where}. "
            + _what_happened(recipient)
        )
    if count is not None and len(found) != count:
        raise AssertionError(
            f"{recipient} was notified of {notification!r}{where} {len(found)} "
            f"time(s), not {count}. " + _what_happened(recipient)
        )
    return found


def assert_not_notified(
    recipient: Any, notification: str | None = None, *, channel: str | None = None
) -> None:
    """Assert ``recipient`` did not get ``notification`` (any type if None)."""
    found = notifications_sent(recipient, notification, channel=channel)
    if found:
        listed = ", ".join(f"{d.notification} [{d.channel}] {d.status}" for d in found)
        raise AssertionError(f"{recipient} was notified: {listed}.")


#: How many Delivery rows a failure message lists at most.
MAX_LISTED = 20


def _what_happened(recipient: Any) -> str:
    # Every type and channel: "notified on another channel" and "notified
    # of another type" are the mistakes this message is there to show.
    everything = notifications_sent(
        recipient,
        statuses=(
            DeliveryStatus.QUEUED,
            DeliveryStatus.SENDING,
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
            DeliveryStatus.FAILED,
            DeliveryStatus.SKIPPED,
        ),
    )
    if not everything:
        return "There is no Delivery for them."
    listed = ", ".join(
        f"{d.notification} [{d.channel}] {d.status}"
        + (f" ({d.skip_reason})" if d.skip_reason else "")
        + (
            f" ({d.last_error})"
            if d.status == DeliveryStatus.FAILED and d.last_error
            else ""
        )
        for d in everything[:MAX_LISTED]
    )
    more = len(everything) - MAX_LISTED
    return f"Deliveries: {listed}" + (f" and {more} more." if more > 0 else ".")


class DovecoteTestCase:
    """Mixin for ``unittest``-style tests: locmem transports, empty outboxes.

    Put it before Django's test case class::

        class SignupTests(DovecoteTestCase, TestCase):
            def test_welcome(self):
                signup("ada")
                self.assertEqual(len(self.dovecote_outbox.sms), 1)

    Email, SMS, chat and push use the locmem backends for the whole class (an
    ``@override_settings`` on the class or a test still wins), and the
    outboxes are emptied before every test. ``self.dovecote_outbox`` is an
    :class:`Outbox`.
    """

    dovecote_outbox: Outbox = Outbox()

    @classmethod
    def setUpClass(cls) -> None:
        """Switch to the locmem backends below the class's own overrides."""
        switch = locmem_backends()
        switch.enable()
        try:
            super().setUpClass()  # type: ignore[misc]
        except BaseException:
            switch.disable()
            raise
        cls.addClassCleanup(switch.disable)  # type: ignore[attr-defined]

    def setUp(self) -> None:
        """Empty the transport outboxes."""
        reset_outboxes()
        super().setUp()  # type: ignore[misc]
