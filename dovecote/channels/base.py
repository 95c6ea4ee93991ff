"""The channel interface: a Delivery becomes a transport message and is sent.

Vocabulary: a *backend* is the class that talks to a provider (or a
development sink), named by ``EMAIL_BACKEND``, ``SMS_BACKEND``,
``CHAT_BACKEND`` or a channel's ``BACKENDS``; a *transport* is the
``django.core.mail``-shaped API its backends plug into (``django.core.mail``,
``dovecote.sms``, ``dovecote.chat``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils import timezone

from dovecote.channels import breaker
from dovecote.channels.outcome import Outcome, Rendered
from dovecote.channels.routing import default_route
from dovecote.failures import FailureKind
from dovecote.models import Address, DeliveryEvent, Suppression
from dovecote.rendering import TemplateCache

if TYPE_CHECKING:
    from dovecote.models import Delivery

logger = logging.getLogger("dovecote.delivery")

#: The DeliveryEvent status of an attempt that failed on one backend and
#: went on to the next.
FAILED_OVER = "failed_over"


class Channel:
    """A way to reach people: email, sms, slack-webhook, inbox, ...

    Subclasses must set ``name`` and ``protocol`` and implement
    :meth:`render` and :meth:`send`; they may override
    :meth:`validate_address` and :meth:`route`. ``backends`` lists the
    dotted paths of the backends to fail over between, in order
    (``BACKENDS`` in ``DOVECOTE_CHANNELS``); ``OPTIONS`` become keyword
    arguments, checked against :attr:`option_names`. ``display_name`` and
    ``description`` are what people see (preference centre, admin,
    commands); a ``DOVECOTE_CHANNELS`` entry may set them in its ``OPTIONS``
    (``{"display_name": "Pager", "description": ...}``).
    """

    #: The key in ``DOVECOTE_CHANNELS``, templates, preferences and the log.
    name: ClassVar[str] = ""
    #: The kind of address this channel needs (``Address.protocol``).
    protocol: ClassVar[str] = ""
    #: The channel's name for people ("Text message (SMS)"); default: from name.
    display_name: Any = ""
    #: One sentence for people: how this channel reaches them.
    description: Any = ""
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
        "send_timeout",
        "parallel_sends",
    )
    #: How many ``send()`` calls a worker may run at once on this channel
    #: (None: as many as its window holds); ``OPTIONS["parallel_sends"]``.
    parallel_sends: ClassVar[int | None] = None
    #: True when each of a user's addresses gets its own Delivery (push: one
    #: per device), so that retries, outcomes and retirement are per address;
    #: False when the best address is the one used.
    sends_to_every_address: ClassVar[bool] = False

    def __init__(
        self,
        name: str | None = None,
        backends: Sequence[str] | None = None,
        *,
        display_name: Any = None,
        description: Any = None,
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
        if display_name:
            self.display_name = display_name
        elif not self.display_name:
            self.display_name = self.name.replace("-", " ").replace("_", " ").title()
        if description:
            self.description = description

    @classmethod
    def known_options(cls) -> set[str]:
        """Return every ``OPTIONS`` key this class and its bases accept."""
        return {
            key for klass in cls.__mro__ for key in vars(klass).get("option_names", ())
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def __str__(self) -> str:
        return str(self.display_name)

    def route(self, user: Any) -> str:
        """Return ``user``'s address for this channel when no ``Address`` row has one.

        Like Laravel's ``routeNotificationFor``: stored ``Address`` rows for
        the channel's protocol come first, this is the fallback. The default
        asks ``DOVECOTE_ADDRESS_LOOKUPS[<protocol>]`` (a dotted path to a
        callable taking the user, or a user attribute name), then the
        built-ins: the user's email field for ``email``,
        ``DOVECOTE_PHONE_LOOKUP`` for ``sms``, the user itself for
        ``inbox``. Return "" when the user has no address. Override it on a
        custom channel (``return user.pager_number``).
        """
        return default_route(user, self.protocol)

    def user_addresses(self, users: Sequence[Any]) -> dict[Any, list[str]] | None:
        """Return the addresses of ``users`` by user pk, best first, or None.

        For channels whose addresses live in their own table (push devices):
        called once per planned chunk, it replaces the ``Address`` rows and
        :meth:`route`. The default, None, uses those.
        """
        return None

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
        rendered: str = self.template_cache(notification).render(
            template_name, context, optional=optional
        )
        return rendered

    def template_cache(self, notification: Any) -> TemplateCache:
        """Return the templates of ``notification``, looked up once per instance.

        The cache is kept on the notification, so every channel rendering it
        for the many recipients of one send shares it.
        """
        cache = getattr(notification, "_dovecote_templates", None)
        if cache is None:
            cache = TemplateCache(notification.name)
            notification._dovecote_templates = cache
        return cache

    def send_timeout(self) -> float | None:
        """Return the most seconds one delivery may take on one backend.

        The worker checks the lease against it: a delivery may be tried on
        every backend in turn, so a claim needs at least the sum. None
        means unbounded. Subclasses should override this; ``OPTIONS =
        {"send_timeout": s}`` sets it for any channel.
        """
        value = self.options.get("send_timeout")
        return None if value is None else float(value)

    def backend_concurrency(self) -> int | None:
        """Return how many requests the primary backend runs at once, if bounded.

        A worker sends no more deliveries at once than this, so that none
        waits inside the backend, claimed and half-sent. Channels on pooled
        HTTP backends override this (see ``TransportChannel``).
        """
        return None

    def default_backend(self) -> str:
        """Return the backend used when ``BACKENDS`` is empty.

        Subclasses may override this to read their transport's setting
        (``SMS_BACKEND``, ...).
        """
        return ""

    def backend_paths(self) -> list[str]:
        """Return the dotted paths of the backends to try, in order."""
        return list(self.backends) or [self.default_backend()]

    def send(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Send a batch of claimed deliveries; return one Outcome each.

        Try each backend in turn: deliveries that failed with a transient
        or provider-side error go to the next one, and the failed attempt is
        recorded as a ``failed_over`` DeliveryEvent with its reason. An
        address the provider says is gone for good is deactivated (any
        provider). Subclasses implement :meth:`send_batch`, or override this
        method entirely. It must not raise for a single delivery's failure:
        that failure is its Outcome.
        """
        backends = self.backend_paths()
        pending = list(deliveries)
        final: dict[int, Outcome] = {}
        failovers: list[DeliveryEvent] = []
        for index, backend in enumerate(backends):
            is_last = index == len(backends) - 1
            # An open circuit breaker: none (or one probe) goes this way.
            state = breaker.gate(backend)
            held: list[Delivery] = []
            if state is not None and (state.is_open or state.is_probe):
                cut = 1 if state.is_probe else 0
                pending, held = pending[:cut], pending[cut:]
            try:
                outcomes = self.send_batch(pending, backend) if pending else []
            except Exception as exc:  # the backend as a whole failed
                outcomes = [
                    Outcome.failure(
                        delivery.pk,
                        FailureKind.TRANSIENT,
                        f"{type(exc).__name__}: {exc}",
                        backend=backend,
                        exception=exc,
                    )
                    for delivery in pending
                ]
            if state is not None:
                breaker.record(state, outcomes)
                outcomes = [*outcomes, *(state.skipped(d.pk) for d in held)]
                pending = [*pending, *held]
            by_id = {outcome.delivery_id: outcome for outcome in outcomes}
            retry: list[Delivery] = []
            for delivery in pending:
                outcome = by_id.get(delivery.pk) or Outcome.failure(
                    delivery.pk,
                    FailureKind.TRANSIENT,
                    f"{type(self).__name__}.send_batch() returned no outcome",
                    backend=backend,
                )
                outcome.backend = outcome.backend or backend
                final[delivery.pk] = outcome
                if (
                    not outcome.is_sent
                    and outcome.may_fail_over
                    and not outcome.is_address_gone
                    and not outcome.is_address_suppressed
                    and not is_last
                ):
                    retry.append(delivery)
                    failovers.append(
                        _failover_event(delivery, outcome, backends[index + 1])
                    )
            pending = retry
            if not pending:
                break
        if failovers:
            DeliveryEvent.objects.bulk_create(failovers)
        self.retire_gone_addresses(deliveries, final)
        return [final[delivery.pk] for delivery in deliveries]

    def retire_gone_addresses(
        self, deliveries: Sequence[Delivery], outcomes: dict[int, Outcome]
    ) -> None:
        """Deactivate and suppress the addresses a provider said are gone.

        Subclasses may override this (to keep addresses they manage
        elsewhere); the reason names the backend and its error, never
        the address.
        """
        for delivery in deliveries:
            outcome = outcomes.get(delivery.pk)
            if outcome is None or outcome.is_sent or not delivery.address:
                continue
            if not (outcome.is_address_gone or outcome.is_address_suppressed):
                continue
            reason = outcome.error or "address refused"
            if outcome.error_code:
                reason = f"[{outcome.error_code}] {reason}"
            reason = f"{_short(outcome.backend)}: {reason} [delivery #{delivery.pk}]"
            protocol = delivery.protocol or self.protocol
            if outcome.is_address_gone:
                Address.objects.deactivate(protocol, delivery.address, reason=reason)
            else:
                Suppression.objects.suppress(protocol, delivery.address, reason=reason)

    def send_batch(self, deliveries: Sequence[Delivery], backend: str) -> list[Outcome]:
        """Send deliveries through one backend (a dotted path); return Outcomes.

        Subclasses must implement this unless they override :meth:`send`.
        Raising fails the whole batch on this backend (transiently).
        """
        raise NotImplementedError(
            "subclasses of Channel must implement send_batch() or send()"
        )


def _short(backend: str) -> str:
    # "dovecote.sms.backends.twilio.SmsBackend" -> "twilio"
    parts = backend.split(".")
    return parts[-2] if len(parts) >= 2 else backend or "backend"


def _failover_event(
    delivery: Delivery, outcome: Outcome, next_backend: str
) -> DeliveryEvent:
    reason = outcome.error or "failed"
    if outcome.error_code:
        reason = f"[{outcome.error_code}] {reason}"
    logger.warning(
        "Delivery %s failed on %s, trying %s: %s",
        delivery.pk,
        outcome.backend,
        next_backend,
        reason,
    )
    return DeliveryEvent(
        delivery=delivery,
        status=FAILED_OVER,
        source="worker",
        detail=f"failed on {outcome.backend} ({reason}); trying {next_backend}",
        created_at=timezone.now(),
    )
