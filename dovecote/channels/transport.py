"""TransportChannel: the base for channels that send through a transport package.

A transport package is shaped like ``django.core.mail``: a message class,
``get_connection(backend, fail_silently=...)`` and backends whose
``send_messages()`` record per-recipient ``results`` on each message
(``dovecote.sms``, ``dovecote.chat``, ``dovecote.push``). A channel on one
is its message shape and nothing else::

    from dovecote.channels import Rendered
    from dovecote.channels.transport import TransportChannel
    from myproject import pager   # a transport package: get_connection()


    class PagerChannel(TransportChannel):
        name = "pager"
        protocol = "pager"
        template_names = ("pager.txt",)
        transport = pager
        backend_setting = "PAGER_BACKEND"          # the default backend's path
        timeout_setting = "PAGER_TIMEOUT"          # seconds for one request
        concurrency_setting = "PAGER_CONCURRENCY"  # requests in flight

        def render(self, notification, context):
            body = self.render_template(notification, "pager.txt", context)
            return Rendered(body=body.strip())

        def build_message(self, delivery, connection):
            return pager.Page(delivery.body, [delivery.address], connection=connection)

``SmsChannel`` (:mod:`dovecote.channels.sms`) and ``SlackWebhookChannel``
(:mod:`dovecote.channels.slack`) are built this way.

The base then provides:

- :meth:`~TransportChannel.default_backend`: the ``backend_setting``
  (used when the channel's ``BACKENDS`` is empty);
- :meth:`~TransportChannel.send_timeout`: ``OPTIONS["send_timeout"]``, else
  the ``timeout_setting``;
- :meth:`~TransportChannel.backend_concurrency`: the
  ``concurrency_setting`` when the primary backend is a pooled HTTP backend
  (one connection shared by the sending threads), else None;
- :meth:`~TransportChannel.send_batch`: one connection per backend (kept
  open across batches by a streaming worker), one message per delivery
  from :meth:`~TransportChannel.build_message`, one ``send_messages()``
  call for the batch (HTTP backends send concurrently), each message
  stamped with ``metadata["delivery_id"]`` and ``["idempotency_key"]``,
  and one :class:`~dovecote.channels.outcome.Outcome` per delivery read
  from the message's ``results`` through the failure table.

Failover between ``BACKENDS``, retiring addresses a provider says are gone,
and recording the outcomes are :class:`~dovecote.channels.base.Channel`'s
and the worker's; the transport's backends send its ``post_send`` signal.
Override :meth:`~TransportChannel.get_connection` to pass the transport
other keyword arguments, :meth:`~Channel.validate_address` to normalise
addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string

from dovecote.channels.base import Channel
from dovecote.channels.connections import backend_connection
from dovecote.channels.outcome import Outcome, outcome_from_results
from dovecote.conf import setting
from dovecote.http import HttpBackend

if TYPE_CHECKING:
    from dovecote.models import Delivery


class TransportChannel(Channel):
    """A channel that sends through a ``django.core.mail``-shaped transport.

    Subclasses must set ``transport`` (the package with
    ``get_connection()``), ``backend_setting``, ``timeout_setting`` and
    ``concurrency_setting``, and implement :meth:`render` and
    :meth:`build_message`. See the module docstring for an example.
    """

    #: The transport package: ``get_connection(backend, fail_silently=...)``.
    transport: ModuleType | None = None
    #: The setting naming the default backend (``"SMS_BACKEND"``).
    backend_setting: ClassVar[str] = ""
    #: The setting with the seconds one request may take (``"SMS_TIMEOUT"``).
    timeout_setting: ClassVar[str] = ""
    #: The setting with how many requests a pooled backend runs at once
    #: (``"SMS_CONCURRENCY"``).
    concurrency_setting: ClassVar[str] = ""

    def default_backend(self) -> str:
        """Return the backend that ``backend_setting`` names."""
        return str(setting(self.backend_setting))

    def send_timeout(self) -> float | None:
        """Return ``OPTIONS["send_timeout"]``, else the ``timeout_setting``."""
        value = super().send_timeout()
        return float(setting(self.timeout_setting)) if value is None else value

    def backend_concurrency(self) -> int | None:
        """Return the ``concurrency_setting`` for a pooled HTTP backend, else None."""
        path = self.backend_paths()[0] or self.default_backend()
        if not is_thread_safe(path):
            return None
        return int(setting(self.concurrency_setting))

    def get_connection(self, backend: str) -> Any:
        """Return a new connection to ``backend`` (a dotted path), not yet open.

        The default asks ``transport.get_connection(backend,
        fail_silently=True)``: failures come back as per-recipient results,
        not exceptions. Subclasses may override this.
        """
        if self.transport is None:
            raise NotImplementedError(
                f"{type(self).__name__} must set 'transport' (the package "
                "with get_connection()) or override get_connection()."
            )
        return self.transport.get_connection(backend, fail_silently=True)

    def build_message(self, delivery: Delivery, connection: Any) -> Any:
        """Return the transport message for one delivery, to its one address.

        Subclasses must implement this: ``delivery.body``, ``.subject``,
        ``.address`` and ``.data`` hold what :meth:`render` returned.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement build_message()"
        )

    def send_batch(self, deliveries: Sequence[Delivery], backend: str) -> list[Outcome]:
        """Send one message per delivery in one call; map each result."""
        path = backend or self.default_backend()
        with backend_connection(
            path,
            lambda: self.get_connection(path),
            shared=is_thread_safe(path),
        ) as connection:
            messages = [self.build_message(d, connection) for d in deliveries]
            for delivery, message in zip(deliveries, messages, strict=True):
                message.metadata["delivery_id"] = delivery.pk
                message.metadata["idempotency_key"] = delivery_idempotency_key(delivery)
            connection.send_messages(messages)
        return [
            outcome_from_results(delivery.pk, message.results, backend)
            for delivery, message in zip(deliveries, messages, strict=True)
        ]


def is_thread_safe(path: str) -> bool:
    """Return True if one connection of backend ``path`` may serve many threads.

    The pooled HTTP backends are (one session, a semaphore bounding the
    requests in flight); others get one connection per sending thread.
    """
    try:
        klass = import_string(path)
    except ImportError:
        return False
    return isinstance(klass, type) and issubclass(klass, HttpBackend)


def delivery_idempotency_key(delivery: Delivery) -> str:
    """Return a key that is the same on every attempt of ``delivery``.

    Derived from the row's id and creation time, signed with ``SECRET_KEY``
    so that two sites (staging, production) sharing a provider account
    never send the same key for different messages.
    """
    created = delivery.created_at.isoformat() if delivery.created_at else ""
    digest = salted_hmac(
        # An explicit algorithm: Django 6.1 deprecates the sha1 default.
        "dovecote.delivery.idempotency",
        f"{delivery.pk}:{created}",
        algorithm="sha256",
    ).hexdigest()[:32]
    return f"dovecote-{delivery.pk}-{digest}"
