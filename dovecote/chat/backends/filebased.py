"""Chat backend that writes messages to a file per connection."""

from __future__ import annotations

import datetime
import os
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from dovecote.chat.backends.console import ChatBackend as ConsoleChatBackend
from dovecote.conf import required_setting


class ChatBackend(ConsoleChatBackend):
    """Write the console records to ``<CHAT_FILE_PATH>/%Y%m%d-%H%M%S-<id>.log``.

    One file per connection, in UTF-8; ``file_path=`` overrides the setting.
    """

    provider_name: ClassVar[str] = "file"

    def __init__(
        self, *args: Any, file_path: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> None:
        self._fname: str | None = None
        path = required_setting("CHAT_FILE_PATH", file_path)
        self.file_path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.file_path) and not os.path.isdir(self.file_path):
            raise ImproperlyConfigured(
                f"CHAT_FILE_PATH {self.file_path!r} exists but is not a directory."
            )
        try:
            os.makedirs(self.file_path, exist_ok=True)
        except OSError as exc:
            raise ImproperlyConfigured(
                f"Could not create the CHAT_FILE_PATH directory "
                f"{self.file_path!r}: {exc}"
            ) from exc
        super().__init__(*args, **kwargs)
        self.stream = None

    def get_filename(self) -> str:
        """Return this connection's file name (the same for its lifetime)."""
        if self._fname is None:
            timestamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            self._fname = os.path.join(
                self.file_path, f"{timestamp}-{abs(id(self))}.log"
            )
        return self._fname

    def open(self) -> bool:
        """Open the file for appending; return True if this call opened it."""
        if self.stream is None:
            self.stream = open(self.get_filename(), "ab")  # noqa: SIM115
            return True
        return False

    def close(self) -> None:
        """Close the file."""
        try:
            if self.stream is not None:
                self.stream.close()
        finally:
            self.stream = None

    def write_record(self, record: str) -> None:
        """Write one record, UTF-8 encoded."""
        assert self.stream is not None
        self.stream.write(record.encode())
