"""HttpPushBackend: the base of the push backends on dovecote's HTTP client."""

from __future__ import annotations

from typing import ClassVar

from dovecote.http import HttpBackend
from dovecote.push.backends.base import BasePushBackend
from dovecote.push.message import PushMessage

__all__ = ["HttpPushBackend"]


class HttpPushBackend(HttpBackend, BasePushBackend):
    """Base of the Web Push and FCM backends (HTTP/1.1, pooled).

    Reads its concurrency and timeout from ``PUSH_CONCURRENCY`` and
    ``PUSH_TIMEOUT``; checks targets and payload size before any request.
    Subclasses set ``platform`` and implement the hooks of
    :class:`~dovecote.http.HttpBackend`; in them, :meth:`target_of` gives the
    :class:`~dovecote.push.PushTarget` behind an address.
    """

    concurrency_setting: ClassVar[str] = "PUSH_CONCURRENCY"
    timeout_setting: ClassVar[str] = "PUSH_TIMEOUT"
    #: The one platform this backend sends to.
    platform: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "platform" in vars(cls):
            cls.platforms = frozenset({cls.platform})

    def prepare_message(self, message: PushMessage) -> list[str]:
        """Return the valid targets' addresses (see ``BasePushBackend``)."""
        return BasePushBackend.prepare_message(self, message)
