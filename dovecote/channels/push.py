"""The push channel: ``dovecote.push``, one Delivery per device.

A user's address for ``push`` is each of their active ``PushDevice`` rows,
stored in ``Delivery.address`` as ``<platform>:<device id>``, so that every
device has its own Delivery: its retries, outcome and retirement are its
own. The device's token or subscription is read when the push is sent.
"""

from __future__ import annotations

import datetime
import functools
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import OperationalError, connection
from django.utils.translation import gettext_lazy as _

from dovecote import push
from dovecote.channels.outcome import Outcome, Rendered
from dovecote.channels.transport import TransportChannel
from dovecote.exceptions import InvalidAddress, PayloadTooLarge, RenderError
from dovecote.failures import FailureKind
from dovecote.models import PushDevice
from dovecote.push.target import PLATFORMS, PushTarget
from dovecote.rendering import collapse_line

if TYPE_CHECKING:
    from dovecote.models import Delivery

#: A push address: ``<platform>:<PushDevice pk>``.
DEVICE_ADDRESS = re.compile(rf"({'|'.join(PLATFORMS)}):(\d+)")
#: ``Outcome.error_code`` of a delivery whose device went away before sending.
DEVICE_GONE = "device_gone"
#: The most seconds a send waits for a table another sending thread locked.
LOCK_WAIT = 5.0

T = TypeVar("T")


def when_unlocked(fn: Callable[[], T]) -> T:
    """Call ``fn``; while SQLite says another thread locked the table, retry.

    Sending threads read and deactivate devices at the same time. SQLite's
    shared cache (in-memory databases, the test database) reports such a
    conflict at once ("database table is locked") where a file database
    waits for its busy timeout: wait the same way, up to ``LOCK_WAIT``
    seconds.
    """
    deadline = time.monotonic() + LOCK_WAIT
    delay = 0.01
    while True:
        try:
            return fn()
        except OperationalError as exc:
            if (
                "locked" not in str(exc)
                or connection.in_atomic_block
                or time.monotonic() + delay > deadline
            ):
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.2)


def device_id(address: str) -> int:
    """Return the ``PushDevice`` pk of a push address (``webpush:12`` -> 12)."""
    match = DEVICE_ADDRESS.fullmatch(address)
    if match is None:
        raise InvalidAddress(
            f"{address!r} is not a push address: a push goes to a registered "
            "device, '<platform>:<PushDevice id>' (register devices with "
            "dovecote.push.register_device())."
        )
    return int(match.group(2))


class PushChannel(TransportChannel):
    """Push notifications to apps and browsers through ``dovecote.push``.

    The title comes from ``push_title.txt``, the text from ``push_body.txt``
    and the link opened on a tap from the context name ``url``. Each active
    device of a user gets its own Delivery. ``OPTIONS``: ``ttl`` (seconds a
    push service keeps an undelivered push), ``urgency`` (``very-low``,
    ``low``, ``normal``, ``high``), ``icon`` (a URL, Web Push and FCM).

    ``BACKENDS`` empty (the default) sends each device through
    ``PUSH_BACKENDS[<its platform>]``; listed backends are tried in turn
    for every device.
    """

    name = "push"
    display_name = _("Push notifications")
    description = _("A notification on your phone or in your browser.")
    protocol = "push"
    template_names = ("push_title.txt", "push_body.txt")
    option_names = ("ttl", "urgency", "icon")
    sends_to_every_address = True
    transport = push
    timeout_setting = "PUSH_TIMEOUT"
    concurrency_setting = "PUSH_CONCURRENCY"

    def user_addresses(self, users: Sequence[Any]) -> dict[Any, list[str]]:
        """Return each user's active devices as push addresses, newest first."""
        found: dict[Any, list[str]] = {}
        if not users:
            return found
        rows = (
            PushDevice.objects.reachable()
            .filter(user_id__in=[user.pk for user in users])
            .order_by("user_id", "-last_seen", "pk")
            .values_list("user_id", "platform", "pk")
        )
        for user_id, platform, pk in rows:
            found.setdefault(user_id, []).append(f"{platform}:{pk}")
        return found

    def route(self, user: Any) -> str:
        """Return "": push addresses are the user's devices, never a lookup."""
        return ""

    def validate_address(self, address: str) -> str:
        """Return ``<platform>:<device id>``, or raise ``InvalidAddress``."""
        address = str(address).strip()
        device_id(address)
        return address

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render the title and body; refuse a push too large for any platform.

        The rendering is the same for every device of a recipient, so it
        must fit each push service (Web Push 3,993 bytes of plaintext, FCM
        and APNs 4,096): a larger one raises ``RenderError`` naming the
        type, the platform and the sizes, and no provider is called.
        """
        title = collapse_line(
            self.render_template(notification, "push_title.txt", context)
        )
        body = self.render_template(notification, "push_body.txt", context).strip()
        url = str(context.get("url") or "")
        message = self.push_message(title, body, url, [])
        for platform in PLATFORMS:
            try:
                message.check(platform)
            except (PayloadTooLarge, ValueError) as exc:
                raise RenderError(
                    f"The push of {notification.name!r} cannot be sent: {exc}"
                ) from exc
        return Rendered(subject=title, body=body, data={"url": url} if url else {})

    def push_message(
        self,
        title: str,
        body: str,
        url: str,
        targets: list[PushTarget],
        connection: Any = None,
    ) -> push.PushMessage:
        """Return the ``PushMessage`` of a rendered push to ``targets``."""
        return push.PushMessage(
            title,
            body,
            targets,
            url=url or None,
            icon=self.options.get("icon"),
            ttl=self.options.get("ttl"),
            urgency=self.options.get("urgency"),
            connection=connection,
        )

    def default_backend(self) -> str:
        """Return the backend sending each platform through ``PUSH_BACKENDS``."""
        return push.PLATFORMS_BACKEND

    def build_message(self, delivery: Delivery, connection: Any) -> push.PushMessage:
        """Return the push of one delivery to its device (read by send_batch)."""
        sending: _Sending = delivery._dovecote_push  # type: ignore[attr-defined]
        sending.message = self.push_message(
            delivery.subject,
            delivery.body,
            str((delivery.data or {}).get("url") or ""),
            [device_target(sending.device)],
            connection,
        )
        return sending.message

    def send_batch(self, deliveries: Sequence[Delivery], backend: str) -> list[Outcome]:
        """Push each delivery to its device in one call; map each result.

        The devices are read first: one deactivated, removed or given to
        another user since the delivery was planned fails it
        (``device_gone``) without a request.
        """
        ids = [device_id(delivery.address) for delivery in deliveries]
        devices = when_unlocked(lambda: PushDevice.objects.in_bulk(ids))
        outcomes: dict[int, Outcome] = {}
        ready: list[Delivery] = []
        for delivery in deliveries:
            device = devices.get(device_id(delivery.address))
            if (
                device is None
                or not device.active
                or device.user_id != delivery.user_id
            ):
                outcomes[delivery.pk] = Outcome.failure(
                    delivery.pk,
                    FailureKind.PERMANENT,
                    "the device was removed or deactivated before sending",
                    error_code=DEVICE_GONE,
                    backend=backend,
                )
            else:
                delivery._dovecote_push = _Sending(device)  # type: ignore[attr-defined]
                ready.append(delivery)
        if ready:
            sent = super().send_batch(ready, backend)
            outcomes.update((outcome.delivery_id, outcome) for outcome in sent)
        return [outcomes[delivery.pk] for delivery in deliveries]

    def retire_gone_addresses(
        self, deliveries: Sequence[Delivery], outcomes: dict[int, Outcome]
    ) -> None:
        """Deactivate the devices a push service said are gone, and nothing else.

        A push address is a device, never an ``Address`` or ``Suppression``.
        APNs dates its 410: a device registered again since stays active.
        """
        for delivery in deliveries:
            outcome = outcomes.get(delivery.pk)
            sending: _Sending | None = getattr(delivery, "_dovecote_push", None)
            if outcome is None or not outcome.is_address_gone or sending is None:
                continue
            results = sending.message.results if sending.message else []
            detail = (results[0].detail or {}) if results else {}
            reason = (
                f"{sending.device.platform}: [{outcome.error_code}] {outcome.error} "
                f"[delivery #{delivery.pk}]"
            )
            when_unlocked(
                functools.partial(
                    PushDevice.objects.deactivate,
                    [sending.device.pk],
                    reason=reason,
                    unregistered_at=unregistered_at(detail.get("timestamp")),
                )
            )


@dataclass
class _Sending:
    """A delivery's device while it is sent, and its message once built."""

    device: PushDevice
    message: push.PushMessage | None = None


def unregistered_at(timestamp: Any) -> datetime.datetime | None:
    """Return when a push service says a token stopped being valid, or None.

    APNs gives milliseconds since the epoch with its 410 ``Unregistered``.
    """
    if isinstance(timestamp, datetime.datetime):
        return timestamp
    if isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        return datetime.datetime.fromtimestamp(timestamp / 1000, tz=datetime.UTC)
    if isinstance(timestamp, str) and timestamp.isdigit():
        return unregistered_at(int(timestamp))
    return None


def device_target(device: PushDevice) -> PushTarget:
    """Return the ``PushTarget`` of a stored device."""
    return PushTarget(
        device.platform,
        token=device.token,
        endpoint=device.endpoint,
        p256dh=device.p256dh,
        auth=device.auth,
        app=device.app,
        environment=device.environment,
    )
