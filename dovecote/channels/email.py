"""The email channel: Django's mail, one connection per batch."""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dovecote.channels.base import Channel
from dovecote.channels.connections import backend_connection
from dovecote.channels.outcome import Outcome, Rendered
from dovecote.compat import HAS_MAILERS
from dovecote.conf import setting
from dovecote.esp import REFUSED_STATUSES, message_metadata, refused_verdict
from dovecote.exceptions import InvalidAddress
from dovecote.failures import FailureKind, classify_exception
from dovecote.redaction import is_https_url
from dovecote.rendering import collapse_line

if TYPE_CHECKING:
    from dovecote.models import Delivery


#: A backend that names a Django 6.1 mailer: ``mailer:<alias>``.
MAILER_PREFIX = "mailer:"


class EmailChannel(Channel):
    """Send email through ``django.core.mail``.

    On Django 6.1 the channel sends through ``django.core.mail.mailers``:
    the alias in ``OPTIONS["mailer"]`` (default ``"default"``). On Django
    5.2 and 6.0 it uses ``EMAIL_BACKEND``.

    ``OPTIONS``: ``from_email`` (default ``DEFAULT_FROM_EMAIL``),
    ``reply_to`` (a list) and ``mailer`` (Django 6.1). ``BACKENDS`` lists
    what to fail over between: ``mailer:<alias>`` entries (Django 6.1) or
    email backend paths.
    """

    name = "email"
    display_name = pgettext_lazy("channel", "Email")
    description = _("An email to your address.")
    protocol = "email"
    template_names = ("email_subject.txt", "email_body.txt")
    optional_template_names = ("email_body.html",)
    option_names = ("from_email", "reply_to", "mailer")
    #: SMTP connections a worker keeps open in parallel, each reused for
    #: many messages.
    parallel_sends = 4

    def validate_address(self, address: str) -> str:
        """Return the address with a lowercase domain, or raise ``InvalidAddress``."""
        address = address.strip()
        try:
            validate_email(address)
        except ValidationError as exc:
            raise InvalidAddress(f"{address!r} is not a valid email address.") from exc
        local, _, domain = address.rpartition("@")
        return f"{local}@{domain.lower()}"

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render the subject (one line), the text body and the optional HTML."""
        subject = collapse_line(
            self.render_template(notification, "email_subject.txt", context)
        )
        body = self.render_template(notification, "email_body.txt", context)
        html = self.render_template(
            notification, "email_body.html", context, optional=True
        )
        data: dict[str, Any] = {}
        url = context.get("unsubscribe_url")
        if url and not notification.required and is_https_url(str(url)):
            # RFC 8058 one-click unsubscribe: an absolute https URL or none
            # (a relative one is useless to a mail client; see W021).
            data["headers"] = {
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return Rendered(subject=subject, body=body, html=html, data=data)

    def default_backend(self) -> str:
        """Return ``mailer:<alias>`` on Django 6.1, else ``EMAIL_BACKEND``."""
        if HAS_MAILERS:
            return MAILER_PREFIX + str(self.options.get("mailer") or "default")
        return str(settings.EMAIL_BACKEND)

    def open_backend(self, backend: str) -> tuple[Any, str]:
        """Return an email connection for ``backend`` and how to record it.

        ``mailer:<alias>`` is ``django.core.mail.mailers[alias]`` (Django
        6.1; without ``MAILERS``, the default mailer comes from the old
        ``EMAIL_*`` settings). Anything else is an email backend path,
        instantiated as ``get_connection(path)`` would (without the call
        that Django 6.1 deprecates); an SMTP backend gets ``timeout=`` when
        ``EMAIL_TIMEOUT`` is unset, so that a silent server cannot hold a
        message (and its lease) forever. The label, for
        ``Delivery.backend``, names the mailer and the backend class.
        """
        backend = backend or self.default_backend()
        if backend.startswith(MAILER_PREFIX):
            # Django 6.1 only (HAS_MAILERS): earlier versions have no mailers.
            from django.core.mail import mailers  # type: ignore[attr-defined]

            alias = backend.removeprefix(MAILER_PREFIX)
            connection = mailers[alias]
            cls = type(connection)
            return connection, f"{backend} ({cls.__module__}.{cls.__qualname__})"

        klass = import_string(backend)
        kwargs: dict[str, Any] = {}
        if getattr(settings, "EMAIL_TIMEOUT", None) is None and (
            isinstance(klass, type) and issubclass(klass, EmailBackend)
        ):
            kwargs["timeout"] = self.smtp_timeout()
        return klass(**kwargs), backend

    def smtp_timeout(self) -> float:
        """Return the seconds one SMTP command may wait.

        ``EMAIL_TIMEOUT`` when set; Django leaves it unset (wait forever),
        so dovecote passes ``DOVECOTE_EMAIL_TIMEOUT`` (default 10) instead.
        A mailer (Django 6.1) takes its timeout from its ``OPTIONS``.
        """
        value = getattr(settings, "EMAIL_TIMEOUT", None)
        backend = self.backend_paths()[0] or self.default_backend()
        if backend.startswith(MAILER_PREFIX):
            mailers = getattr(settings, "MAILERS", None) or {}
            alias = backend.removeprefix(MAILER_PREFIX)
            options = (mailers.get(alias) or {}).get("OPTIONS") or {}
            value = options.get("timeout", value)
        return float(value if value is not None else setting("DOVECOTE_EMAIL_TIMEOUT"))

    def send_timeout(self) -> float | None:
        """Return the most one message may take, if dovecote can tell.

        SMTP: each command waits at most :meth:`smtp_timeout`; a message is
        four (``MAIL``, ``RCPT``, ``DATA``, the content), and a reconnect
        after an error four more (connect, ``EHLO``, ``STARTTLS``, ``AUTH``).
        Django's development backends: 1 s. Other backends (an ESP through
        anymail, a custom one): None unless ``OPTIONS["send_timeout"]``.
        """
        value = super().send_timeout()
        if value is not None:
            return value
        backend = self.backend_paths()[0] or self.default_backend()
        if backend.startswith(MAILER_PREFIX):
            return 8 * self.smtp_timeout()
        try:
            klass = import_string(backend)
        except ImportError:
            return None

        if isinstance(klass, type) and issubclass(klass, EmailBackend):
            return 8 * self.smtp_timeout()
        if klass.__module__.startswith("django.core.mail.backends."):
            return 1.0  # console, file, locmem, dummy: no network
        # Another backend (an ESP's HTTP API, a custom one) has its own
        # timeout, which dovecote cannot read: OPTIONS["send_timeout"].
        return None

    def build_message(
        self, delivery: Delivery, connection: Any
    ) -> EmailMultiAlternatives:
        """Return the email for one delivery. Subclasses may override this."""
        data = delivery.data or {}
        headers = {str(k): str(v) for k, v in (data.get("headers") or {}).items()}
        headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
        message = EmailMultiAlternatives(
            subject=delivery.subject,
            body=delivery.body,
            from_email=data.get("from_email") or self.options.get("from_email"),
            to=[delivery.address],
            reply_to=self.options.get("reply_to"),
            headers=headers,
        )
        if delivery.html:
            message.attach_alternative(delivery.html, "text/html")
        # anymail sends these to the ESP, whose events echo them back, so an
        # event finds its delivery even before the ESP's id is stored.
        # Other backends ignore them. Postmark: names of at most 20 chars,
        # one tag.
        message.metadata = message_metadata(  # type: ignore[attr-defined]
            delivery.pk, delivery.notification
        )
        message.tags = [delivery.notification]  # type: ignore[attr-defined]
        return message

    def sent_outcome(
        self, delivery: Delivery, message: EmailMultiAlternatives, sent: int
    ) -> Outcome:
        """Return the Outcome of a message the backend returned from.

        With anymail, ``message.anymail_status`` has the ESP's id and status
        for the recipient: the id becomes ``provider_message_id`` (so the
        ESP's events find the delivery); ``queued`` and ``sent`` are both
        "accepted" (``sent``), never "delivered"; ``rejected`` (the ESP's
        suppression list) and ``invalid`` fail with the ESP's word and
        suppress or retire the address. Without anymail, dovecote's own
        Message-ID is the id. Subclasses may override this.
        """
        own_id = str(message.extra_headers["Message-ID"])
        status = getattr(message, "anymail_status", None)
        if status is None:
            if not sent:
                return Outcome.failure(
                    delivery.pk,
                    FailureKind.PERMANENT,
                    "The email backend sent nothing.",
                )
            return Outcome.sent(delivery.pk, provider_message_id=own_id)
        esp = _esp_name(message)
        recipient = _recipient_status(status, delivery.address)
        esp_status = str(getattr(recipient, "status", None) or "")
        if not esp_status:
            statuses = getattr(status, "status", None) or set()
            esp_status = ",".join(sorted(str(s) for s in statuses)) or "unknown"
        esp_id = str(
            getattr(recipient, "message_id", None)
            or getattr(status, "message_id", None)
            or ""
        )
        if esp_status in REFUSED_STATUSES or not sent:
            return self.refused_outcome(
                delivery, esp, esp_status or "not sent", _esp_answer(status)
            )
        return Outcome.sent(
            delivery.pk,
            provider_message_id=esp_id[:200] or own_id,
            detail=f"{esp}: {esp_status}; Message-ID {own_id}",
        )

    def refused_outcome(
        self, delivery: Delivery, esp: str, esp_status: str, answer: str = ""
    ) -> Outcome:
        """Return the Outcome of a recipient the ESP refused before sending.

        ``rejected``: the ESP's own suppression list holds the address (an
        earlier hard bounce, a complaint, an unsubscribe), so it is
        suppressed here too. ``invalid``: the address can never work.
        ``answer`` is the ESP's own reason, kept in the error.
        """
        error = f"{esp} {esp_status} the recipient"
        if answer:
            error += f": {answer}"
        verdict = refused_verdict(esp_status)
        return Outcome.failure(
            delivery.pk,
            FailureKind.PERMANENT,
            error,
            error_code=esp_status,
            is_address_gone=verdict.is_gone,
            is_address_suppressed=verdict.is_suppressed,
        )

    def failure_outcome(
        self, delivery: Delivery, message: EmailMultiAlternatives, exc: Exception
    ) -> Outcome:
        """Return the Outcome of a send that raised, by the one error table.

        SMTP 4xx and HTTP 408/429/5xx retry; SMTP 530/535 and HTTP 401/403
        fail over; other SMTP 5xx and HTTP 4xx fail at once. An SMTP 5.1.x
        "no such user" retires the address; anymail's
        ``AnymailRecipientsRefused`` is read per recipient. Subclasses may
        override this.
        """
        failure = classify_exception(exc)
        status = getattr(message, "anymail_status", None)
        recipient = _recipient_status(status, delivery.address) if status else None
        esp_status = str(getattr(recipient, "status", None) or "")
        if failure.code == "recipients_refused" and esp_status in REFUSED_STATUSES:
            outcome = self.refused_outcome(
                delivery, _esp_name(message), esp_status, _esp_answer(status)
            )
            outcome.exception = exc
            return outcome
        return Outcome.failure(
            delivery.pk,
            failure.kind,
            _error_text(exc),
            error_code=failure.code,
            is_address_gone=failure.address_gone,
            exception=exc,
        )

    def send_batch(self, deliveries: Sequence[Delivery], backend: str) -> list[Outcome]:
        """Send each delivery on one open connection; map SMTP errors per message.

        A worker keeps the connection open across batches (one per sending
        thread); otherwise it is opened and closed around the batch.
        """
        outcomes: list[Outcome] = []

        def connect() -> Any:
            connection, label = self.open_backend(backend)
            connection._dovecote_label = label
            return connection

        with backend_connection(
            f"email:{backend or self.default_backend()}", connect, shared=False
        ) as connection:
            label = getattr(connection, "_dovecote_label", backend)
            is_open = True
            for delivery in deliveries:
                message = self.build_message(delivery, connection)
                # Not message.connection: Django 6.1 deprecates that attribute.
                message._dovecote_backend = connection  # type: ignore[attr-defined]
                try:
                    if not is_open:
                        connection.open()
                        is_open = True
                    sent = connection.send_messages([message])
                except Exception as exc:
                    outcome = self.failure_outcome(delivery, message, exc)
                    if outcome.error_code == "connection_error":
                        # The connection is gone; reopen it for the next message.
                        connection.close()
                        is_open = False
                    outcomes.append(outcome)
                    continue
                outcomes.append(self.sent_outcome(delivery, message, sent))
        for outcome in outcomes:
            outcome.backend = label
        return outcomes


def _recipient_status(status: Any, address: str) -> Any:
    """Return anymail's status for ``address`` (any case), or None."""
    recipients = getattr(status, "recipients", None) or {}
    wanted = address.lower()
    for recipient, recipient_status in recipients.items():
        if str(recipient).lower() == wanted:
            return recipient_status
    return None


def _esp_name(message: EmailMultiAlternatives) -> str:
    # anymail backends say which ESP they talk to ("Postmark").
    backend = getattr(message, "_dovecote_backend", None)
    return str(getattr(backend, "esp_name", None) or "ESP")


def _esp_answer(status: Any) -> str:
    """Return the ESP's own words from its answer to the send, or ""."""
    response = getattr(status, "esp_response", None)
    if response is None:
        return ""
    try:
        data = response.json()
    except (AttributeError, ValueError):
        data = None
    if isinstance(data, dict):
        for key in ("Message", "message", "error", "detail"):
            if isinstance(data.get(key), str):
                return " ".join(data[key].split())[:500]
    return " ".join(str(getattr(response, "text", "") or "").split())[:500]


def _error_text(exc: Exception) -> str:
    # anymail's errors append the ESP's whole answer on later lines.
    return f"{type(exc).__name__}: {exc}".strip()[:2000]
