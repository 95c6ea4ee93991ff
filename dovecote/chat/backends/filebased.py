"""Chat backend that writes messages to a file per connection."""

from __future__ import annotations

from typing import ClassVar

from dovecote.chat.backends.console import ChatBackend as ConsoleChatBackend
from dovecote.devbackends import FileBackendMixin


class ChatBackend(FileBackendMixin, ConsoleChatBackend):
    """Write the console records to ``<CHAT_FILE_PATH>/%Y%m%d-%H%M%S-<id>.log``.

    One file per connection, in UTF-8; ``file_path=`` overrides the setting.
    The directory is created if missing.
    """

    provider_name: ClassVar[str] = "file"
    file_path_setting: ClassVar[str] = "CHAT_FILE_PATH"
