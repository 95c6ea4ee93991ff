"""The one rule for showing URLs that may carry secrets.

A chat webhook URL is a bearer secret (anyone holding it may post), and
other URLs may carry credentials in their user part, path or query. Every
output dovecote writes (``Delivery.last_error``, ``DeliveryEvent.detail``,
log lines, exception texts, the admin, management commands, the dev
outbox) shows such a URL only as its scheme, host, port and first path
segment, followed by ``…`` when anything was left out::

    >>> redact_url("https://hooks.slack.com/services/T00/B00/XXXX")
    'https://hooks.slack.com/services/…'

:func:`redact_text` applies the rule to every URL inside a text, such as
an exception message, except to links to a provider's public documentation
(:data:`PUBLIC_URL_PREFIXES`, such as Twilio's ``more_info``), which carry
no secret and are the most useful part of an error. Nothing can tell a
secret path from a public one by its shape, so this is a list of known
prefixes: a provider whose errors link to its documentation adds its prefix
here.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = [
    "ELLIPSIS",
    "PUBLIC_URL_PREFIXES",
    "is_https_url",
    "is_public_url",
    "redact_text",
    "redact_url",
]

#: What stands for the part of a URL that is not shown.
ELLIPSIS = "…"
#: The longest first path segment shown ("services", "api", "workflows").
MAX_SHOWN_SEGMENT = 24
#: Documentation pages that providers link to from their error answers;
#: :func:`redact_text` shows an https URL under one of these whole (when it
#: has no credentials and no query).
PUBLIC_URL_PREFIXES = (
    #: Twilio's ``more_info`` (https://www.twilio.com/docs/usage/twilios-response).
    "https://www.twilio.com/docs/",
    #: Vonage's error ``type`` links.
    "https://developer.vonage.com/",
    "https://developer.nexmo.com/",
    #: MessageBird's documentation.
    "https://developers.messagebird.com/",
)
#: Absolute URLs of any scheme with an authority (``scheme://...``).
_URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>\"'`]+")


def redact_url(url: str) -> str:
    """Return ``url`` as scheme, host, port and first path segment, then ``…``.

    The first segment is shown only when more of the path follows (a lone
    segment may be the secret), and only when it is short and has no colon
    (``bot<id>:<token>`` in a Telegram Bot API URL is hidden); credentials
    before the host are dropped; what cannot be parsed as an absolute URL
    is shown as ``…`` alone.
    """
    if not isinstance(url, str):
        return ELLIPSIS
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ELLIPSIS
    host = parts.hostname
    if not parts.scheme or not host:
        return ELLIPSIS
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    segments = parts.path.split("/")[1:]
    if len(segments) > 1 and _is_shown_segment(segments[0]):
        # The first segment names the kind of URL ("services"); a lone one
        # may be the secret itself, so it is shown only when more follows.
        shown += f"/{segments[0]}/{ELLIPSIS}"
    elif parts.path.strip("/") or parts.query or parts.fragment or "@" in parts.netloc:
        shown += f"/{ELLIPSIS}"
    return shown


def _is_shown_segment(segment: str) -> bool:
    # A segment with a colon or a long one may be a credential (Telegram's
    # "bot<id>:<token>"): only a short name of a kind of URL is shown.
    return bool(segment) and len(segment) <= MAX_SHOWN_SEGMENT and ":" not in segment


def is_https_url(url: str) -> bool:
    """Return True if ``url`` is an absolute https URL with a host.

    The one test of a URL put in front of other programs (an email's
    ``List-Unsubscribe``, ``DOVECOTE_BASE_URL``).
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname)


def is_public_url(url: str) -> bool:
    """Return True if ``url`` is a documentation link that carries no secret."""
    if not url.startswith(PUBLIC_URL_PREFIXES):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return not (parts.query or "@" in parts.netloc)


def redact_text(text: str) -> str:
    """Return ``text`` with every URL in it redacted by :func:`redact_url`.

    Links to providers' documentation (:data:`PUBLIC_URL_PREFIXES`) are kept
    whole.
    """
    return _URL_RE.sub(_redact_match, str(text))


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    return url if is_public_url(url) else redact_url(url)
