"""What every transport backend shares: django.core.mail's connection shape."""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar, Self


class BaseTransportBackend:
    """A connection to one provider, usable as a context manager.

    Subclasses may override :meth:`open` and :meth:`close` to hold a
    connection (an HTTP pool, a file) across several ``send_messages`` calls.
    """

    provider_name: ClassVar[str] = "base"

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        self.fail_silently = fail_silently

    def open(self) -> bool:
        """Open a connection; return True only if this call opened it."""
        return False

    def close(self) -> None:
        """Close what :meth:`open` opened."""

    def __enter__(self) -> Self:
        try:
            self.open()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
