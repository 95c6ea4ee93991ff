"""The channel interface: a Delivery becomes a transport message and is sent.

Vocabulary: a *backend* is the class that talks to a provider (or a
development sink), named by ``EMAIL_BACKEND``, ``SMS_BACKEND``,
``CHAT_BACKEND`` or a channel's ``BACKENDS``; a *transport* is the
``django.core.mail``-shaped API its backends plug into (``django.core.mail``,
``dovecote.sms``, ``dovecote.chat``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dovecote.models import Delivery


@dataclass
class Rendered:
    """A notification rendered for one channel and recipient."""

    subject: str = ""
    body: str = ""
    html: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    """What happened when a channel tried to send one Delivery."""

    delivery_id: int
    #: ``"sent"`` or ``"failed"``.
    status: str
    #: True when a later attempt may succeed (timeout, 429, 5xx, SMTP 4xx).
    is_transient: bool = False
    retry_after: float | None = None
    provider_message_id: str = ""
    backend: str = ""
    error: str = ""
    error_code: str = ""
    #: True when the failure lies with the provider (outage, credentials,
    #: account), so another backend may succeed where this one failed.
    is_provider_error: bool = False
    #: The exception behind a failure, if one was raised; ``error`` describes it.
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def is_sent(self) -> bool:
        """Return True if the transport accepted the message."""
        return self.status == "sent"


class Channel:
    """A way to reach people: email, sms, slack-webhook, inbox, ...

    Subclasses must set ``name`` and ``protocol`` and implement
    :meth:`render` and :meth:`send`; they may override
    :meth:`validate_address`. ``backends`` lists the dotted paths of the
    backends to fail over between, in order (``BACKENDS`` in
    ``DOVECOTE_CHANNELS``); ``OPTIONS`` become keyword arguments, checked
    against :attr:`option_names`.
    """

    #: The key in ``DOVECOTE_CHANNELS``, templates, preferences and the log.
    name: ClassVar[str] = ""
    #: The kind of address this channel needs (``Address.protocol``).
    protocol: ClassVar[str] = ""
    #: Template file names (under ``dovecote/<notification>/``) it renders.
    template_names: ClassVar[tuple[str, ...]] = ()
    #: Template names that may be absent.
    optional_template_names: ClassVar[tuple[str, ...]] = ()
    #: The ``OPTIONS`` keys this class reads, besides those its base classes
    #: declare; any other key is an error (a typo is never ignored).
    option_names: ClassVar[tuple[str, ...]] = (
        "max_attempts",
        "retry_base_delay",
        "retry_max_delay",
    )

    def __init__(
        self,
        name: str | None = None,
        backends: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        if name:
            self.name = name  # type: ignore[misc]
        unknown = sorted(set(options) - self.known_options())
        if unknown:
            raise TypeError(
                f"{type(self).__name__} (channel {self.name!r}) got unknown "
                f"option(s) {', '.join(map(repr, unknown))}; it accepts "
                f"{', '.join(sorted(self.known_options()))} (a channel class "
                "declares the keys it reads in option_names)."
            )
        self.backends: list[str] = list(backends or [])
        self.options = options

    @classmethod
    def known_options(cls) -> set[str]:
        """Return every ``OPTIONS`` key this class and its bases accept."""
        return {
            key for klass in cls.__mro__ for key in vars(klass).get("option_names", ())
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def validate_address(self, address: str) -> str:
        """Return ``address`` normalised, or raise ``InvalidAddress``.

        Subclasses may override this; the default strips whitespace.
        """
        return address.strip()

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``notification`` for one recipient. Subclasses must implement."""
        raise NotImplementedError("subclasses of Channel must implement render()")

    def render_template(
        self,
        notification: Any,
        template_name: str,
        context: dict[str, Any],
        *,
        optional: bool = False,
    ) -> str:
        """Render ``dovecote/<notification.name>/<template_name>``.

        Text (``.txt``) templates are not autoescaped. A missing template
        raises ``RenderError``, or gives "" if ``optional``.
        """
        from dovecote.notifications.rendering import TemplateCache

        cache = getattr(notification, "_dovecote_templates", None)
        if cache is None:
            cache = TemplateCache(notification.name)
            notification._dovecote_templates = cache
        rendered: str = cache.render(template_name, context, optional=optional)
        return rendered

    def default_backend(self) -> str:
        """Return the backend used when ``BACKENDS`` is empty.

        Subclasses may override this to read their transport's setting
        (``SMS_BACKEND``, ...).
        """
        return ""

    def backend_paths(self) -> list[str]:
        """Return the dotted paths of the backends to try, in order."""
        return list(self.backends) or [self.default_backend()]

    def transports(self) -> list[str]:
        """Return :meth:`backend_paths` (deprecated name)."""
        warnings.warn(
            "Channel.transports() is deprecated; use Channel.backend_paths().",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.backend_paths()

    def send(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Send a batch of claimed deliveries; return one Outcome each.

        Try each backend in turn: deliveries that failed with a transient
        or provider-side error go to the next one. Subclasses implement
        :meth:`send_batch`, or override this method entirely. It must not
        raise for a single delivery's failure: that failure is its Outcome.
        """
        backends = self.backend_paths()
        pending = list(deliveries)
        final: dict[int, Outcome] = {}
        for index, backend in enumerate(backends):
            is_last = index == len(backends) - 1
            try:
                outcomes = self.send_batch(pending, backend)
            except Exception as exc:  # the backend as a whole failed
                outcomes = [
                    Outcome(
                        delivery.pk,
                        "failed",
                        is_transient=True,
                        is_provider_error=True,
                        backend=backend,
                        error=f"{type(exc).__name__}: {exc}",
                        exception=exc,
                    )
                    for delivery in pending
                ]
            by_id = {outcome.delivery_id: outcome for outcome in outcomes}
            retry: list[Delivery] = []
            for delivery in pending:
                outcome = by_id.get(delivery.pk) or Outcome(
                    delivery.pk,
                    "failed",
                    is_transient=True,
                    backend=backend,
                    error=f"{type(self).__name__}.send_batch() returned no outcome",
                )
                outcome.backend = outcome.backend or backend
                final[delivery.pk] = outcome
                may_fail_over = outcome.is_transient or outcome.is_provider_error
                if not outcome.is_sent and may_fail_over and not is_last:
                    retry.append(delivery)
            pending = retry
            if not pending:
                break
        return [final[delivery.pk] for delivery in deliveries]

    def send_batch(self, deliveries: Sequence[Delivery], backend: str) -> list[Outcome]:
        """Send deliveries through one backend (a dotted path); return Outcomes.

        Subclasses must implement this unless they override :meth:`send`.
        Raising fails the whole batch on this backend (transiently).
        """
        raise NotImplementedError(
            "subclasses of Channel must implement send_batch() or send()"
        )
