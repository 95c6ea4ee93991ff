"""Check chat addresses (webhook URLs, Telegram chat ids); hide URL secrets."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from dovecote.conf import setting
from dovecote.exceptions import InvalidAddress
from dovecote.redaction import redact_text, redact_url

__all__ = [
    "HOST_SETTINGS",
    "LOOPBACK_HOSTS",
    "display_chat_address",
    "redact_webhook_url",
    "validate_chat_address",
    "validate_telegram_chat_id",
    "validate_webhook_url",
]

#: Hosts that are this machine; plain http is allowed to them only in tests.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: The settings listing the hosts each platform's webhook URLs may name.
HOST_SETTINGS = {
    "slack": "CHAT_ALLOWED_HOSTS",
    "discord": "CHAT_DISCORD_ALLOWED_HOSTS",
    "teams": "CHAT_TEAMS_ALLOWED_HOSTS",
}
#: A Telegram chat id: a (negative for groups) integer, or ``@channelname``.
TELEGRAM_CHAT_ID = re.compile(r"-?[1-9][0-9]{0,19}|@[A-Za-z][A-Za-z0-9_]{3,31}")


def _split(url: str) -> SplitResult | None:
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return parts


def redact_webhook_url(url: str) -> str:
    """Return ``url`` with its secret hidden, by :func:`dovecote.redaction.redact_url`.

    ``https://hooks.slack.com/services/T00/B00/XXXX`` becomes
    ``https://hooks.slack.com/services/…``. What cannot be parsed is
    redacted whole.
    """
    return redact_url(url)


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("."):
            if host == pattern[1:] or host.endswith(pattern):
                return True
        elif host == pattern:
            return True
    return False


def validate_webhook_url(url: str, *, platform: str = "slack") -> str:
    """Return ``url`` if dovecote may post to it, else raise ``InvalidAddress``.

    The URL must be https and its host must match the platform's allowed
    hosts (``HOST_SETTINGS``): ``CHAT_ALLOWED_HOSTS`` for Slack (default
    ``["hooks.slack.com"]``), ``CHAT_DISCORD_ALLOWED_HOSTS``,
    ``CHAT_TEAMS_ALLOWED_HOSTS``; ``platform="any"`` allows the hosts of
    every platform (the development backends). An entry ``".example.com"`` matches
    ``example.com`` and its subdomains, as in Django's ``ALLOWED_HOSTS``).
    A loopback host (``127.0.0.1``, ``localhost``, ``::1``) is allowed,
    over http or https, only when ``CHAT_ALLOW_INSECURE_LOOPBACK`` is True.
    The error says why, with the URL's secret redacted.
    """
    shown = redact_webhook_url(url) if isinstance(url, str) else repr(url)

    def invalid(reason: str) -> InvalidAddress:
        return InvalidAddress(f"Webhook URL {shown} is not allowed: {reason}.")

    parts = _split(url)
    if parts is None or not parts.hostname:
        raise invalid("it is not an absolute URL")
    if any(char.isspace() or ord(char) < 32 for char in url):
        raise invalid("it contains whitespace or control characters")
    if parts.username is not None or parts.password is not None:
        raise invalid("it must not contain credentials before the host")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower().rstrip(".")
    is_loopback = host in LOOPBACK_HOSTS
    allow_loopback = bool(setting("CHAT_ALLOW_INSECURE_LOOPBACK"))
    if scheme not in ("http", "https"):
        raise invalid(f"the scheme must be https, not {scheme!r}")
    if is_loopback:
        if not allow_loopback:
            raise invalid(
                f"{host} is a loopback host (allowed only when "
                "CHAT_ALLOW_INSECURE_LOOPBACK is True)"
            )
        return url
    if scheme != "https":
        raise invalid("the scheme must be https")
    names = (
        list(HOST_SETTINGS.values()) if platform == "any" else [HOST_SETTINGS[platform]]
    )
    allowed = [host for name in names for host in setting(name)]
    if not _host_allowed(host, allowed):
        raise invalid(f"the host {host} is not in {' or '.join(names)}")
    return url


def validate_telegram_chat_id(chat_id: str) -> str:
    """Return a Telegram chat id (an integer or ``@channel``), else raise.

    Raise ``InvalidAddress`` saying what a chat id looks like.
    """
    value = str(chat_id).strip() if isinstance(chat_id, str | int) else ""
    if not TELEGRAM_CHAT_ID.fullmatch(value):
        shown = redact_text(value)[:80]
        raise InvalidAddress(
            f"Telegram chat id {shown!r} is not valid: it must be an integer "
            "(negative for groups) or @channelname."
        )
    return value


def validate_chat_address(address: str) -> str:
    """Return ``address`` if some chat platform could be sent to it, else raise.

    A Telegram chat id, or a webhook URL on the hosts of any platform: what
    the development backends (console, file, locmem, dummy) accept, so that
    they refuse what every real backend would refuse.
    """
    if isinstance(address, str) and TELEGRAM_CHAT_ID.fullmatch(address.strip()):
        return address.strip()
    return validate_webhook_url(address, platform="any")


def display_chat_address(address: str) -> str:
    """Return a chat address as it may be shown: a URL redacted, a chat id as is."""
    if isinstance(address, str) and TELEGRAM_CHAT_ID.fullmatch(address.strip()):
        return address.strip()
    return redact_webhook_url(address)
