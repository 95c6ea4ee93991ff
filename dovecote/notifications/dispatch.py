"""``send_notification``: fan an event out into Delivery rows, then enqueue them.

Recipients are planned, rendered and written in chunks of ``CHUNK_SIZE``
inside one ``atomic()``: a failure in any chunk (a bad on-demand address, a
broken template) rolls back the chunks before it too, so a failure writes
nothing and enqueues nothing. The rows are written inside the caller's
transaction and enqueued, chunk by chunk, when it commits. With
``atomic=False`` outside a transaction, each chunk commits and is enqueued as
soon as it is written instead, so sending overlaps the rest of the fan-out.

Planning and rendering live in :mod:`dovecote.notifications.planning`, the
result types in :mod:`dovecote.notifications.results`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from dovecote.channels import Rendered
from dovecote.delivery.bulk import create_many
from dovecote.delivery.escalation import STEP_KEY
from dovecote.delivery.outbox import schedule_on_commit
from dovecote.models import Delivery, Dispatch
from dovecote.notifications import results
from dovecote.notifications.base import Notification
from dovecote.notifications.planning import Planned, plan_chunks, start_plan
from dovecote.notifications.registry import get_notification
from dovecote.notifications.results import DeliveryResult, SendResult, UserLoader
from dovecote.signals import notification_sent
from dovecote.status import DeliveryStatus

if TYPE_CHECKING:
    from dovecote.types import NotificationArg, Recipients

__all__ = ["explain_notification", "send_notification"]


def send_notification(
    notification: NotificationArg,
    recipients: Recipients,
    context: Mapping[str, Any] | None = None,
    *,
    channels: Sequence[str] | str | None = None,
    idempotency_key: str | None = None,
    send_at: datetime.datetime | None = None,
    atomic: bool = True,
) -> SendResult:
    """Send a notification to ``recipients`` on each channel they want.

    Write one Delivery per (recipient, channel), skipped ones included with
    their reason, inside the caller's transaction, and enqueue the queued
    ones when it commits. ``channels`` narrows the type's channels.
    ``send_at`` (aware) delays sending: task backends that can defer run
    the task then; otherwise the recovery sweep sends it when due. A reused
    ``idempotency_key`` returns the first call's result and sends nothing.
    :func:`explain_notification` says what a call would do.

    Recipients are planned, rendered and written ``CHUNK_SIZE`` at a time,
    so memory does not grow with the fan-out beyond the light result.
    ``atomic=False`` (outside a transaction) commits and enqueues each chunk
    as soon as it is written, the first ones small, so the first messages
    are on the wire while later chunks are planned; an error in a later
    chunk then leaves the chunks before it written and sending. Inside a
    transaction it changes nothing. It cannot be combined with an
    ``idempotency_key`` (``ValueError``).

    Raise ``NotificationNotRegistered`` for an unknown type,
    ``InvalidAddress`` for a malformed on-demand address and ``RenderError``
    for a broken template; then nothing is written (chunks already written
    are rolled back with the rest) and nothing is enqueued.
    """
    cls = get_notification(notification)
    if idempotency_key is not None:
        idempotency_key = _check_key(idempotency_key)
        if not atomic:
            raise ValueError(
                "idempotency_key needs atomic=True: a retry after a failure "
                "half-way would find the key and send nothing more."
            )
        existing = Dispatch.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return SendResult.from_dispatch(cls, existing)
    available_at = _available_at(send_at)
    plan = start_plan(cls, context, channels)
    plan.available_at = available_at
    using = router.db_for_write(Delivery)
    fanout = _Fanout(cls, idempotency_key, using, available_at)
    # atomic=False outside a transaction: each chunk commits (and is
    # enqueued) as soon as it is written, and the first ones are small, so
    # sending starts while later chunks are still being planned.
    streaming = not atomic and not transaction.get_connection(using).in_atomic_block
    with transaction.atomic(using=using) if not streaming else nullcontext():
        chunks = plan_chunks(plan, recipients, render=True, ramp=streaming)
        while True:
            # Planned inside the chunk's transaction: the guards' counters
            # are taken there, and given back if it rolls back.
            with transaction.atomic(using=using, savepoint=False):
                planned = next(chunks, None)
                if planned is None:
                    break
                taken = fanout.start()
                if taken is not None:
                    return taken  # another process took the key
                fanout.write(planned)
                del planned  # the bodies: only ids stay
            fanout.release_users()
        taken = fanout.start()  # nobody to send to: the call is still recorded
        if taken is not None:
            return taken
    result = SendResult(cls, fanout.entries, fanout.dispatch)
    if fanout.scheduled and not transaction.get_connection(using).in_atomic_block:
        # Committed: an in-process task backend may have sent them already.
        _refresh(result)

    notification_sent.send(sender=cls, notification=cls, result=result)
    return result


class _Fanout:
    """The Delivery rows of one send, written and enqueued chunk by chunk."""

    def __init__(
        self,
        cls: type[Notification],
        idempotency_key: str | None,
        using: str,
        available_at: datetime.datetime,
    ) -> None:
        self.cls = cls
        self.idempotency_key = idempotency_key
        self.using = using
        self.available_at = available_at
        self.now = timezone.now()
        # A deferred task (send_at, a closed window) is only worth enqueuing
        # if the backend can hold it back; otherwise the sweep enqueues the
        # rows when they come due. Held rows wait for the sweep to build the
        # digest.
        self.can_defer = _supports_defer()
        self.dispatch: Dispatch | None = None
        self.entries: list[DeliveryResult] = []
        self.users = UserLoader()
        self.chunks = 0
        self.released = 0
        self.scheduled = False

    def start(self) -> SendResult | None:
        """Create the call's Dispatch once; the first call's result if taken."""
        if self.dispatch is None:
            made = _new_dispatch(self.cls, self.idempotency_key, self.using)
            if isinstance(made, SendResult):
                return made
            self.dispatch = made
        return None

    def write(self, planned: list[Planned]) -> None:
        """Write one chunk's rows; enqueue the queued ones on commit."""
        assert self.dispatch is not None  # start() came first
        rows = [
            _row(self.dispatch, self.cls, item, self.available_at) for item in planned
        ]
        create_many(Delivery, rows)
        queued: dict[datetime.datetime | None, list[int]] = {}
        for item, row in zip(planned, rows, strict=True):
            item.entry.delivery_id = row.pk
            self.entries.append(item.entry)
            if row.status == DeliveryStatus.QUEUED:
                when = row.available_at if row.available_at > self.now else None
                queued.setdefault(when, []).append(row.pk)
        for when, ids in queued.items():
            if when is None or self.can_defer:
                schedule_on_commit(ids, using=self.using, run_after=when)
                self.scheduled = True
        self.chunks += 1

    def release_users(self) -> None:
        """Past the first chunk, keep users' pks, not the users."""
        if self.chunks > 1:
            for entry in self.entries[self.released :]:
                entry.release_user(self.users)
            self.released = len(self.entries)


def _new_dispatch(
    cls: type[Notification], idempotency_key: str | None, using: str
) -> Dispatch | SendResult:
    """Create the call's Dispatch; the first call's result if the key is taken."""
    if idempotency_key is None:
        return Dispatch.objects.create(notification=cls.name)
    try:
        with transaction.atomic(using=using):
            return Dispatch.objects.create(
                notification=cls.name, idempotency_key=idempotency_key
            )
    except IntegrityError:
        # Another process took the key between the check and here.
        existing = Dispatch.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return SendResult.from_dispatch(cls, existing)


def explain_notification(
    notification: NotificationArg,
    recipients: Recipients,
    context: Mapping[str, Any] | None = None,
    *,
    channels: Sequence[str] | str | None = None,
    idempotency_key: str | None = None,
    send_at: datetime.datetime | None = None,
) -> SendResult:
    """Return what ``send_notification`` would do, writing and sending nothing.

    Templates are not rendered. With an ``idempotency_key`` already used,
    return that earlier result.
    """
    cls = get_notification(notification)
    if idempotency_key is not None:
        existing = Dispatch.objects.filter(
            idempotency_key=_check_key(idempotency_key)
        ).first()
        if existing is not None:
            return SendResult.from_dispatch(cls, existing)
    plan = start_plan(cls, context, channels)
    plan.available_at = _available_at(send_at)
    entries = [
        item.entry
        for planned in plan_chunks(plan, recipients, render=False)
        for item in planned
    ]
    return SendResult(cls, entries, is_explanation=True)


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > 255:
        raise ValueError(
            f"idempotency_key must be a non-empty string of at most 255 "
            f"characters; got {key!r}."
        )
    return key


def _available_at(send_at: datetime.datetime | None) -> datetime.datetime:
    now = timezone.now()
    if send_at is None:
        return now
    if not isinstance(send_at, datetime.datetime):
        raise TypeError(f"send_at must be a datetime, not {type(send_at).__name__}.")
    if timezone.is_naive(send_at):
        raise ValueError(
            f"send_at={send_at!r} has no time zone; pass an aware datetime "
            "(django.utils.timezone.make_aware)."
        )
    return max(send_at, now)


def _supports_defer() -> bool:
    # Imported on use: without a Tasks API dovecote still loads (check E030
    # says what is missing), and the 5.2 backport patches Django on import.
    from dovecote.delivery.tasks import supports_defer

    return supports_defer()


def _row(
    dispatch: Dispatch,
    cls: type[Notification],
    item: Planned,
    available_at: datetime.datetime,
) -> Delivery:
    entry = item.entry
    rendered = item.rendered or Rendered()
    data = rendered.data
    if item.digest is not None:
        data = {**data, "dovecote_item": item.digest}
    if item.step_data is not None:
        data = {**data, STEP_KEY: item.step_data}
    return Delivery(
        dispatch=dispatch,
        notification=cls.name,
        channel=entry.channel,
        protocol=item.protocol,
        user=entry.user,
        recipient=item.key[:300],
        address=entry.address,
        language=item.language,
        status=entry.status,
        skip_reason=entry.reason,
        subject=rendered.subject[:500],
        body=rendered.body,
        html=rendered.html,
        data=data,
        available_at=item.available_at or available_at,
        failed_at=timezone.now() if entry.status == DeliveryStatus.FAILED else None,
        chain=f"{dispatch.pk}:{item.chain}" if item.chain else "",
        step=item.step,
    )


def _refresh(result: SendResult) -> None:
    by_id = {
        e.delivery_id: e for e in result.entries if e.status == DeliveryStatus.QUEUED
    }
    if not by_id:
        return
    rows = (
        Delivery.objects.filter(dispatch=result.dispatch)
        .exclude(status=DeliveryStatus.QUEUED)
        .values_list("pk", "status")
        .iterator(chunk_size=results.CHUNK_SIZE)
    )
    for pk, status in rows:
        entry = by_id.get(pk)
        if entry is not None:
            entry.set_status(str(status))
