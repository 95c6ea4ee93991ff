"""Base class for push backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from dovecote.exceptions import InvalidPushTarget, PayloadTooLarge
from dovecote.push.message import PushMessage
from dovecote.push.signals import post_send
from dovecote.push.target import PLATFORMS, PushTarget, validate_target
from dovecote.redaction import redact_url
from dovecote.results import RecipientResult
from dovecote.status import DeliveryStatus
from dovecote.transport import BaseTransportBackend

__all__ = ["BasePushBackend", "display_target"]


def display_target(address: str) -> str:
    """Return a push address as errors and logs show it.

    A Web Push endpoint is a capability URL: only its scheme, host and first
    path segment are shown. A device token is shown as its first 8 and last
    4 characters.
    """
    if address.startswith(("https://", "http://")):
        return redact_url(address)
    if len(address) > 16:
        return f"{address[:8]}…{address[-4:]}"
    return address


class BasePushBackend(BaseTransportBackend):
    """Send push messages through one push service (or record them).

    Subclasses must implement :meth:`send_messages`, which sends every
    message of the batch and returns :meth:`finish`'s count: the number of
    messages accepted for at least one target.

    A backend sends to the platforms in ``platforms`` (the development
    backends: all three). Each target is checked first
    (:func:`~dovecote.push.target.validate_target`): a malformed one, or one
    of another platform, gets an ``"invalid"`` result and no request; a
    message too large for a platform (:meth:`PushMessage.check`) gets a
    ``"failed"`` result (code ``payload_too_large``) for each target of that
    platform, also without a request. ``RecipientResult.recipient`` is the
    target's address (token or endpoint); errors and logs show it through
    :func:`display_target`.

    After every ``send_messages`` call, ``dovecote.push.signals.post_send``
    is sent once for each message that reached a target.
    """

    address_kind: ClassVar[str] = "push target"
    post_send = post_send
    #: The platforms this backend sends to.
    platforms: ClassVar[frozenset[str]] = frozenset(PLATFORMS)

    def normalize_address(self, address: Any) -> str:
        """Return the address of a valid target of this backend's platforms."""
        target = validate_target(address)
        if target.platform not in self.platforms:
            raise InvalidPushTarget(
                f"The {self.provider_name} backend sends to "
                f"{', '.join(sorted(self.platforms))} targets, not "
                f"{target.platform}; set PUSH_BACKENDS[{target.platform!r}]."
            )
        return target.address

    def display_address(self, address: str) -> str:
        """Return the address with an endpoint redacted, a token shortened."""
        return display_target(address)

    def prepare_message(self, message: PushMessage) -> list[str]:
        """Return the addresses to send to; record invalid and oversize ones.

        Subclasses may override this to refuse more, calling it first.
        """
        addresses = self.prepare_recipients(message)
        refused: dict[str, tuple[str, str]] = {}
        for platform in {message.target(a).platform for a in addresses}:
            try:
                message.check(platform)
            except PayloadTooLarge as exc:
                refused[platform] = ("payload_too_large", exc.message)
            except ValueError as exc:
                refused[platform] = ("invalid_message", str(exc))
        if not refused:
            return addresses
        kept = []
        for address in addresses:
            refusal = refused.get(message.target(address).platform)
            if refusal is None:
                kept.append(address)
                continue
            code, reason = refusal
            message.results.append(
                RecipientResult(
                    recipient=address,
                    status=DeliveryStatus.FAILED,
                    error_code=code,
                    error_message=reason,
                )
            )
        return kept

    def target_of(self, message: PushMessage, address: str) -> PushTarget:
        """Return the target of ``message`` whose address is ``address``."""
        return message.target(address)

    def send_messages(self, messages: Sequence[PushMessage]) -> int:
        """Send each message; record per-target results; return the count sent.

        Subclasses must implement this method.
        """
        raise NotImplementedError(
            "subclasses of BasePushBackend must implement send_messages()"
        )
