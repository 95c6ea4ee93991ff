"""SMS backend that writes messages to a file per connection."""

from __future__ import annotations

from typing import ClassVar

from dovecote.devbackends import FileBackendMixin
from dovecote.sms.backends.console import SmsBackend as ConsoleSmsBackend


class SmsBackend(FileBackendMixin, ConsoleSmsBackend):
    """Write the console records to ``<SMS_FILE_PATH>/%Y%m%d-%H%M%S-<id>.log``.

    One file per connection, in UTF-8; ``file_path=`` overrides the setting.
    The directory is created if missing.
    """

    provider_name: ClassVar[str] = "file"
    file_path_setting: ClassVar[str] = "SMS_FILE_PATH"
