"""Check chat webhook URLs against the allowed hosts, and hide their secrets."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from dovecote.conf import setting
from dovecote.exceptions import InvalidAddress
from dovecote.redaction import redact_url

__all__ = ["LOOPBACK_HOSTS", "redact_webhook_url", "validate_webhook_url"]

#: Hosts that are this machine; plain http is allowed to them only in tests.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


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


def validate_webhook_url(url: str) -> str:
    """Return ``url`` if dovecote may post to it, else raise ``InvalidAddress``.

    The URL must be https and its host must match ``CHAT_ALLOWED_HOSTS``
    (default ``["hooks.slack.com"]``; an entry ``".example.com"`` matches
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
    if not _host_allowed(host, list(setting("CHAT_ALLOWED_HOSTS"))):
        raise invalid(f"the host {host} is not in CHAT_ALLOWED_HOSTS")
    return url
