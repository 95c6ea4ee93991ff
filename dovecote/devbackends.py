"""What the console and file backends of every transport share."""

from __future__ import annotations

import datetime
import os
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from dovecote.conf import required_setting

#: The line that ends every console/file record.
SEPARATOR = "-" * 79


class StreamBackendMixin:
    """Write one record per recipient to ``stream`` (``sys.stdout``).

    Mixed into a transport backend; subclasses must implement
    :meth:`write_message`, which validates recipients, writes their records
    with :meth:`write_record` and appends their results.
    """

    fail_silently: bool

    def __init__(self, *args: Any, stream: IO[Any] | None = None, **kwargs: Any):
        self.stream: IO[Any] | None = stream if stream is not None else sys.stdout
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def open(self) -> bool:
        """Open nothing: the stream is given."""
        return False

    def close(self) -> None:
        """Leave the given stream open."""

    def write_record(self, record: str) -> None:
        """Write one record to the stream.

        Subclasses may override this (the file backend writes bytes).
        """
        assert self.stream is not None
        self.stream.write(record)

    def write_message(self, message: Any) -> None:
        """Write one message's records. Subclasses must implement this."""
        raise NotImplementedError

    def send_messages(self, messages: Sequence[Any]) -> int:
        """Write every message to the stream; return the count written."""
        if not messages:
            return 0
        with self._lock:
            stream_created = self.open()
            try:
                for message in messages:
                    self.write_message(message)
                    assert self.stream is not None
                    self.stream.flush()
            except Exception:
                if not self.fail_silently:
                    raise
            finally:
                if stream_created:
                    self.close()
        return self.finish(messages)  # type: ignore[attr-defined,no-any-return]


class FileBackendMixin(StreamBackendMixin):
    """Write the console records to ``<directory>/%Y%m%d-%H%M%S-<id>.log``.

    One file per connection, in UTF-8; ``file_path=`` overrides the setting
    named by ``file_path_setting``. The directory is created if missing.
    """

    #: The setting naming the directory.
    file_path_setting: ClassVar[str]

    def __init__(
        self, *args: Any, file_path: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> None:
        self._fname: str | None = None
        name = self.file_path_setting
        path = required_setting(name, file_path)
        self.file_path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.file_path) and not os.path.isdir(self.file_path):
            raise ImproperlyConfigured(
                f"{name} {self.file_path!r} exists but is not a directory."
            )
        try:
            os.makedirs(self.file_path, exist_ok=True)
        except OSError as exc:
            raise ImproperlyConfigured(
                f"Could not create the {name} directory {self.file_path!r}: {exc}"
            ) from exc
        if not os.access(self.file_path, os.W_OK):
            raise ImproperlyConfigured(
                f"Could not write to the {name} directory {self.file_path!r}."
            )
        super().__init__(*args, **kwargs)
        # The stream is the file, opened on demand.
        self.stream = None

    def get_filename(self) -> str:
        """Return this connection's file name (the same for its lifetime)."""
        if self._fname is None:
            timestamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            fname = f"{timestamp}-{abs(id(self))}.log"
            self._fname = os.path.join(self.file_path, fname)
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
