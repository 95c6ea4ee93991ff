"""The one table that sorts send failures, for every channel.

An HTTP status, an SMTP reply or an exception (smtplib's, anymail's,
dovecote's) becomes a :class:`FailureKind`: transient (retry, and try the
next backend now), provider-side (try the next backend) or permanent (fail
at once). :func:`smtp_address_gone` tells an SMTP "no such user" from other
refusals.
"""

from __future__ import annotations

import re
import smtplib
from dataclasses import dataclass
from enum import StrEnum

from dovecote.exceptions import DeliveryError
from dovecote.results import RecipientResult

try:  # anymail is optional: its errors are sorted only when it is installed.
    from anymail import exceptions as anymail_errors
except ImportError:  # pragma: no cover - exercised without anymail
    anymail_errors = None


class FailureKind(StrEnum):
    """What a failed send means for the next attempt."""

    #: A later attempt may succeed (timeouts, 408, 425, 429, 5xx, SMTP
    #: 4xx): retry with backoff, and another transport may take it now.
    TRANSIENT = "transient"
    #: The provider cannot send for us (credentials, account, 401, 402,
    #: 403, SMTP authentication): fail over to the next transport; on the
    #: last one, fail.
    PROVIDER = "provider"
    #: The message or the recipient will never be accepted (other 4xx,
    #: SMTP 5xx): fail at once with the provider's reason.
    PERMANENT = "permanent"

    @property
    def is_transient(self) -> bool:
        """Return True if a later attempt may succeed."""
        return self is FailureKind.TRANSIENT

    @property
    def may_fail_over(self) -> bool:
        """Return True if another transport may succeed where this one failed."""
        return self is not FailureKind.PERMANENT


#: HTTP statuses worth another attempt besides 5xx.
TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429})
#: HTTP statuses that blame the account or credentials, not the message.
PROVIDER_HTTP_STATUSES = frozenset({401, 402, 403})
#: SMTP replies that blame the login, not the message (RFC 4954 section 6):
#: authentication required, too weak, invalid credentials, encryption
#: required.
PROVIDER_SMTP_CODES = frozenset({530, 534, 535, 538})
#: RFC 3463 enhanced status codes (5.1.x) for a recipient address that does
#: not exist: bad mailbox, bad system, bad syntax, moved, null MX (RFC 7505).
GONE_ENHANCED_CODES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"})
#: What servers without enhanced codes say for an unknown mailbox.
GONE_PHRASES = ("user unknown", "unknown user", "no such user", "no such mailbox")

#: Chat platforms' answers meaning the address will never work again, as the
#: error codes their backends report (``gone_error_codes``): the channel
#: then deactivates and suppresses the address.
#: Discord (https://discord.com/developers/docs/topics/opcodes-and-status-codes):
#: 10015 Unknown Webhook (404, the webhook was deleted), 50027 Invalid
#: Webhook Token (401), and a bare 404.
DISCORD_GONE_CODES = frozenset({"10015", "50027", "404"})
#: Microsoft Teams Workflows: the workflow was deleted or turned off (404,
#: 410); the backend reports the HTTP status as the code.
TEAMS_GONE_CODES = frozenset({"404", "410"})
#: Telegram Bot API (https://core.telegram.org/api/errors): 403 "bot was
#: blocked by the user", "user is deactivated", "bot was kicked from the
#: ... chat", and 400 "chat not found", named by the Telegram backend.
TELEGRAM_GONE_CODES = frozenset(
    {"bot_blocked", "user_deactivated", "bot_kicked", "chat_not_found"}
)

#: Push services' answers meaning a device token or Web Push subscription
#: will never work again, by platform. Web Push: the HTTP status (RFC 8030:
#: an expired or removed subscription answers 404 or 410). FCM HTTP v1: the
#: ``FcmError`` code (https://firebase.google.com/docs/reference/fcm/rest/
#: v1/ErrorCode). APNs: the ``reason`` of the JSON error body
#: (https://developer.apple.com/documentation/usernotifications/handling-
#: notification-responses-from-apns). Credentials refused (Web Push 401/403,
#: FCM 401/403, APNs 403) are provider failures, never "gone".
PUSH_GONE_REASONS: dict[str, frozenset[str]] = {
    "webpush": frozenset({"404", "410"}),
    "fcm": frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"}),
    "apns": frozenset({"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"}),
}
#: FCM answers ``INVALID_ARGUMENT`` for any bad field; it is a dead token
#: only when the field at fault is the token.
FCM_TOKEN_FIELD = "message.token"

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


def classify_http_status(status: int | None) -> FailureKind:
    """Return what an HTTP error status (None: no answer at all) means."""
    if status is None or status >= 500 or status in TRANSIENT_HTTP_STATUSES:
        return FailureKind.TRANSIENT
    if status in PROVIDER_HTTP_STATUSES:
        return FailureKind.PROVIDER
    return FailureKind.PERMANENT


def classify_smtp_code(code: int) -> FailureKind:
    """Return what an SMTP reply code means (RFC 5321 section 4.2.1)."""
    if code in PROVIDER_SMTP_CODES:
        return FailureKind.PROVIDER
    if 400 <= code < 500:
        return FailureKind.TRANSIENT
    return FailureKind.PERMANENT


def enhanced_status(text: str | bytes) -> str:
    """Return the RFC 3463 enhanced status code in a reply (``"5.1.1"``), or ""."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    match = _ENHANCED.search(text)
    return ".".join(match.groups()) if match else ""


def smtp_address_gone(code: int, text: str | bytes) -> bool:
    """Return True if an SMTP reply says the recipient's mailbox does not exist."""
    if not 500 <= code < 600:
        return False
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    enhanced = enhanced_status(text)
    if enhanced:
        return enhanced in GONE_ENHANCED_CODES
    lowered = text.lower()
    return any(phrase in lowered for phrase in GONE_PHRASES)


def push_address_gone(platform: str, reason: str, *, field: str = "") -> bool:
    """Return True if a push service's error says the target is gone for good.

    ``reason`` is the Web Push status, FCM error code or APNs reason;
    ``field`` the request field FCM blamed, if any.
    """
    if reason in PUSH_GONE_REASONS.get(platform, frozenset()):
        return True
    return (
        platform == "fcm" and reason == "INVALID_ARGUMENT" and field == FCM_TOKEN_FIELD
    )


@dataclass(frozen=True)
class Failure:
    """A send error sorted by :func:`classify_exception`."""

    kind: FailureKind
    #: The provider's code (SMTP reply code, HTTP status, error code) or "".
    code: str = ""
    #: The HTTP status, if the failure came with one.
    http_status: int | None = None
    #: True if the recipient's address can never be reached (SMTP 5.1.1).
    address_gone: bool = False


def classify_exception(exc: BaseException) -> Failure:
    """Sort one send error, from any transport, into a :class:`Failure`.

    Knows dovecote's ``DeliveryError``, smtplib's replies, anymail's errors
    (``AnymailAPIError.status_code``; ``AnymailRecipientsRefused`` is
    permanent) and connection errors (transient). Anything else is
    permanent: a bug retried is still a bug.
    """
    if isinstance(exc, DeliveryError):
        if exc.status is not None:
            kind = classify_http_status(exc.status)
            if exc.is_transient:
                kind = FailureKind.TRANSIENT
        else:
            kind = FailureKind.TRANSIENT if exc.is_transient else FailureKind.PERMANENT
        return Failure(kind, code=exc.code or "", http_status=exc.status)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
        code = replies[0][0] if replies else 550
        kind = classify_smtp_code(code)
        gone = bool(replies) and all(smtp_address_gone(c, t) for c, t in replies)
        return Failure(kind, code=str(code), address_gone=gone)
    if isinstance(exc, smtplib.SMTPResponseException):
        return Failure(
            classify_smtp_code(exc.smtp_code),
            code=str(exc.smtp_code),
            address_gone=smtp_address_gone(exc.smtp_code, exc.smtp_error),
        )
    if anymail_errors is not None:
        if isinstance(exc, anymail_errors.AnymailRecipientsRefused):
            return Failure(FailureKind.PERMANENT, code="recipients_refused")
        if isinstance(exc, anymail_errors.AnymailAPIError):
            status = exc.status_code
            return Failure(
                classify_http_status(status),
                code=str(status) if status is not None else "connection_error",
                http_status=status,
            )
        if isinstance(exc, anymail_errors.AnymailConfigurationError):
            return Failure(FailureKind.PROVIDER, code="configuration")
    if isinstance(exc, (OSError, TimeoutError)):
        # Refused, reset or timed-out connections; SMTPServerDisconnected.
        return Failure(FailureKind.TRANSIENT, code="connection_error")
    return Failure(FailureKind.PERMANENT)


def classify_result(result: RecipientResult) -> FailureKind:
    """Return what a failed per-recipient transport result means.

    A backend's own ``is_transient`` wins (it knows timeouts and dropped
    connections); otherwise the HTTP status decides (401/403: provider-side).
    """
    if result.is_transient:
        return FailureKind.TRANSIENT
    if result.http_status is not None:
        kind = classify_http_status(result.http_status)
        # A non-transient result with a 5xx status was judged permanent by
        # the backend (a 2xx body saying "failed", say): keep it so.
        return FailureKind.PERMANENT if kind.is_transient else kind
    return FailureKind.PERMANENT
