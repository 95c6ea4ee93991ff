"""The channel interface: a Delivery becomes a transport message and is sent."""

from __future__ import annotations

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

    @property
    def is_sent(self) -> bool:
        """Return True if the transport accepted the message."""
        return self.status == "sent"


class Channel:
    """A way to reach people: email, sms, slack-webhook, inbox, ...

    Subclasses must set ``name`` and ``protocol`` and implement
    :meth:`render` and :meth:`send`; they may override
    :meth:`validate_address`. ``backends`` lists transport backend paths
    to fail over between, in order.
    """

    #: The key in ``DOVECOTE_CHANNELS``, templates, preferences and the log.
    name: ClassVar[str] = ""
    #: The kind of address this channel needs (``Address.protocol``).
    protocol: ClassVar[str] = ""
    #: Template file names (under ``dovecote/<notification>/``) it renders.
    template_names: ClassVar[tuple[str, ...]] = ()
    #: Template names that may be absent.
    optional_template_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        name: str | None = None,
        backends: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        if name:
            self.name = name  # type: ignore[misc]
        self.backends: list[str] = list(backends or [])
        self.options = options

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def validate_address(self, address: str) -> str:
        """Return ``address`` normalised, or raise ``InvalidAddress``."""
        return address

    def render(self, notification: Any, context: dict[str, Any]) -> Rendered:
        """Render ``notification`` for one recipient. Subclasses must implement."""
        raise NotImplementedError("subclasses of Channel must implement render()")

    def send(self, deliveries: Sequence[Delivery]) -> list[Outcome]:
        """Send a batch of claimed deliveries; return one Outcome each.

        Subclasses must implement this. It must not raise for a single
        delivery's failure: that failure is its Outcome.
        """
        raise NotImplementedError("subclasses of Channel must implement send()")
