"""The base of the chat platform channels (Discord, Teams, Telegram).

Each sends through its platform's backend of ``dovecote.chat``; while
``CHAT_BACKEND`` is a backend that posts nothing (console, file, locmem,
dummy), every chat channel uses that instead, so development and tests
never reach a platform. ``BACKENDS`` in ``DOVECOTE_CHANNELS`` always wins.
"""

from __future__ import annotations

from typing import ClassVar

from dovecote import chat
from dovecote.channels.transport import TransportChannel, is_thread_safe
from dovecote.conf import setting

__all__ = ["ChatPlatformChannel"]


class ChatPlatformChannel(TransportChannel):
    """A channel on one chat platform's backend of ``dovecote.chat``.

    Subclasses set ``platform_backend`` (the platform backend's dotted path)
    and implement ``render()`` and ``build_message()``.
    """

    transport = chat
    backend_setting = "CHAT_BACKEND"
    timeout_setting = "CHAT_TIMEOUT"
    concurrency_setting = "CHAT_CONCURRENCY"
    #: The backend this channel sends through in production.
    platform_backend: ClassVar[str] = ""

    def default_backend(self) -> str:
        """Return ``CHAT_BACKEND`` if it posts nothing, else the platform's."""
        development = str(setting("CHAT_BACKEND"))
        if not is_thread_safe(development):
            # Not a pooled HTTP backend: a development sink (or your own).
            return development
        return self.platform_backend
