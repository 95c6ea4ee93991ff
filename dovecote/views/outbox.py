"""Development outbox and previews, like Rails' mailer previews.

Shows what the locmem and file backends captured on every channel, and
renders each registered type on each channel with sample context. Open to
staff, or to anyone when ``DEBUG`` is on; ``DOVECOTE_DEV_OUTBOX = False``
turns it off everywhere (404).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
from email.message import EmailMessage as ParsedEmail
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import mail
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from dovecote.chat.validation import redact_webhook_url
from dovecote.conf import setting

#: The most files read from each file backend's directory, newest first.
MAX_FILES = 50
#: Header names whose values are never shown.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token"}
)
_URL_RE = re.compile(r"https?://[^\s<>\"']+")
_RECORD_END = "-" * 79 + "\n"


def is_outbox_enabled(request: HttpRequest) -> bool:
    """Return True if ``request`` may see the dev outbox and previews."""
    if setting("DOVECOTE_DEV_OUTBOX") is False:
        return False
    user = getattr(request, "user", None)
    return bool(settings.DEBUG or (user is not None and user.is_staff))


def outbox(request: HttpRequest) -> HttpResponse:
    """List every captured email, SMS and chat message, and the previews."""
    if not is_outbox_enabled(request):
        raise Http404
    return render(
        request,
        "dovecote/web/outbox.html",
        {
            "emails": captured_emails(),
            "sms_messages": captured_sms(),
            "chat_messages": captured_chat(),
            "previews": _preview_links(),
        },
    )


def preview(request: HttpRequest, notification: str, channel: str) -> HttpResponse:
    """Render one registered type on one channel with its sample context."""
    if not is_outbox_enabled(request):
        raise Http404
    from dovecote.channels import get_channels
    from dovecote.notifications.registry import get_notification

    try:
        cls = get_notification(notification)
        chan = get_channels()[channel]
    except (LookupError, KeyError):
        raise Http404(_("No such notification type or channel.")) from None
    if channel not in cls.all_channels():
        raise Http404(_("This type is not sent on that channel."))
    instance = cls()
    context = sample_context(cls, channel)
    context = instance.get_context(context["recipient"], context)
    error = ""
    try:
        rendered = chan.render(instance, context)
    except Exception as exc:  # A preview shows any template error, not a 500.
        rendered, error = None, f"{type(exc).__name__}: {exc}"
    item: dict[str, Any] = {}
    if rendered is not None:
        item = {
            "subject": rendered.subject,
            "body": rendered.body,
            "html": rendered.html,
            "headers": _redact_headers((rendered.data or {}).get("headers") or {}),
            "blocks": _json((rendered.data or {}).get("blocks")),
            "sms": _encoding(rendered.body) if chan.protocol == "sms" else None,
        }
    return render(
        request,
        "dovecote/web/preview.html",
        {"notification": cls, "channel": channel, "item": item, "error": error},
    )


def sample_context(cls: Any, channel: str) -> dict[str, Any]:
    """Return the context a preview renders with.

    A type may define ``preview_context()`` (a classmethod or method
    returning a dict); otherwise a placeholder recipient stands in.
    """
    from dovecote.notifications.recipients import Recipient
    from dovecote.notifications.rendering import current_site
    from dovecote.tokens import preferences_url

    placeholder = Recipient(
        email="recipient@example.com", phone="+15005550006", name="Ada Example"
    )
    context: dict[str, Any] = {
        "recipient": placeholder,
        "user": None,
        "site": current_site(),
        "notification": cls(),
        "channel": channel,
        "preferences_url": preferences_url(),
        "unsubscribe_url": "" if cls.required else "#unsubscribe-preview",
    }
    # Bound on an instance, a method, classmethod or staticmethod all work.
    hook = getattr(cls(), "preview_context", None)
    if callable(hook):
        context.update(hook() or {})
    return context


def captured_emails() -> list[dict[str, Any]]:
    """Return the emails in ``mail.outbox`` and under ``EMAIL_FILE_PATH``."""
    items = []
    for message in reversed(getattr(mail, "outbox", []) or []):
        parsed = email.message_from_bytes(
            message.message().as_bytes(), policy=email.policy.default
        )
        items.append(_email_item(parsed, "locmem"))
    path = getattr(settings, "EMAIL_FILE_PATH", None)
    for file in _recent_files(path, (".log", ".eml")):
        raw = file.read_bytes()
        # The file backend writes messages separated by a line of 79 "-".
        for chunk in raw.split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                parsed = email.message_from_bytes(
                    chunk.strip(b"\n"), policy=email.policy.default
                )
                items.append(_email_item(parsed, file.name))
    return items


def captured_sms() -> list[dict[str, Any]]:
    """Return the SMS in ``dovecote.sms.outbox`` and under ``SMS_FILE_PATH``."""
    import dovecote.sms as sms
    from dovecote.sms.utils import messages_from_bytes

    items = [
        {
            "source": "locmem",
            "originator": m.originator,
            "recipients": list(m.recipients),
            "body": m.body,
            "encoding": _encoding(m.body),
        }
        for m in reversed(getattr(sms, "outbox", []) or [])
    ]
    for file in _recent_files(setting("SMS_FILE_PATH"), (".log",)):
        try:
            records = messages_from_bytes(file.read_bytes())
        except ValueError:
            continue
        for m in records:
            items.append(
                {
                    "source": file.name,
                    "originator": m.originator,
                    "recipients": list(m.recipients),
                    "body": m.body,
                    "encoding": _encoding(m.body),
                }
            )
    return items


def captured_chat() -> list[dict[str, Any]]:
    """Return the chat messages in ``dovecote.chat.outbox`` and ``CHAT_FILE_PATH``.

    Webhook URLs are secrets: they are shown redacted.
    """
    import dovecote.chat as chat

    items = [
        {
            "source": "locmem",
            "recipients": [redact_webhook_url(r) for r in m.recipients],
            "text": m.text,
            "blocks": _json(m.blocks),
        }
        for m in reversed(getattr(chat, "outbox", []) or [])
    ]
    for file in _recent_files(setting("CHAT_FILE_PATH"), (".log",)):
        text = file.read_text("utf-8", errors="replace")
        for record in text.split(_RECORD_END):
            if record.strip():
                head, _sep, rest = record.partition("\n")
                items.append(
                    {
                        "source": file.name,
                        "recipients": [_redact_text(head.removeprefix("to: "))],
                        "text": _redact_text(rest.rstrip("\n")),
                        "blocks": "",
                    }
                )
    return items


def _preview_links() -> list[dict[str, Any]]:
    from dovecote.channels import get_channels
    from dovecote.notifications.registry import registered_notifications

    configured = get_channels()
    return [
        {
            "notification": cls,
            "channels": [c for c in cls.all_channels() if c in configured],
        }
        for cls in registered_notifications()
    ]


def _email_item(parsed: Any, source: str) -> dict[str, Any]:
    text = html = ""
    if isinstance(parsed, ParsedEmail):
        text_part = parsed.get_body(preferencelist=("plain",))
        html_part = parsed.get_body(preferencelist=("html",))
        text = text_part.get_content() if text_part is not None else ""
        html = html_part.get_content() if html_part is not None else ""
    headers = [(k, str(v)) for k, v in parsed.items()]
    return {
        "source": source,
        "subject": str(parsed.get("Subject", "")),
        "from": str(parsed.get("From", "")),
        "to": str(parsed.get("To", "")),
        "headers": _redact_headers(headers),
        "text": text,
        "html": html,
    }


def _redact_headers(headers: Any) -> list[tuple[str, str]]:
    pairs = headers.items() if isinstance(headers, dict) else headers
    shown = []
    for name, value in pairs:
        if str(name).lower() in SECRET_HEADERS:
            value = "****"
        shown.append((str(name), str(value)))
    return shown


def _redact_text(text: str) -> str:
    # Chat webhook URLs embed their secret in the path.
    return _URL_RE.sub(lambda m: redact_webhook_url(m.group(0)), text)


def _recent_files(path: Any, suffixes: tuple[str, ...]) -> list[Path]:
    if not path or not os.path.isdir(path):
        return []
    files = [p for p in Path(path).iterdir() if p.suffix in suffixes and p.is_file()]
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return files[:MAX_FILES]


def _encoding(body: str) -> dict[str, Any]:
    from dovecote.sms.phonenumbers import encoding_info

    info = encoding_info(body)
    return {"encoding": info.encoding, "segments": info.segments, "units": info.units}


def _json(value: Any) -> str:
    if not value:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
