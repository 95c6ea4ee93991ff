"""Push backend that writes messages to a file per connection."""

from __future__ import annotations

from typing import ClassVar

from dovecote.devbackends import FileBackendMixin
from dovecote.push.backends.console import PushBackend as ConsolePushBackend


class PushBackend(FileBackendMixin, ConsolePushBackend):
    """Write the console records to ``<PUSH_FILE_PATH>/%Y%m%d-%H%M%S-<id>.log``.

    One file per connection, in UTF-8; ``file_path=`` overrides the setting.
    The directory is created if missing.
    """

    provider_name: ClassVar[str] = "file"
    file_path_setting: ClassVar[str] = "PUSH_FILE_PATH"
