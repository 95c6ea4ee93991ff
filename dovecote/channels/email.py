"""The email channel: Django's mail, one connection per batch."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email

from dovecote.channels.base import Channel, Outcome, Rendered
from dovecote.exceptions import InvalidAddress
from dovecote.notifications.rendering import collapse_line

if TYPE_CHECKING:
    from dovecote.models import Delivery


class EmailChannel(Channel):
    """Send email through ``django.core.mail`` (``EMAIL_BACKEND``).

    ``OPTIONS``: ``from_email`` (default ``DEFAULT_FROM_EMAIL``) and
    ``reply_to`` (a list). ``BACKENDS`` lists email backend paths to fail
    over between.
    """

    name = "email"
    protocol = "email"
    template_names = ("email_subject.txt", "email_body.txt")
    optional_template_names = ("email_body.html",)
    option_names = ("from_email", "reply_to")

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
        if url and not notification.required:
            # RFC 8058 one-click unsubscribe.
            data["headers"] = {
                "List-Unsubscribe": f"<{url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        return Rendered(subject=subject, body=body, html=html, data=data)

    def default_backend(self) -> str:
        """Return ``EMAIL_BACKEND``."""
        return str(settings.EMAIL_BACKEND)

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
            connection=connection,
        )
        if delivery.html:
            message.attach_alternative(delivery.html, "text/html")
        return message

    def send_batch(
        self, deliveries: Sequence[Delivery], transport: str
    ) -> list[Outcome]:
        """Send each delivery on one open connection; map SMTP errors per message."""
        connection = get_connection(transport or None)
        outcomes: list[Outcome] = []
        with connection:
            is_open = True
            for delivery in deliveries:
                message = self.build_message(delivery, connection)
                try:
                    if not is_open:
                        connection.open()
                        is_open = True
                    sent = connection.send_messages([message])
                except smtplib.SMTPRecipientsRefused as exc:
                    code = next(iter(exc.recipients.values()), (550, b""))[0]
                    outcomes.append(_failure(delivery, exc, code=code))
                    continue
                except smtplib.SMTPResponseException as exc:
                    outcomes.append(_failure(delivery, exc, code=exc.smtp_code))
                    continue
                # SMTPException subclasses OSError: keep this after the above.
                except OSError as exc:
                    # The connection is gone; reopen it for the next message.
                    connection.close()
                    is_open = False
                    outcomes.append(_failure(delivery, exc, transient=True))
                    continue
                except Exception as exc:
                    outcomes.append(_failure(delivery, exc, transient=False))
                    continue
                if sent:
                    outcomes.append(
                        Outcome(
                            delivery.pk,
                            "sent",
                            backend=transport,
                            provider_message_id=message.extra_headers["Message-ID"],
                        )
                    )
                else:
                    outcomes.append(
                        Outcome(
                            delivery.pk,
                            "failed",
                            backend=transport,
                            error="The email backend sent nothing.",
                        )
                    )
        for outcome in outcomes:
            outcome.backend = transport
        return outcomes


def _failure(
    delivery: Delivery,
    exc: Exception,
    *,
    code: int | None = None,
    transient: bool | None = None,
) -> Outcome:
    if transient is None:
        # SMTP 4xx: try again later; 5xx: permanent (RFC 5321 section 4.2.1).
        transient = code is not None and 400 <= code < 500
    return Outcome(
        delivery.pk,
        "failed",
        is_transient=transient,
        # An unreachable server or 421 may work on another transport.
        is_provider_error=transient,
        error=f"{type(exc).__name__}: {exc}",
        error_code=str(code) if code is not None else "",
        exception=exc,
    )
